-- The security updates among each host's held ones (held, kept back, phased), by severity:
-- fixes that will not install by themselves, for /federate. Filled here from the pending
-- updates already stored, so a host need not report again to be counted.
ALTER TABLE hosts
    ADD COLUMN held_critical integer NOT NULL DEFAULT 0,
    ADD COLUMN held_important integer NOT NULL DEFAULT 0,
    ADD COLUMN held_moderate integer NOT NULL DEFAULT 0,
    ADD COLUMN held_low integer NOT NULL DEFAULT 0,
    ADD COLUMN held_unknown integer NOT NULL DEFAULT 0;
UPDATE hosts SET
    held_critical = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'critical'),
    held_important = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'important'),
    held_moderate = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'moderate'),
    held_low = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'low'),
    held_unknown = (SELECT count(*) FROM pending_updates p WHERE p.host_id = hosts.id AND p.held_reason IS NOT NULL AND p.severity = 'unknown');
