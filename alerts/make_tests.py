#!/usr/bin/python3
"""Writes alerts/*.test.yml: when and for which series each alert must fire or stay
silent is stated here by hand; the expected annotation text is rendered from the
rules' templates (labels and humanizeDuration), so promtool then checks that every
template names labels the series really have. Run after changing the rules."""
import os, re, yaml
rules = yaml.safe_load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pakiti.rules.yml')))
R = {r['alert']: r for g in rules['groups'] for r in g['rules']}

def humanize(v):
    v = int(v)
    d, r = divmod(v, 86400); h, r = divmod(r, 3600); m, s = divmod(r, 60)
    if d: return f"{d}d {h}h {m}m {s}s"
    if h: return f"{h}h {m}m {s}s"
    if m: return f"{m}m {s}s"
    return f"{s}s"

def render(t, labels, value):
    t = re.sub(r"\{\{ \$value \| humanizeDuration \}\}", humanize(value) if value is not None else "", t)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), "<no value>"), t)

def alert(name, labels, value=None):
    r = R[name]
    lab = dict(r.get('labels', {})); lab.update(labels)
    ann = {k: render(v, lab, value) for k, v in r['annotations'].items()}
    return {'exp_labels': lab, 'exp_annotations': ann}

H = lambda x: x * 3600
tests = []
# 1. deadlines
series = [
 ('pakiti_security_update_severity_pending_since_timestamp_seconds{host="web-01",site="SiteA",severity="critical"}', '0x800'),
 ('pakiti_security_update_severity_pending_since_timestamp_seconds{host="web-02",site="SiteA",severity="critical"}', '86400x800'),
]
for sev in ['important', 'unknown', 'moderate', 'low']:
    series.append((f'pakiti_security_update_severity_pending_since_timestamp_seconds{{host="db-01",site="SiteB",severity="{sev}"}}', '0x800'))
A = lambda host, site, sev: {'host': host, 'site': site, 'severity_of_update': sev}
art = []
crit = 'PakitiCriticalSecurityUpdatesOverdue'
lw1 = {'host': 'web-01', 'site': 'SiteA'}; lw2 = {'host': 'web-02', 'site': 'SiteA'}; ld = {'host': 'db-01', 'site': 'SiteB'}
art.append({'eval_time': '47h', 'alertname': crit, 'exp_alerts': []})
art.append({'eval_time': '49h', 'alertname': crit, 'exp_alerts': [alert(crit, lw1, H(49))]})
art.append({'eval_time': '73h', 'alertname': crit, 'exp_alerts': [alert(crit, lw1, H(73)), alert(crit, lw2, H(49))]})
for name, days in [('PakitiImportantSecurityUpdatesOverdue', 7), ('PakitiSecurityUpdatesOverdue', 7),
                   ('PakitiModerateSecurityUpdatesOverdue', 30), ('PakitiLowSecurityUpdatesOverdue', 30)]:
    art.append({'eval_time': f'{days*24-1}h', 'alertname': name, 'exp_alerts': []})
    art.append({'eval_time': f'{days*24+1}h', 'alertname': name, 'exp_alerts': [alert(name, ld, H(days*24+1))]})
tests.append({'interval': '1h', 'input_series': [{'series': s, 'values': v} for s, v in series], 'alert_rule_test': art})

# 2. host not reporting: web-01 last reported at 0; web-02 reports every minute
name = 'PakitiHostNotReporting'
tests.append({'interval': '1m', 'input_series': [
    {'series': 'pakiti_last_report_timestamp_seconds{host="web-01",site="SiteA"}', 'values': '0x400'},
    {'series': 'pakiti_last_report_timestamp_seconds{host="web-02",site="SiteA"}', 'values': '0+60x400'}],
  'alert_rule_test': [
    {'eval_time': '5h59m', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '6h1m', 'alertname': name, 'exp_alerts': [alert(name, lw1, 6*3600+60)]}]})

