#!/usr/bin/python3
"""Writes the Grafana dashboards dashboards/pakiti-fleet.json and pakiti-host.json.

Edit the panels here, run this script, commit both. Every query is evaluated by the
end-to-end test (tests/tests/prometheus.rs) against a real Prometheus scraping the real
exporter and aggregator, so a query naming a metric that does not exist fails there.
Panels whose `expect_data` is False may rightly be empty (e.g. no stale host).
"""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
HERE = os.path.dirname(os.path.abspath(__file__))


def target(expr, legend="", instant=False, table=False, ref="A"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend}
    if instant:
        t["instant"] = True
        t["range"] = False
    if table:
        t["format"] = "table"
    return t


class Layout:
    def __init__(self):
        self.panels, self.x, self.y, self.row_h, self.next_id = [], 0, 0, 0, 1

    def add(self, panel, w, h, expect_data=True):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        # Read by the end-to-end test; Grafana ignores unknown panel keys it does not know.
        panel.setdefault("pakiti", {})["expect_data"] = expect_data
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)


def stat(title, expr, unit="short", description="", thresholds=None, mappings=None):
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps},
                                     "mappings": mappings or []}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value"},
    }


def red_above(n):
    return [{"color": "green", "value": None}, {"color": "red", "value": n}]


def timeseries(title, targets, unit="short", description="", stack=False):
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"stacking": {"mode": "normal" if stack else "none"},
                                                               "fillOpacity": 10}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
    }


def table(title, targets, description="", overrides=None, transformations=None, unit="short"):
    return {
        "type": "table",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": overrides or []},
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": transformations or [],
    }


def dashboard(uid, title, description, variables, panels):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pakiti", "patching", "security"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "",
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "5m",
        "schemaVersion": 39,
        "version": 1,
        "annotations": {"list": []},
        "links": [{"title": "pakiti dashboards", "type": "dashboards", "tags": ["pakiti"], "asDropdown": True}],
        "templating": {"list": variables},
        "panels": panels,
    }


DATASOURCE_VAR = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                  "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_var(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-variable"}, "definition": query,
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": multi,
            "allValue": ".*" if multi else None, "current": {}, "hide": 0, "options": []}


