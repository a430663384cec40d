#!/usr/bin/env python3
"""Builds a hermetic RPM world for the dnf and zypper tests and benchmarks.

make_tree.py DIR [--extra N] [--no-updateinfo] [--vex DIR]

DIR/root      an install root: os-release, an rpm database holding the old
              versions, repo files for dnf (etc/yum.repos.d) and zypper
              (etc/zypp/repos.d) pointing at DIR/repo
DIR/repo      a local repository (createrepo_c) with the new versions and,
              unless --no-updateinfo, an updateinfo.xml (modifyrepo_c)
DIR/expected.json  what a correct collector must report
--vex VEXDIR  also writes, from the same advisories, one Red Hat CSAF VEX document
              per CVE (the package of each fix as a binary RPM of RHEL 9's BaseOS):
              what dnf's updateinfo says and what matching the VEX says can then
              be compared.

The packages are tiny noarch/x86_64 RPMs built with rpmbuild (empty %files).
--extra N adds N more installed packages, each with a plain update and every
fifth with a security advisory: the benchmark's larger scenario.

Uses only the real tools: rpmbuild, rpm, createrepo_c, modifyrepo_c.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

# name, arch, epoch, installed (version, release), candidate (version, release) or None
PACKAGES = [
    ("alpha", "noarch", 0, ("1.0", "1"), ("1.1", "1")),
    ("beta", "x86_64", 0, ("2.0", "1"), ("2.1", "1")),
    ("gamma", "noarch", 0, ("1.0", "1"), ("1.0", "2")),
    ("delta", "noarch", 2, ("3.0", "1"), ("3.1", "1")),
    ("epsilon", "noarch", 0, ("1.0", "1"), ("1.2", "1")),
    ("zeta", "noarch", 0, ("1.0", "1"), None),
    ("eta", "noarch", 0, ("1.0", "1"), ("2.0", "1")),
    ("theta", "noarch", 0, ("1.0", "1"), ("2.0", "1")),
    ("a-package-with-a-name-long-enough-to-wrap-dnf-columns", "noarch", 0, ("1.0", "1"), ("1.1", "1")),
]

# id, type, severity (None: absent), CVEs, (name, epoch, version, release, arch)
ADVISORIES = [
    ("TEST-2026:0001", "security", "Critical", ["CVE-2026-0001"], ("alpha", 0, "1.1", "1", "noarch")),
    ("TEST-2026:0002", "security", "Important", ["CVE-2026-0002", "CVE-2026-0003"], ("beta", 0, "2.1", "1", "x86_64")),
    # Fixed in a version older than the installed one: already applied.
    ("TEST-2025:0009", "security", "Critical", ["CVE-2025-0009"], ("beta", 0, "1.9", "1", "x86_64")),
    ("TEST-2026:0003", "bugfix", "Moderate", [], ("gamma", 0, "1.0", "2", "noarch")),
    # Two advisories for one package: counted once, at the higher severity.
    ("TEST-2026:0004", "security", "Low", [], ("delta", 2, "3.1", "1", "noarch")),
    ("TEST-2026:0005", "security", "Moderate", ["CVE-2026-0005"], ("delta", 2, "3.1", "1", "noarch")),
    # Fixed in an intermediate version: the candidate 1.2-1 includes the fix.
    ("TEST-2026:0006", "security", "Important", ["CVE-2026-0006"], ("epsilon", 0, "1.1", "1", "noarch")),
    # For the installed version itself: nothing pending.
    ("TEST-2026:0007", "security", "Critical", ["CVE-2026-0007"], ("zeta", 0, "1.0", "1", "noarch")),
    # No severity in the advisory.
    ("TEST-2026:0008", "security", None, ["CVE-2026-0008"], ("eta", 0, "2.0", "1", "noarch")),
    # Fixed only in a version newer than any available candidate: not a security update yet.
    ("TEST-2026:0009", "security", "Critical", ["CVE-2026-0009"], ("theta", 0, "3.0", "1", "noarch")),
]

EXPECTED = {
    # name: (severity or None, advisories, cves)
    "alpha": ("critical", ["TEST-2026:0001"], ["CVE-2026-0001"]),
    "beta": ("important", ["TEST-2026:0002"], ["CVE-2026-0002", "CVE-2026-0003"]),
    "gamma": (None, [], []),
    "delta": ("moderate", ["TEST-2026:0004", "TEST-2026:0005"], ["CVE-2026-0005"]),
    "epsilon": ("important", ["TEST-2026:0006"], ["CVE-2026-0006"]),
    "eta": ("unknown", ["TEST-2026:0008"], ["CVE-2026-0008"]),
    "theta": (None, [], []),
    "a-package-with-a-name-long-enough-to-wrap-dnf-columns": (None, [], []),
}


def run(*cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def build_rpms(top, specs):
    """specs: (name, arch, epoch, version, release, extra header lines)."""
    os.makedirs(f"{top}/SPECS", exist_ok=True)
    paths = []
    for name, arch, epoch, version, release, extra in specs:
        spec = f"{top}/SPECS/{name}-{version}-{release}.spec"
        with open(spec, "w") as f:
            f.write(f"Name: {name}\n")
            if epoch:
                f.write(f"Epoch: {epoch}\n")
            f.write(f"Version: {version}\nRelease: {release}\nSummary: pakiti test package\n")
            f.write(f"License: MIT\nBuildArch: {arch}\n{extra}%description\npakiti test package\n%files\n")
        paths.append((spec, f"{top}/RPMS/{arch}/{name}-{version}-{release}.{arch}.rpm"))
    # One rpmbuild per spec; they are empty, so this is quick.
    for spec, _ in paths:
        run("rpmbuild", "--quiet", "--define", f"_topdir {top}", "--define", "_build_id_links none", "-bb", spec)
    return [p for _, p in paths]


def updateinfo(advisories):
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<updates>"]
    for aid, kind, severity, cves, (name, epoch, version, release, arch) in advisories:
        out.append(f' <update from="pakiti-tests" status="final" type="{kind}" version="1">')
        out.append(f"  <id>{aid}</id><title>{aid}</title>")
        if severity:
            out.append(f"  <severity>{severity}</severity>")
        out.append('  <issued date="2026-01-01 00:00:00"/>')
        out.append("  <references>")
        for c in cves:
            out.append(f'   <reference href="https://example.invalid/{c}" id="{c}" type="cve" title="{c}"/>')
        out.append("  </references>")
        out.append('  <pkglist><collection short="tests"><name>tests</name>')
        out.append(
            f'   <package name="{name}" version="{version}" release="{release}" epoch="{epoch}" arch="{arch}">'
            f"<filename>{name}-{version}-{release}.{arch}.rpm</filename></package>"
        )
        out.append("  </collection></pkglist>")
        out.append(" </update>")
    out.append("</updates>")
    return "\n".join(out) + "\n"


def vex_documents(advisories, vexdir):
    """One CSAF VEX document per CVE of the security advisories, in Red Hat's shape."""
    os.makedirs(vexdir, exist_ok=True)
    platform = ("BaseOS-9.4.0.Z.MAIN", "Red Hat Enterprise Linux BaseOS (v. 9)", "cpe:/o:redhat:enterprise_linux:9::baseos")
    by_cve = {}
    for aid, kind, severity, cves, pkg in advisories:
        if kind != "security":
            continue
        for c in cves:
            by_cve.setdefault(c, []).append((aid, severity, pkg))
    for cve, fixes in by_cve.items():
        versions, relationships, fixed, remediations, threats = [], [], [], [], []
        for aid, severity, (name, epoch, version, release, arch) in fixes:
            pid = f"{name}-{epoch}:{version}-{release}.{arch}"
            purl = f"pkg:rpm/redhat/{name}@{version}-{release}?arch={arch}" + (f"&epoch={epoch}" if epoch else "")
            versions.append({"category": "product_version", "name": pid,
                             "product": {"name": pid, "product_id": pid, "product_identification_helper": {"purl": purl}}})
            full = f"{platform[0]}:{pid}"
            relationships.append({"category": "default_component_of",
                                  "full_product_name": {"name": f"{pid} as a component of {platform[1]}", "product_id": full},
                                  "product_reference": pid, "relates_to_product_reference": platform[0]})
            fixed.append(full)
            remediations.append({"category": "vendor_fix", "details": "Apply the update.", "product_ids": [full],
                                 "url": f"https://access.redhat.com/errata/{aid}"})
            if severity:
                threats.append({"category": "impact", "details": severity, "product_ids": [full]})
        doc = {
            "document": {"category": "csaf_vex", "csaf_version": "2.0", "title": cve,
                         "tracking": {"id": cve, "current_release_date": "2026-01-01T00:00:00+00:00",
                                      "initial_release_date": "2026-01-01T00:00:00+00:00", "status": "final", "version": "1"}},
            "product_tree": {"branches": [{"category": "vendor", "name": "Red Hat", "branches": [
                {"category": "product_name", "name": platform[1],
                 "product": {"name": platform[1], "product_id": platform[0], "product_identification_helper": {"cpe": platform[2]}}},
                {"category": "architecture", "name": "any", "branches": versions}]}],
                "relationships": relationships},
            "vulnerabilities": [{"cve": cve, "product_status": {"fixed": fixed},
                                 "remediations": remediations, "threats": threats}],
        }
        with open(f"{vexdir}/{cve.lower()}.json", "w") as f:
            json.dump(doc, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--extra", type=int, default=0)
    ap.add_argument("--no-updateinfo", action="store_true")
    ap.add_argument("--vex")
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    root, repo, top = f"{d}/root", f"{d}/repo", f"{d}/build"
    for p in (root, repo, top):
        shutil.rmtree(p, ignore_errors=True)
    os.makedirs(repo)
    packages = list(PACKAGES)
    advisories = list(ADVISORIES)
    expected = {k: v for k, v in EXPECTED.items()}
    for i in range(a.extra):
        name = f"extra{i:05d}"
        packages.append((name, "noarch", 0, ("1.0", "1"), ("1.1", "1")))
        if i % 5 == 0:
            advisories.append((f"EXTRA-2026:{i:05d}", "security", "Moderate", [f"CVE-2026-{10000 + i}"], (name, 0, "1.1", "1", "noarch")))
            expected[name] = ("moderate", [f"EXTRA-2026:{i:05d}"], [f"CVE-2026-{10000 + i}"])
        else:
            expected[name] = (None, [], [])
    if a.no_updateinfo:
        expected = {k: (None, [], []) for k in expected}
    old, new = [], []
    for name, arch, epoch, inst, cand in packages:
        old.append((name, arch, epoch, inst[0], inst[1], ""))
        if cand:
            new.append((name, arch, epoch, cand[0], cand[1], ""))
    # dnf reads $releasever from the package that provides system-release(releasever).
    release = ("pakiti-test-release", "noarch", 0, "9", "1", "Provides: system-release(releasever) = 9\n")
    old_rpms = build_rpms(top, old + [release])
    new_rpms = build_rpms(top, new)
    os.makedirs(f"{root}/etc/yum.repos.d")
    os.makedirs(f"{root}/etc/zypp/repos.d")
    with open(f"{root}/etc/hostname", "w") as f:
        f.write("rpmhost.example.org\n")
    with open(f"{root}/etc/os-release", "w") as f:
        f.write('NAME="Pakiti Test Linux"\nID=pakitilinux\nID_LIKE="rhel fedora"\nVERSION_ID=9\n')
    run("rpm", "--root", root, "--initdb")
    # rpm -i of many files at once, without scripts or dependency checks.
    run("rpm", "--root", root, "-i", "--nodeps", "--noscripts", "--justdb", *old_rpms)
    for p in new_rpms:
        shutil.copy(p, repo)
    # zeta's only version is in the repository too: present, not newer.
    shutil.copy(next(p for p in old_rpms if "/zeta-" in p), repo)
    run("createrepo_c", "-q", repo)
    if a.vex:
        vex_documents(advisories, os.path.abspath(a.vex))
    if not a.no_updateinfo:
        with open(f"{d}/updateinfo.xml", "w") as f:
            f.write(updateinfo(advisories))
        run("modifyrepo_c", "--mdtype=updateinfo", f"{d}/updateinfo.xml", f"{repo}/repodata")
    for path in (f"{root}/etc/yum.repos.d/tests.repo", f"{root}/etc/zypp/repos.d/tests.repo"):
        with open(path, "w") as f:
            f.write(f"[tests]\nname=pakiti tests\nbaseurl=file://{repo}\nenabled=1\nautorefresh=0\ngpgcheck=0\ntype=rpm-md\n")
    # A disabled repository must not count.
    with open(f"{root}/etc/yum.repos.d/disabled.repo", "w") as f:
        f.write("[disabled]\nname=disabled\nbaseurl=file:///nonexistent\nenabled=0\n")
    shutil.rmtree(top)
    cand = {p[0]: p for p in packages}
    out = {
        "installed": len(packages) + 1,
        "updates": {
            name: {
                "arch": cand[name][1],
                "installed_version": (f"{cand[name][2]}:" if cand[name][2] else "") + "-".join(cand[name][3]),
                "candidate_version": (f"{cand[name][2]}:" if cand[name][2] else "") + "-".join(cand[name][4]),
                "severity": sev,
                "advisories": adv,
                "cves": cves,
            }
            for name, (sev, adv, cves) in expected.items()
        },
    }
    with open(f"{d}/expected.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