# 3. reboot for 7 days, fleet series only (the exporter's own series has no host label)
name = 'PakitiRebootRequiredForLong'
tests.append({'interval': '5m', 'input_series': [
    {'series': 'pakiti_reboot_required{host="web-01",site="SiteA",job="pakiti-federate"}', 'values': '1x2100'},
    {'series': 'pakiti_reboot_required{host="web-02",site="SiteA",job="pakiti-federate"}', 'values': '0x2100'},
    {'series': 'pakiti_reboot_required{instance="web-01:10150",job="pakiti-exporter"}', 'values': '1x2100'}],
  'alert_rule_test': [
    {'eval_time': '6d23h', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '7d1h', 'alertname': name, 'exp_alerts': [alert(name, dict(lw1, job='pakiti-federate'))]}]})

# 4. exporters
e1 = {'instance': 'h1:10150', 'job': 'pakiti-exporter'}
def s(metric, labels, values):
    return {'series': metric + '{' + ','.join(f'{k}="{v}"' for k, v in labels.items()) + '}', 'values': values}
e2 = {'instance': 'h2:10150', 'job': 'pakiti-exporter'}
tests.append({'interval': '1m', 'input_series': [
    s('up', e1, '0x1500'), s('up', e2, '1x1500'),
    s('pakiti_collection_success', e1, '0x1500'), s('pakiti_collection_success', e2, '1x1500'),
    s('pakiti_package_metadata_timestamp_seconds', e1, '-200000x1500'), s('pakiti_package_metadata_timestamp_seconds', e2, '0+60x1500'),
    s('pakiti_security_metadata_available', e1, '0x1500'), s('pakiti_security_metadata_available', e2, '1x1500')],
  'alert_rule_test': [
    {'eval_time': '9m', 'alertname': 'PakitiExporterDown', 'exp_alerts': []},
    {'eval_time': '11m', 'alertname': 'PakitiExporterDown', 'exp_alerts': [alert('PakitiExporterDown', e1)]},
    {'eval_time': '59m', 'alertname': 'PakitiCollectionFailing', 'exp_alerts': []},
    {'eval_time': '61m', 'alertname': 'PakitiCollectionFailing', 'exp_alerts': [alert('PakitiCollectionFailing', e1)]},
    {'eval_time': '59m', 'alertname': 'PakitiPackageMetadataStale', 'exp_alerts': []},
    {'eval_time': '61m', 'alertname': 'PakitiPackageMetadataStale', 'exp_alerts': [alert('PakitiPackageMetadataStale', e1, 200000 + 61*60)]},
    {'eval_time': '23h59m', 'alertname': 'PakitiSecurityMetadataMissing', 'exp_alerts': []},
    {'eval_time': '24h1m', 'alertname': 'PakitiSecurityMetadataMissing', 'exp_alerts': [alert('PakitiSecurityMetadataMissing', e1)]}]})

# 5. aggregator
a = {'instance': 'agg:10151', 'job': 'pakiti-aggregator'}
a2 = {'instance': 'agg2:10151', 'job': 'pakiti-aggregator'}
tests.append({'interval': '1m', 'input_series': [
    s('pakiti_aggregator_scrape_up', dict(a, target='db-01:10150'), '0x60'),
    s('pakiti_aggregator_scrape_up', dict(a, target='db-02:10150'), '1x60'),
    s('pakiti_aggregator_store_up', a, '0x60'), s('pakiti_aggregator_store_up', a2, '1x60')],
  'alert_rule_test': [
    {'eval_time': '29m', 'alertname': 'PakitiAggregatorScrapeFailing', 'exp_alerts': []},
    {'eval_time': '31m', 'alertname': 'PakitiAggregatorScrapeFailing', 'exp_alerts': [alert('PakitiAggregatorScrapeFailing', dict(a, target='db-01:10150'))]},
    {'eval_time': '4m', 'alertname': 'PakitiAggregatorStoreDown', 'exp_alerts': []},
    {'eval_time': '6m', 'alertname': 'PakitiAggregatorStoreDown', 'exp_alerts': [alert('PakitiAggregatorStoreDown', a)]}]})

