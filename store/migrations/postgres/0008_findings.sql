-- Vulnerability findings: one row per host, vulnerability and installed
-- package; open while resolved_at is NULL, kept once resolved (exposure
-- time) until history retention drops it. vuln_counts: the host's open
-- counted findings, "fixable;unfixable" by severity; NULL when no loaded
-- feed covers the host (unknown, never clean).
CREATE TABLE vuln_findings (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    package TEXT NOT NULL,
    arch TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    source_package TEXT NOT NULL,
    source_version TEXT NOT NULL,
    status TEXT NOT NULL,
    fixed_version TEXT,
    fix_available BOOLEAN NOT NULL,
    severity TEXT NOT NULL,
    vendor_severity TEXT,
    kernel TEXT,
    first_seen BIGINT NOT NULL,
    resolved_at BIGINT,
    PRIMARY KEY (host_id, id, package, arch)
);
CREATE INDEX vuln_findings_open_by_id ON vuln_findings (id) WHERE resolved_at IS NULL;
CREATE INDEX vuln_findings_resolved ON vuln_findings (resolved_at) WHERE resolved_at IS NOT NULL;
ALTER TABLE hosts ADD COLUMN vuln_counts TEXT;
-- SHA-256 of the host's open findings as the last rematch wrote them: a rematch
-- that finds the same writes (and reads) nothing.
ALTER TABLE hosts ADD COLUMN vuln_digest BYTEA;
-- The feed's own time (OSV: its newest document; the tracker: its file's time), so
-- that an older feed is not imported over a newer one.
ALTER TABLE feeds ADD COLUMN feed_time BIGINT;
