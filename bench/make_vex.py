#!/usr/bin/env python3
"""Writes a Red Hat CSAF VEX bulk archive of real size for the benchmark (issue 15):

make_vex.py OUT.tar.zst [N]   (N CVE documents, default 40000)

One document per CVE in Red Hat's shape (product tree of platforms with CPEs and
packages with purls per architecture, default_component_of relationships,
product_status, remediations, threats). The first 3,000 CVEs concern the source
packages the benchmark fleet has (`pakiti-fleet --os rhel --installed 1000`:
source-0000..0333, binaries installed-NNNN-{lib,bin,data} at 2.J.V-R): most were
fixed in versions older than the installed ones, some straddle them, a few are
unfixed or will not be fixed. The rest concern packages no host has, as most of
Red Hat's do. Each fix is listed for four architectures and the source RPM, in
RHEL 9's main stream and 9.2's EUS, with RHEL 8 and 7 statuses and an OpenShift
product beside them. Written to a folder, then `tar --zstd`.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ARCHES = ["x86_64", "aarch64", "ppc64le", "s390x"]
PLATFORMS = [
    ("BaseOS-9.4.0.Z.MAIN", "Red Hat Enterprise Linux BaseOS (v. 9)", "cpe:/o:redhat:enterprise_linux:9::baseos"),
    ("AppStream-9.4.0.Z.MAIN", "Red Hat Enterprise Linux AppStream (v. 9)", "cpe:/a:redhat:enterprise_linux:9::appstream"),
    ("BaseOS-9.2.0.Z.EUS", "Red Hat Enterprise Linux BaseOS EUS (v.9.2)", "cpe:/o:redhat:rhel_eus:9.2::baseos"),
    ("red_hat_enterprise_linux_8", "Red Hat Enterprise Linux 8", "cpe:/o:redhat:enterprise_linux:8"),
    ("red_hat_enterprise_linux_7", "Red Hat Enterprise Linux 7", "cpe:/o:redhat:enterprise_linux:7"),
    ("openshift-4.16", "Red Hat OpenShift Container Platform 4.16", "cpe:/a:redhat:openshift:4.16::el9"),
]
IMPACTS = ["Low", "Moderate", "Important", "Critical"]


def document(n, rng):
    cve = f"CVE-2026-{n:05d}"
    if n < 3000:
        j = n % 334
        source = f"source-{j:04d}"
        binaries = [f"installed-{3 * j + k:04d}-{['lib', 'bin', 'data'][(3 * j + k) % 3]}" for k in range(3)]
        roll = rng.random()
        if roll < 0.8:
            kind, version = "fixed", f"2.{3 * j}.0-0"          # older than installed
        elif roll < 0.9:
            kind, version = "fixed", f"2.{3 * j}.1-9"          # straddles the installed ones
        elif roll < 0.95:
            kind, version = "unfixed", None
        else:
            kind, version = "wontfix", None
    else:
        source = f"pkg-{n:05d}"
        binaries = [f"pkg-{n:05d}", f"pkg-{n:05d}-libs", f"pkg-{n:05d}-devel"]
        kind, version = ("fixed", f"1.{n % 50}.{n % 7}-{1 + n % 9}.el9_4") if n % 10 else ("unfixed", None)
    impact = IMPACTS[n % 4]
    versions, relationships = [], []
    status = {"fixed": [], "known_affected": [], "known_not_affected": []}
    remediations, threats = [], []
    def product(pid, purl):
        versions.append({"category": "product_version", "name": pid,
                         "product": {"name": pid, "product_id": pid, "product_identification_helper": {"purl": purl}}})
    def relate(comp, plat):
        full = f"{plat}:{comp}"
        relationships.append({"category": "default_component_of",
                              "full_product_name": {"name": f"{comp} as a component of {plat}", "product_id": full},
                              "product_reference": comp, "relates_to_product_reference": plat})
        return full
    if kind == "fixed":
        fixed = []
        for plat, ver in (("BaseOS-9.4.0.Z.MAIN", version), ("BaseOS-9.2.0.Z.EUS", version.replace("el9_4", "el9_2"))):
            for b in binaries:
                for a in ARCHES:
                    pid = f"{b}-0:{ver}.{a}"
                    product(pid, f"pkg:rpm/redhat/{b}@{ver}?arch={a}")
                    fixed.append(relate(pid, plat))
            pid = f"{source}-0:{ver}.src"
            product(pid, f"pkg:rpm/redhat/{source}@{ver}?arch=src")
            fixed.append(relate(pid, plat))
        status["fixed"] = fixed
        remediations.append({"category": "vendor_fix", "details": "For details on how to apply this update, which includes the changes described in this advisory, refer to the advisory.",
                             "product_ids": fixed, "url": f"https://access.redhat.com/errata/RHSA-2026:{n:05d}"})
        threats.append({"category": "impact", "details": impact, "product_ids": fixed})
    else:
        product(source, f"pkg:rpm/redhat/{source}")
        ids = [relate(source, "AppStream-9.4.0.Z.MAIN")]
        status["known_affected"] = ids
        remediations.append({"category": "none_available" if kind == "unfixed" else "no_fix_planned",
                             "details": "Affected" if kind == "unfixed" else "Will not fix", "product_ids": ids})
    product(source if kind == "fixed" else f"{source}-el8", f"pkg:rpm/redhat/{source}")
    el = [relate(source if kind == "fixed" else f"{source}-el8", "red_hat_enterprise_linux_8"),
          relate(source if kind == "fixed" else f"{source}-el8", "red_hat_enterprise_linux_7"),
          relate(source if kind == "fixed" else f"{source}-el8", "openshift-4.16")]
    status["known_affected"] += el[:1] + el[2:]
    status["known_not_affected"] += el[1:2]
    remediations.append({"category": "none_available", "details": "Affected", "product_ids": el[:1] + el[2:]})
    return {
        "document": {
            "aggregate_severity": {"namespace": "https://access.redhat.com/security/updates/classification/", "text": impact},
            "category": "csaf_vex", "csaf_version": "2.0",
            "distribution": {"text": "Copyright © Red Hat, Inc. All rights reserved.", "tlp": {"label": "WHITE", "url": "https://www.first.org/tlp/"}},
            "lang": "en",
            "notes": [{"category": "summary", "text": f"A flaw was found in {source}. " + "x" * 400, "title": "Vulnerability summary"}],
            "publisher": {"category": "vendor", "contact_details": "https://access.redhat.com/security/team/contact/", "name": "Red Hat Product Security", "namespace": "https://www.redhat.com"},
            "title": f"{source}: benchmark flaw {cve}",
            "tracking": {"id": cve, "current_release_date": "2026-11-30T00:00:00+00:00", "initial_release_date": "2026-01-01T00:00:00+00:00",
                         "revision_history": [{"date": "2026-11-30T00:00:00+00:00", "number": "1", "summary": "Current version"}],
                         "status": "final", "version": "1"},
        },
        "product_tree": {"branches": [{"category": "vendor", "name": "Red Hat", "branches": [
            {"category": "product_family", "name": "Red Hat Enterprise Linux", "branches": [
                {"category": "product_name", "name": name, "product": {"name": name, "product_id": pid, "product_identification_helper": {"cpe": cpe}}}
                for pid, name, cpe in PLATFORMS]},
            {"category": "architecture", "name": "various", "branches": versions}]}],
            "relationships": relationships},
        "vulnerabilities": [{"cve": cve, "cwe": {"id": "CWE-787", "name": "Out-of-bounds Write"},
                             "discovery_date": "2026-01-01T00:00:00+00:00",
                             "notes": [{"category": "description", "text": "y" * 600, "title": "Vulnerability description"}],
                             "product_status": {k: v for k, v in status.items() if v},
                             "remediations": remediations, "threats": threats,
                             "scores": [{"cvss_v3": {"attackComplexity": "LOW", "baseScore": 7.5, "baseSeverity": "HIGH", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "version": "3.1"}, "products": status["fixed"][:4]}]}],
    }


def main():
    out = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
    rng = random.Random(15)
    work = tempfile.mkdtemp(prefix="vex-")
    try:
        size = 0
        for i in range(n):
            sub = os.path.join(work, "2026")
            os.makedirs(sub, exist_ok=True)
            path = os.path.join(sub, f"cve-2026-{i:05d}.json")
            with open(path, "w") as f:
                json.dump(document(i, rng), f, indent=2)
            size += os.path.getsize(path)
        subprocess.run(["tar", "--zstd", "-cf", out, "-C", work, "2026"], check=True)
        print(f"{n} documents, {size / 2**20:.0f} MiB uncompressed, {os.path.getsize(out) / 2**20:.0f} MiB as {os.path.basename(out)}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