# 6. forwarding
up = dict(a, upstream='https://central:10151')
tests.append({'interval': '1m', 'input_series': [
    # Queued since t=0 and never delivered: stalled after an hour, alert 15m later.
    s('pakiti_aggregator_forward_queue_oldest_timestamp_seconds', up, '0x120'),
    s('pakiti_aggregator_forward_queue_oldest_timestamp_seconds', dict(a2, upstream='https://central:10151'), '0+60x120'),
    s('pakiti_aggregator_forward_dropped_total', dict(up, kind='stats'), '0x30 1+1x10 11x80'),
    s('pakiti_aggregator_forward_dropped_total', dict(up, kind='report'), '0x120'),
    s('pakiti_aggregator_forward_refused_total', dict(a, reason='untrusted'), '0x10 1x110'),
    s('pakiti_aggregator_forward_refused_total', dict(a, reason='site'), '0x120')],
  'alert_rule_test': [
    {'eval_time': '74m', 'alertname': 'PakitiForwardingStalled', 'exp_alerts': []},
    {'eval_time': '76m', 'alertname': 'PakitiForwardingStalled', 'exp_alerts': [alert('PakitiForwardingStalled', up, 76 * 60)]},
    {'eval_time': '20m', 'alertname': 'PakitiForwardingDropped', 'exp_alerts': []},
    {'eval_time': '45m', 'alertname': 'PakitiForwardingDropped', 'exp_alerts': [alert('PakitiForwardingDropped', dict(up, kind='stats'))]},
    {'eval_time': '5m', 'alertname': 'PakitiForwardedDataRefused', 'exp_alerts': []},
    {'eval_time': '30m', 'alertname': 'PakitiForwardedDataRefused', 'exp_alerts': [alert('PakitiForwardedDataRefused', dict(a, reason='untrusted'))]}]})

# 7. vulnerability feeds and coverage
tests.append({'interval': '1h', 'input_series': [
    s('pakiti_feed_last_import_timestamp_seconds', dict(a, feed='debian'), '0x60'),
    s('pakiti_feed_last_import_timestamp_seconds', dict(a2, feed='debian'), '0+3600x60'),
    {'series': 'pakiti_vulnerability_coverage{host="ubu-01",site="SiteA"}', 'values': '0x60'},
    {'series': 'pakiti_vulnerability_coverage{host="deb-01",site="SiteA"}', 'values': '1x60'},
    {'series': 'pakiti_vulnerabilities{host="deb-01",site="SiteA",severity="important",fix="available"}', 'values': '1x80'},
    {'series': 'pakiti_vulnerabilities{host="deb-01",site="SiteA",severity="critical",fix="available"}', 'values': '0x80'},
    {'series': 'pakiti_vulnerabilities{host="deb-02",site="SiteA",severity="critical",fix="unavailable"}', 'values': '3x80'},
    {'series': 'pakiti_vulnerabilities{host="deb-03",site="SiteA",severity="low",fix="available"}', 'values': '5x80'}],
  'alert_rule_test': [
    {'eval_time': '47h', 'alertname': 'PakitiVulnerabilityFeedStale', 'exp_alerts': []},
    {'eval_time': '49h', 'alertname': 'PakitiVulnerabilityFeedStale', 'exp_alerts': [alert('PakitiVulnerabilityFeedStale', dict(a, feed='debian'), H(49))]},
    {'eval_time': '71h', 'alertname': 'PakitiFixableVulnerabilitiesUnpatched', 'exp_alerts': []},
    {'eval_time': '73h', 'alertname': 'PakitiFixableVulnerabilitiesUnpatched', 'exp_alerts': [alert('PakitiFixableVulnerabilitiesUnpatched', {'host': 'deb-01', 'site': 'SiteA'})]},
    {'eval_time': '30m', 'alertname': 'PakitiVulnerabilitiesUnknown', 'exp_alerts': []},
    {'eval_time': '2h', 'alertname': 'PakitiVulnerabilitiesUnknown', 'exp_alerts': [alert('PakitiVulnerabilitiesUnknown', {'host': 'ubu-01', 'site': 'SiteA'})]}]})