def fleet():
    L = Layout()
    sel = 'site=~"$site",host=~"$host"'
    L.add(stat("Hosts", f"count(pakiti_host_info{{{sel}}})", description="Hosts that report to the aggregator."), 4, 4)
    L.add(stat("With security updates", f"count(sum by (host) (pakiti_security_updates_pending{{{sel}}}) > 0) or vector(0)",
               thresholds=red_above(1), description="Hosts with at least one pending security update."), 4, 4)
    L.add(stat("Critical or important", f'count(sum by (host) (pakiti_security_updates_pending{{{sel},severity=~"critical|important"}}) > 0) or vector(0)',
               thresholds=red_above(1), description="Hosts with a pending critical or important security update."), 4, 4)
    L.add(stat("Need a reboot", f"count(pakiti_reboot_required{{{sel}}} == 1) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]), 4, 4)
    L.add(stat("Running replaced code", f"count(pakiti_restart_required_units{{{sel}}} > 0) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Hosts with services still running a library or executable that an upgrade replaced: the fix is installed, not running."), 4, 4)
    L.add(stat("Security fixes not entitled", f"count(pakiti_security_updates_unentitled{{{sel}}} > 0) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Hosts with security fixes that only a channel they are not entitled to offers (Ubuntu Pro's ESM while not attached): not among their pending updates."), 4, 4)
    L.add(stat("Stale (no report for 6h)", f"count((time() - pakiti_last_report_timestamp_seconds{{{sel}}}) > 6 * 3600) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Hosts the aggregator has not heard from for six hours: their status is unknown."), 4, 4)
    L.add(stat("Oldest pending security fix", f"max(time() - pakiti_security_update_pending_since_timestamp_seconds{{{sel}}})",
               unit="s", thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 2 * 86400},
                                     {"color": "red", "value": 7 * 86400}],
               description="Longest time any host has had a security update pending, counted from when the fix first appeared."), 4, 4)
    L.add(stat("Fixable critical or important vulnerabilities",
               f'count(sum by (host) (pakiti_vulnerabilities{{{sel},severity=~"critical|important",fix="available"}}) > 0) or vector(0)',
               thresholds=red_above(1),
               description="Hosts exposed to a critical or important vulnerability whose fixed version their own repositories already offer: patch these first."), 6, 4)
    L.add(stat("Vulnerabilities unknown", f"count(pakiti_vulnerability_coverage{{{sel}}} == 0) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Hosts no loaded vulnerability feed covers (their release, or no inventory): not clean, unknown."), 6, 4)
    L.add(stat("Hosts past a deadline", f"count(sum by (host, site) (pakiti_vulnerabilities_past_deadline{{{sel}}}) > 0) or vector(0)",
               thresholds=red_above(1),
               description="Hosts with open findings past their deadline ([decisions.deadlines] per severity and tag, counted from when the host first reported the fix installable; a KEV entry's due date). Findings an exception covers are not counted."), 4, 4)
    L.add(stat("Known exploited (KEV) in the fleet", 'count(pakiti_vulnerability_exposed_hosts{kev="true"} > 0) or vector(0)',
               thresholds=red_above(1),
               description="Vulnerabilities in CISA's Known Exploited Vulnerabilities catalog that some host is exposed to (those exceptions cover not counted): fix these first."), 4, 4)
    L.add(stat("Exceptions ending within 7 days", "sum(pakiti_exceptions_expiring) or vector(0)",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Operators' decisions (accepted risk, false positive, mitigated) that end within a week: their findings then count as open again."), 4, 4)
    L.add(table("Watched vulnerabilities (KEV and tagged): hosts exposed",
                [target("sort_desc(pakiti_vulnerability_exposed_hosts)", instant=True, table=True)],
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
                                                                   "renameByName": {"Value": "hosts"}}}],
                description="The watch set of /federate: KEV-listed and tagged vulnerabilities (at most 1000), hosts exposed without an exception."), 12, 8)
    L.add(timeseries("Vulnerability findings detected and resolved (per day)",
                     [target("sum by (severity) (increase(pakiti_vulnerabilities_detected_total[1d]))", "detected {{severity}}", ref="A"),
                      target("sum by (severity) (increase(pakiti_vulnerabilities_resolved_total[1d]))", "resolved {{severity}}", ref="B")],
                     description="Burn-down: findings new to a host and findings resolved over the last day, by severity. Resolved above detected: the fleet is catching up."), 12, 8)
    L.add(timeseries("Open vulnerabilities in the fleet, by severity",
                     [target(f"sum by (severity) (pakiti_vulnerabilities{{{sel}}})", "{{severity}}")],
                     description="Findings of installed packages in the loaded feeds (running kernel only), summed over the hosts they cover."), 12, 4)
    L.add(timeseries("Hosts with security updates, by severity",
                     [target(f"count by (severity) (pakiti_security_updates_pending{{{sel}}} > 0)", "{{severity}}")],
                     description="How many hosts have at least one pending security update of each severity."), 12, 8)
    L.add(timeseries("Hosts with security updates, by site",
                     [target(f"count by (site) (sum by (site, host) (pakiti_security_updates_pending{{{sel}}}) > 0)", "{{site}}")]), 12, 8)
    L.add(timeseries("Pending updates in the fleet",
                     [target(f"sum(pakiti_updates_pending{{{sel}}})", "pending", ref="A"),
                      target(f"sum(pakiti_security_updates_pending{{{sel}}})", "security", ref="B"),
                      target(f"sum(pakiti_updates_held{{{sel}}})", "held", ref="C")],
                     description="The trend of the fleet's pending, security and held updates."), 12, 8)
    L.add(table("Exporter versions", [target(f"count by (version) (pakiti_exporter_build_info{{{sel}}})", instant=True, table=True)],
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                                   "renameByName": {"Value": "hosts"}}}]), 12, 8)
    L.add(table("Hosts pending longest (patch age)",
                [target(f"topk(20, time() - pakiti_security_update_pending_since_timestamp_seconds{{{sel}}})", instant=True, table=True)],
                description="Oldest pending security fixes first: since the fix first appeared on the host.",
                unit="s",
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "job": True, "instance": True},
                                                                   "renameByName": {"Value": "pending for"}}},
                                 {"id": "sortBy", "options": {"sort": [{"field": "pending for", "desc": True}]}}],
                overrides=[{"matcher": {"id": "byName", "options": "host"},
                            "properties": [{"id": "links", "value": [{"title": "Open ${__value.text} in the aggregator",
                                                                      "url": "${aggregator}/hosts/${__value.raw}"}]}]}]), 12, 10)
    L.add(table("Needing a reboot", [target(f"pakiti_reboot_required{{{sel}}} == 1", instant=True, table=True)],
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "job": True,
                                                                                  "instance": True, "__name__": True}}}]),
          12, 10, expect_data=False)
    L.add(table("Hosts", [
        target(f"pakiti_updates_pending{{{sel}}}", instant=True, table=True, ref="A"),
        target(f"sum by (host, site) (pakiti_security_updates_pending{{{sel}}})", instant=True, table=True, ref="B"),
        target(f'sum by (host, site) (pakiti_security_updates_pending{{{sel},severity=~"critical|important"}})', instant=True, table=True, ref="C"),
        target(f"pakiti_reboot_required{{{sel}}}", instant=True, table=True, ref="D"),
        target(f"time() - pakiti_last_report_timestamp_seconds{{{sel}}}", instant=True, table=True, ref="E"),
    ], description="Every host; the host name opens its page in the aggregator.",
        transformations=[{"id": "merge", "options": {}},
                         {"id": "organize", "options": {"excludeByName": {"Time": True, "job": True, "instance": True, "__name__": True},
                                                        "renameByName": {"Value #A": "pending", "Value #B": "security",
                                                                         "Value #C": "critical+important", "Value #D": "reboot",
                                                                         "Value #E": "last report"}}}],
        overrides=[{"matcher": {"id": "byName", "options": "host"},
                    "properties": [{"id": "links", "value": [{"title": "Open ${__value.text} in the aggregator",
                                                              "url": "${aggregator}/hosts/${__value.raw}"}]}]},
                   {"matcher": {"id": "byName", "options": "last report"}, "properties": [{"id": "unit", "value": "s"}]}]), 24, 12)
    ssel = 'site=~"$site"'
    L.add(table("Sites reported by their own aggregators (send = \"stats\")", [
        target(f"pakiti_site_hosts{{{ssel}}}", instant=True, table=True, ref="A"),
        target(f"pakiti_site_hosts_with_pending_updates{{{ssel}}}", instant=True, table=True, ref="B"),
        target(f'sum by (site, server) (pakiti_site_hosts_with_security_updates{{{ssel},severity="critical"}})', instant=True, table=True, ref="C"),
        target(f'sum by (site, server) (pakiti_site_hosts_with_security_updates{{{ssel},severity="important"}})', instant=True, table=True, ref="D"),
        target(f"pakiti_site_hosts_reboot_required{{{ssel}}}", instant=True, table=True, ref="E"),
        target(f"pakiti_site_hosts_stale{{{ssel}}}", instant=True, table=True, ref="F"),
        target(f"sum by (site, server) (pakiti_site_security_updates_pending{{{ssel}}})", instant=True, table=True, ref="G"),
        target(f"time() - pakiti_site_last_stats_timestamp_seconds{{{ssel}}}", instant=True, table=True, ref="H"),
    ], description="Per-site statistics that downstream aggregators forward to this one; their hosts are not listed above.",
        transformations=[{"id": "merge", "options": {}},
                         {"id": "organize", "options": {"excludeByName": {"Time": True, "job": True, "instance": True, "__name__": True},
                                                        "renameByName": {"Value #A": "hosts", "Value #B": "with pending updates",
                                                                         "Value #C": "with critical", "Value #D": "with important",
                                                                         "Value #E": "need a reboot", "Value #F": "stale",
                                                                         "Value #G": "security updates", "Value #H": "last statistics"}}}],
        overrides=[{"matcher": {"id": "byName", "options": "last statistics"}, "properties": [{"id": "unit", "value": "s"}]}]), 24, 8)
    L.add(timeseries("Security updates pending at forwarded sites",
                     [target(f"sum by (site) (pakiti_site_security_updates_pending{{{ssel}}})", "{{site}}")],
                     description="From the statistics downstream aggregators send, by site."), 24, 8)
    variables = [
        DATASOURCE_VAR,
        query_var("site", "Site", "label_values(pakiti_host_info, site)"),
        query_var("host", "Host", 'label_values(pakiti_host_info{site=~"$site"}, host)'),
        {"name": "aggregator", "label": "Aggregator URL", "type": "textbox", "query": "http://localhost:10151",
         "current": {"text": "http://localhost:10151", "value": "http://localhost:10151"}, "hide": 0, "options": []},
    ]
    return dashboard("pakiti-fleet", "pakiti / Fleet",
                     "The fleet's pending and security updates from the pakiti aggregator's /federate.", variables, L.panels)


