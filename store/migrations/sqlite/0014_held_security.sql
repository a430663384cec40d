-- The security updates among each host's held ones (held, kept back, phased), by severity:
-- fixes that will not install by themselves, for /federate. Filled here from the pending
-- updates already stored, so a host need not report again to be counted.
ALTER TABLE hosts ADD COLUMN held_critical INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN held_important INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN held_moderate INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN held_low INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN held_unknown INTEGER NOT NULL DEFAULT 0;
UPDATE hosts SET held_critical = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'critical');
UPDATE hosts SET held_important = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'important');
UPDATE hosts SET held_moderate = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'moderate');
UPDATE hosts SET held_low = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'low');
UPDATE hosts SET held_unknown = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'unknown');