# 8. services running outdated code: h1 for days, h2 restarted its services after a day
name = 'PakitiServicesRunOutdatedCode'
tests.append({'interval': '1h', 'input_series': [
    s('pakiti_restart_required_units', e1, '2x100'), s('pakiti_restart_required_units', e2, '1x24 0x80')],
  'alert_rule_test': [
    {'eval_time': '71h', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '73h', 'alertname': name, 'exp_alerts': [alert(name, e1)]}]})

# 8b. the same seen through the aggregator's /federate (host and site labels)
name = 'PakitiHostRunsReplacedCode'
tests[-1]['input_series'] += [
    {'series': 'pakiti_restart_required_units{host="web-01",site="SiteA",job="pakiti-federate"}', 'values': '1x100'},
    {'series': 'pakiti_restart_required_units{host="web-02",site="SiteA",job="pakiti-federate"}', 'values': '0x100'}]
tests[-1]['alert_rule_test'] += [
    {'eval_time': '71h', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '73h', 'alertname': name, 'exp_alerts': [alert(name, dict(lw1, job='pakiti-federate'))]}]

# 9. held security fixes: h1 holds a critical one for days; h2 only a low one
name = 'PakitiSecurityFixesHeld'
tests.append({'interval': '1h', 'input_series': [
    s('pakiti_security_updates_held', dict(e1, severity='critical'), '1x200'),
    s('pakiti_security_updates_held', dict(e1, severity='low'), '0x200'),
    s('pakiti_security_updates_held', dict(e2, severity='critical'), '0x200'),
    s('pakiti_security_updates_held', dict(e2, severity='low'), '3x200'),
    # through /federate: db-01 holds an important one, web-01 only a low one
    {'series': 'pakiti_security_updates_held{host="db-01",site="SiteB",severity="important",instance="agg:10151",job="pakiti-federate"}', 'values': '1x200'},
    {'series': 'pakiti_security_updates_held{host="web-01",site="SiteA",severity="low",instance="agg:10151",job="pakiti-federate"}', 'values': '2x200'}],
  'alert_rule_test': [
    {'eval_time': '167h', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '169h', 'alertname': name, 'exp_alerts': [alert(name, e1)]},
    {'eval_time': '167h', 'alertname': 'PakitiHostSecurityFixesHeld', 'exp_alerts': []},
    {'eval_time': '169h', 'alertname': 'PakitiHostSecurityFixesHeld', 'exp_alerts': [
        alert('PakitiHostSecurityFixesHeld', {'host': 'db-01', 'site': 'SiteB'})]}]})

# 10. support windows: h1's standard support ends in 60 days and everything has ended for
# h3; h2 has years left
e3 = {'instance': 'h3:10150', 'job': 'pakiti-exporter'}
tests.append({'interval': '1m', 'input_series': [
    s('pakiti_os_support_end_timestamp_seconds', dict(e1, kind='standard'), '5184000x100'),
    s('pakiti_os_support_end_timestamp_seconds', dict(e1, kind='extended', program='LTS'), '126144000x100'),
    s('pakiti_os_support_end_timestamp_seconds', dict(e2, kind='standard'), '31536000x100'),
    s('pakiti_os_support_end_timestamp_seconds', dict(e3, kind='standard'), '0x100'),
    s('pakiti_os_support_end_timestamp_seconds', dict(e3, kind='extended', program='ESM'), '0x100')],
  'alert_rule_test': [
    {'eval_time': '59m', 'alertname': 'PakitiOsStandardSupportEnding', 'exp_alerts': []},
    {'eval_time': '61m', 'alertname': 'PakitiOsStandardSupportEnding', 'exp_alerts': [
        alert('PakitiOsStandardSupportEnding', dict(e1, kind='standard'), 5184000 - 61 * 60)]},
    {'eval_time': '59m', 'alertname': 'PakitiOsOutOfSupport', 'exp_alerts': []},
    {'eval_time': '61m', 'alertname': 'PakitiOsOutOfSupport', 'exp_alerts': [alert('PakitiOsOutOfSupport', e3)]}]})
