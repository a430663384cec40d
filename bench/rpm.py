#!/usr/bin/env python3
"""The exporter's own overhead on the hermetic dnf and zypper scenarios.

bench/rpm.py [--extra N] [--runs R]

Builds the RPM tree of exporter/tests/rpm/make_tree.py with N extra packages
(default 1000: 1009 pending updates, 201 of them security), fills the
metadata cache once, then runs `pakiti-exporter collect` (release build) R times
per manager from the cache. Each child process the collector starts logs its
own wall time (debug log, `elapsed_us`); the overhead is the exporter's wall
time (process start to exit, as the user sees it) minus the package-manager
calls. Target: overhead under 5% of a collection.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTER = os.path.join(ROOT, "target/release/pakiti-exporter")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tree", help="keep the tree in this directory and reuse it on the next run")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pakiti-exporter"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = a.tree or tmp
        if not os.path.exists(os.path.join(d, "expected.json")):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(ROOT, "exporter/tests/rpm/make_tree.py"), d, "--extra", str(a.extra)], check=True)
            print(f"tree with {a.extra} extra packages built in {time.perf_counter() - t0:.1f} s")
        expected = json.load(open(os.path.join(d, "expected.json")))
        for manager in ("dnf", "zypper"):
            config = os.path.join(d, f"{manager}.toml")
            base = [EXPORTER, "--config.file", config, "--path.rootfs", os.path.join(d, "root"), "--collector.manager", manager]
            with open(config, "w") as f:
                f.write(f'[collector]\nrefresh_metadata = true\ncache_dir = "{d}/cache"\n')
            subprocess.run(base + ["collect"], check=True, stdout=subprocess.DEVNULL)
            with open(config, "w") as f:
                f.write(f'[collector]\nrefresh_metadata = false\ncache_dir = "{d}/cache"\n')
            walls, childs, overheads = [], [], []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                r = subprocess.run(base + ["--log.level", "debug", "--log.format", "json", "collect", "--format", "json"], capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if r.returncode != 0:
                    sys.exit(f"{manager}: collection failed: {r.stderr[-2000:]}")
                report = json.loads(r.stdout)
                if len(report["updates"]) != len(expected["updates"]):
                    sys.exit(f"{manager}: {len(report['updates'])} updates, expected {len(expected['updates'])}")
                child = 0.0
                for line in r.stderr.splitlines():
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("fields", {}).get("message") == "ran":
                        child += ev["fields"]["elapsed_us"] / 1e6
                walls.append(wall)
                childs.append(child)
                overheads.append((wall - child) / wall * 100)
            sec = sum(1 for u in report["updates"] if u["security"])
            print(
                f"{manager}: {len(report['updates'])} pending ({sec} security); collection median {statistics.median(walls) * 1000:.0f} ms, "
                f"package-manager calls {statistics.median(childs) * 1000:.0f} ms, "
                f"exporter overhead median {statistics.median(overheads):.2f}% (max {max(overheads):.2f}%; target < 5%)"
            )


if __name__ == "__main__":
    main()
