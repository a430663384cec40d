#!/usr/bin/python3
"""An independent answer to "what would apt upgrade here?", from python3-apt.

Prints one JSON object per line: name, arch, installed, candidate, security,
held, for this machine or for the tree given as the first argument. Security follows unattended-upgrades' default origins (Debian-Security
label on a -security suite; Ubuntu -security pockets and ESM), applied to
every version above the installed one up to the candidate. Held: the dpkg
selection is hold, or a plain upgrade (apt-get upgrade) would not upgrade it.
"""
import json
import re
import sys

import apt
import apt_pkg


def is_security(origin):
    suites = (origin.archive or "", origin.codename or "")
    if origin.origin == "Debian" and origin.label == "Debian-Security":
        return any(s.endswith("-security") for s in suites)
    if origin.origin == "Ubuntu":
        return any(s.endswith("-security") for s in suites)
    if origin.origin == "UbuntuESM":
        return any(s.endswith("-infra-security") for s in suites)
    if origin.origin == "UbuntuESMApps":
        return any(s.endswith("-apps-security") for s in suites)
    return False


# An optional root: a Debian tree elsewhere (its etc/apt, lists and dpkg status).
cache = apt.Cache(rootdir=sys.argv[1]) if len(sys.argv) > 1 else apt.Cache()
upgradable = [p for p in cache if p.is_upgradable]
cache.upgrade(dist_upgrade=False)
for p in upgradable:
    inst, cand = p.installed.version, p.candidate.version
    security = any(
        apt_pkg.version_compare(v.version, inst) > 0
        and apt_pkg.version_compare(v.version, cand) <= 0
        and any(is_security(o) for o in v.origins)
        for v in p.versions
    )
    held = p._pkg.selected_state == apt_pkg.SELSTATE_HOLD or not p.marked_upgrade
    print(json.dumps({
        "name": p.shortname,
        "arch": p.installed.architecture,
        "installed": inst,
        "candidate": cand,
        "security": security,
        "held": held,
    }))