# 10b. the same through the aggregator's /federate: old-01 ended, web-01 has years
name = 'PakitiHostOutOfSupport'
tests[-1]['input_series'] += [
    {'series': 'pakiti_os_support_end_timestamp_seconds{host="old-01",site="SiteB",kind="standard",job="pakiti-federate"}', 'values': '0x100'},
    {'series': 'pakiti_os_support_end_timestamp_seconds{host="old-01",site="SiteB",kind="extended",program="LTS",job="pakiti-federate"}', 'values': '0x100'},
    {'series': 'pakiti_os_support_end_timestamp_seconds{host="web-01",site="SiteA",kind="standard",job="pakiti-federate"}', 'values': '31536000x100'}]
tests[-1]['alert_rule_test'] += [
    {'eval_time': '59m', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '61m', 'alertname': name, 'exp_alerts': [alert(name, {'host': 'old-01', 'site': 'SiteB'})]}]

# 11. fixes behind an entitlement: h1 has a security one for over a day, h2 only a
# non-security one; through /federate, web-02 has one and web-01 none
name = 'PakitiSecurityFixesNeedEntitlement'
tests.append({'interval': '1h', 'input_series': [
    s('pakiti_security_updates_unentitled', dict(e1, channel='esm-infra'), '1x40'),
    s('pakiti_security_updates_unentitled', dict(e1, channel='esm-apps'), '0x40'),
    s('pakiti_updates_unentitled', dict(e2, channel='esm-apps'), '2x40'),
    s('pakiti_security_updates_unentitled', dict(e2, channel='esm-apps'), '0x40'),
    {'series': 'pakiti_security_updates_unentitled{host="web-02",site="SiteA",instance="agg:10151",job="pakiti-federate"}', 'values': '1x40'},
    {'series': 'pakiti_security_updates_unentitled{host="web-01",site="SiteA",instance="agg:10151",job="pakiti-federate"}', 'values': '0x40'}],
  'alert_rule_test': [
    {'eval_time': '23h', 'alertname': name, 'exp_alerts': []},
    {'eval_time': '25h', 'alertname': name, 'exp_alerts': [alert(name, e1)]},
    {'eval_time': '23h', 'alertname': 'PakitiHostSecurityFixesNeedEntitlement', 'exp_alerts': []},
    {'eval_time': '25h', 'alertname': 'PakitiHostSecurityFixesNeedEntitlement', 'exp_alerts': [
        alert('PakitiHostSecurityFixesNeedEntitlement', {'host': 'web-02', 'site': 'SiteA', 'instance': 'agg:10151', 'job': 'pakiti-federate'})]}]})