def host():
    L = Layout()
    h = 'instance="$host"'
    L.add(stat("Pending updates", f"pakiti_updates_pending{{{h}}}"), 4, 4)
    L.add(stat("Security updates", f"sum(pakiti_security_updates_pending{{{h}}})", thresholds=red_above(1)), 4, 4)
    L.add(stat("Held", f"pakiti_updates_held{{{h}}}", description="Held, pinned, kept back or phased."), 4, 4)
    L.add(stat("Reboot required", f"pakiti_reboot_required{{{h}}}", thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               mappings=[{"type": "value", "options": {"0": {"text": "no"}, "1": {"text": "yes"}}}]), 4, 4)
    L.add(stat("Services running replaced code", f"pakiti_restart_required_units{{{h}}}",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Services still running a library or executable that an upgrade deleted or replaced; pakiti_restart_required_unit_info names them."), 4, 4)
    L.add(stat("Security fixes not entitled", f"sum(pakiti_security_updates_unentitled{{{h}}})",
               thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
               description="Security fixes only a channel the host is not entitled to offers (Ubuntu Pro's ESM while not attached), by pakiti_security_updates_unentitled{channel}; no data where the exporter cannot see such channels."), 4, 4,
          expect_data=False)
    L.add(stat("Package lists age", f"time() - pakiti_package_metadata_timestamp_seconds{{{h}}}", unit="s",
               thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 2 * 86400}],
               description="Time since the package lists were last refreshed; older than 2 days means new fixes are not seen."), 4, 4)
    L.add(stat("Security metadata", f"pakiti_security_metadata_available{{{h}}}",
               thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
               mappings=[{"type": "value", "options": {"0": {"text": "missing"}, "1": {"text": "available"}}}],
               description="Missing means no repository is a security archive: a security count of 0 then means nothing."), 4, 4)
    L.add(timeseries("Pending and security updates", [
        target(f"pakiti_updates_pending{{{h}}}", "pending", ref="A"),
        target(f"pakiti_security_updates_pending{{{h}}} > 0", "security: {{severity}}", ref="B"),
        target(f"pakiti_updates_held{{{h}}}", "held", ref="C")]), 16, 8)
    L.add(timeseries("Collection", [
        target(f"pakiti_collection_duration_seconds{{{h}}}", "duration", ref="A"),
        target(f"time() - pakiti_last_collection_timestamp_seconds{{{h}}}", "since last collection", ref="B")], unit="s",
        description="Collections run on a schedule; each asks the package manager."), 8, 8)
    L.add(table("Pending updates", [target(f"pakiti_update_info{{{h}}}", instant=True, table=True)],
                description="One row per pending update (the exporter's update_info setting decides which: security by default).",
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True,
                                                                                  "job": True, "instance": True},
                                                                "indexByName": {"package": 0, "arch": 1, "installed_version": 2,
                                                                                "candidate_version": 3, "security": 4, "severity": 5}}}]), 16, 12)
    L.add(stat("Collection success", f"pakiti_collection_success{{{h}}}",
               thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
               mappings=[{"type": "value", "options": {"0": {"text": "failing"}, "1": {"text": "ok"}}}]), 8, 4)
    L.add(table("Host", [target(f"pakiti_host_info{{{h}}}", instant=True, table=True, ref="A")],
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}]), 8, 4)
    L.add(table("Exporter", [target(f"pakiti_exporter_build_info{{{h}}}", instant=True, table=True)],
                transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}]), 8, 4)
    variables = [DATASOURCE_VAR, query_var("job", "Job", "label_values(pakiti_exporter_build_info, job)", multi=False),
                 query_var("host", "Host", 'label_values(pakiti_exporter_build_info{job="$job"}, instance)', multi=False)]
    return dashboard("pakiti-host", "pakiti / Host", "One host's pending updates, from its pakiti-exporter.", variables, L.panels)


out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else HERE
for name, d in [("pakiti-fleet.json", fleet()), ("pakiti-host.json", host())]:
    with open(os.path.join(out, name), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
