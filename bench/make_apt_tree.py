#!/usr/bin/python3
"""Builds a Debian tree with N installed packages that all have a pending update
(every tenth one from a security archive), for benchmarking the exporter with
--path.rootfs. Usage: make_apt_tree.py DIR N"""
import os
import subprocess
import sys

root, n = sys.argv[1], int(sys.argv[2])
arch = subprocess.check_output(["dpkg", "--print-architecture"], text=True).strip()
for d in ["etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/apt/apt.conf.d", "var/lib/dpkg",
          "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "repos/main", "repos/security"]:
    os.makedirs(os.path.join(root, d), exist_ok=True)
open(os.path.join(root, "etc/os-release"), "w").write('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
open(os.path.join(root, "etc/hostname"), "w").write("bench-host\n")
open(os.path.join(root, "etc/apt/sources.list"), "w").write("")
open(os.path.join(root, "etc/apt/apt.conf"), "w").write('APT::Sandbox::User "root";\n')
status, main, sec = [], [], []
for i in range(n):
    name = f"pkg{i:05d}"
    status.append(f"Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: {arch}\n"
                  f"Maintainer: B <b@example.org>\nVersion: 1.0-1\nDescription: bench\n")
    entry = (f"Package: {name}\nVersion: 1.0-2\nArchitecture: {arch}\nMaintainer: B <b@example.org>\n"
             f"Filename: pool/{name}.deb\nSize: 1000\nSHA256: {'0' * 64}\nDescription: bench\n")
    (sec if i % 10 == 0 else main).append(entry)
open(os.path.join(root, "var/lib/dpkg/status"), "w").write("\n".join(status))
for repo, entries, label, suite in [("main", main, "Debian", "bookworm"),
                                     ("security", sec, "Debian-Security", "bookworm-security")]:
    open(os.path.join(root, "repos", repo, "Packages"), "w").write("\n".join(entries))
    open(os.path.join(root, "repos", repo, "Release"), "w").write(
        f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {suite}\nDate: Thu, 26 Nov 2026 10:00:00 UTC\n")
with open(os.path.join(root, "etc/apt/sources.list.d/bench.list"), "w") as f:
    for repo in ["main", "security"]:
        f.write(f"deb [trusted=yes] file:{os.path.abspath(os.path.join(root, 'repos', repo))} ./\n")
env = dict(os.environ, APT_CONFIG=os.path.join(root, "etc/apt/apt.conf"), LC_ALL="C")
subprocess.check_call(["apt-get", f"-oDir={os.path.abspath(root)}/",
                       f"-oDir::State::status={os.path.abspath(root)}/var/lib/dpkg/status", "-qq", "update"], env=env)