# 12. decisions: past deadline per host, a KEV vulnerability in the fleet, exceptions ending, a broken file
fed = lambda name, labels, values: {'series': name + '{' + ','.join(f'{k}="{v}"' for k, v in labels.items()) + ',job="pakiti-federate"}', 'values': values}
agg = lambda name, labels, values: {'series': name + '{' + ','.join(f'{k}="{v}"' for k, v in dict(labels, instance='agg:10151', job='pakiti-aggregator').items()) + '}', 'values': values}
tests.append({'interval': '1m', 'input_series': [
    fed('pakiti_vulnerabilities_past_deadline', {'host': 'web-01', 'site': 'SiteA', 'severity': 'important'}, '0x10 2x30'),
    fed('pakiti_vulnerabilities_past_deadline', {'host': 'web-02', 'site': 'SiteA', 'severity': 'important'}, '0x40'),
    fed('pakiti_vulnerability_exposed_hosts', {'id': 'CVE-2024-3094', 'severity': 'critical', 'kev': 'true'}, '0x10 3x30'),
    fed('pakiti_vulnerability_exposed_hosts', {'id': 'CVE-2026-0001', 'severity': 'important', 'kev': 'false'}, '5x40'),
    agg('pakiti_exceptions_expiring', {'state': 'accepted_risk'}, '0x10 1x30'),
    agg('pakiti_exceptions_expiring', {'state': 'mitigated'}, '0x40'),
    agg('pakiti_aggregator_decisions_file_ok', {}, '1x10 0x30')],
  'alert_rule_test': [
    {'eval_time': '5m', 'alertname': 'PakitiVulnerabilitiesPastDeadline', 'exp_alerts': []},
    {'eval_time': '15m', 'alertname': 'PakitiVulnerabilitiesPastDeadline', 'exp_alerts': [
        alert('PakitiVulnerabilitiesPastDeadline', {'host': 'web-01', 'site': 'SiteA', 'vulnerability_severity': 'important'}) | {'exp_annotations': {k: v.replace('{{ $value }}', '2') for k, v in alert('PakitiVulnerabilitiesPastDeadline', {'host': 'web-01', 'site': 'SiteA', 'vulnerability_severity': 'important'})['exp_annotations'].items()}}]},
    {'eval_time': '5m', 'alertname': 'PakitiKnownExploitedVulnerabilityInFleet', 'exp_alerts': []},
    {'eval_time': '15m', 'alertname': 'PakitiKnownExploitedVulnerabilityInFleet', 'exp_alerts': [
        {'exp_labels': dict(R['PakitiKnownExploitedVulnerabilityInFleet']['labels'], id='CVE-2024-3094', vulnerability_severity='critical'),
         'exp_annotations': {k: render(v, {'id': 'CVE-2024-3094', 'vulnerability_severity': 'critical'}, None).replace('{{ $value }}', '3') for k, v in R['PakitiKnownExploitedVulnerabilityInFleet']['annotations'].items()}}]},
    {'eval_time': '5m', 'alertname': 'PakitiExceptionsExpiring', 'exp_alerts': []},
    {'eval_time': '15m', 'alertname': 'PakitiExceptionsExpiring', 'exp_alerts': [
        {'exp_labels': dict(R['PakitiExceptionsExpiring']['labels'], instance='agg:10151', state='accepted_risk'),
         'exp_annotations': {k: render(v, {'instance': 'agg:10151', 'state': 'accepted_risk'}, None).replace('{{ $value }}', '1') for k, v in R['PakitiExceptionsExpiring']['annotations'].items()}}]},
    {'eval_time': '14m', 'alertname': 'PakitiDecisionsFileBroken', 'exp_alerts': []},
    {'eval_time': '17m', 'alertname': 'PakitiDecisionsFileBroken', 'exp_alerts': [
        alert('PakitiDecisionsFileBroken', {'instance': 'agg:10151', 'job': 'pakiti-aggregator'})]}]})

covered = {t['alertname'] for tt in tests for t in tt['alert_rule_test']}
assert covered == set(R), set(R) - covered
slow = tests[0:1] + tests[2:3] + tests[6:9] + tests[10:11]   # days: evaluated hourly
fast = tests[1:2] + tests[3:6] + tests[9:10] + tests[-1:]
for name, tt, every in [('pakiti.rules.test.yml', fast, '1m'), ('pakiti.deadlines.test.yml', slow, '1h')]:
    doc = {'rule_files': ['pakiti.rules.yml'], 'evaluation_interval': every, 'tests': tt}
    header = f"# promtool test rules alerts/{name}\n# With the other test file, every alert of pakiti.rules.yml firing and staying silent;\n# annotations are checked word for word, so a template naming a missing label fails.\n"
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), 'w').write(header + yaml.safe_dump(doc, sort_keys=False, width=1000))
