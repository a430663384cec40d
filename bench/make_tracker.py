#!/usr/bin/python3
"""Writes a Debian security tracker JSON of real size for the vulnerability benchmark
(bench/vulns.sh), in the tracker's own shape (source package → issue id → description and
per release status, repositories, fixed_version, urgency, nodsa_reason). The source
packages the benchmark fleet (bench/src/fleet.rs) installs get issues that straddle their
versions, so that some hosts are exposed, some fixes are installable and some are not; many
more source packages no host has fill it to the real feed's size (about 400,000 records,
50 MB). About one finding per installed binary package, as on a maintained host."""
import json, random, sys

out = sys.argv[1]
filler = int(sys.argv[2]) if len(sys.argv) > 2 else 6000
rng = random.Random(42)
releases = ["bookworm", "bullseye", "trixie", "sid"]
urgencies = ["high", "medium", "low", "unimportant", "not yet assigned", "low**", "medium**"]
cve = iter(range(10000, 10**7))


def issue(fixed_for_bookworm):
    rel = {}
    for r in releases:
        if r == "bookworm":
            status = fixed_for_bookworm
        else:
            status = rng.choice([("resolved", "0"), ("resolved", "9.9-1"), ("open", None), ("undetermined", None)])
        s, v = status
        e = {"status": s, "repositories": {r: "1.0-1"}, "urgency": rng.choice(urgencies)}
        if v is not None:
            e["fixed_version"] = v
        if s == "open" and rng.random() < 0.3:
            e["nodsa"] = "Minor issue"
            e["nodsa_reason"] = rng.choice(["ignored", "postponed"])
        rel[r] = e
    return {"description": f"benchmark issue {rng.randrange(10**6)}", "scope": "local", "releases": rel}


def bookworm_status(fixes):
    # As on a maintained host: most issues of a package were fixed in versions
    # older than the installed one; a few straddle it, a few are open.
    x = rng.random()
    if x < 0.80:
        return ("resolved", "0.1-1")
    if x < 0.83:
        return ("resolved", rng.choice(fixes))
    if x < 0.85:
        return ("open", None)
    if x < 0.86:
        return ("undetermined", None)
    return ("resolved", "0")


with open(out, "w") as f:
    f.write("{")
    first = True

    def package(name, issues):
        global first
        f.write(("" if first else ",") + json.dumps(name) + ":" + json.dumps(issues, separators=(",", ":")))
        first = False

    # The fleet's shared packages: binaries installed-{j}-… at 2.{j}.{variant}-{1 + j % 3},
    # three per source-{j // 3}; most hosts at variant 0, some at 1..3.
    for s in range(334):
        js = [3 * s + k for k in range(3)]
        fixes = [f"2.{j}.{v}-{1 + j % 3}" for j in js for v in (1, 2, 5)] + ["0.1-1"]
        package(f"source-{s:04}", {f"CVE-2025-{next(cve)}": issue(bookworm_status(fixes)) for _ in range(20)})
    # The pending updates' packages: installed 1.{i}.0-1, candidate 1.{i}.{1+bump}-1+deb12u{1+bump}.
    for i in range(150):
        name = f"package-{i:03}-{['lib', 'tools', 'data', 'common'][i % 4]}"
        src = name[: -len("-lib")] if name.endswith("-lib") else name
        fixes = [f"1.{i}.1-1+deb12u1", f"1.{i}.9-1", f"1.{i}.0-1"]
        package(src, {f"CVE-2025-{next(cve)}": issue(bookworm_status(fixes)) for _ in range(20)})
    # Source packages no benchmark host has.
    for n in range(filler):
        package(f"filler-{n:05}", {f"CVE-2024-{next(cve)}": issue(bookworm_status(["1.0-2"])) for _ in range(15)})
    f.write("}")
