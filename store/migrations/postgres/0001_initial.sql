-- pakiti aggregator, PostgreSQL schema version 1. Times are Unix milliseconds.
CREATE TABLE hosts (
    id BIGSERIAL PRIMARY KEY,
    machine_id TEXT UNIQUE,
    hostname TEXT NOT NULL,
    site TEXT,
    os_id TEXT NOT NULL,
    os_version TEXT NOT NULL,
    os_name TEXT,
    kernel TEXT NOT NULL,
    arch TEXT NOT NULL,
    manager TEXT NOT NULL,
    exporter_version TEXT NOT NULL,
    exporter_revision TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_report_at BIGINT NOT NULL,
    collected_at BIGINT NOT NULL,
    collection_duration_ms BIGINT NOT NULL,
    content_hash BYTEA NOT NULL,
    reboot_required BOOLEAN NOT NULL,
    reboot_packages TEXT NOT NULL,
    metadata_updated_at BIGINT,
    security_metadata_available BOOLEAN NOT NULL,
    installed_packages BIGINT NOT NULL,
    pending INTEGER NOT NULL,
    sec_critical INTEGER NOT NULL,
    sec_important INTEGER NOT NULL,
    sec_moderate INTEGER NOT NULL,
    sec_low INTEGER NOT NULL,
    sec_unknown INTEGER NOT NULL,
    held INTEGER NOT NULL,
    security_pending_since BIGINT,
    since_critical BIGINT,
    since_important BIGINT,
    since_moderate BIGINT,
    since_low BIGINT,
    since_unknown BIGINT
);
-- Hosts without a machine id are known by their name: one row per name.
CREATE UNIQUE INDEX hosts_by_hostname_without_machine_id ON hosts (hostname) WHERE machine_id IS NULL;
CREATE INDEX hosts_by_hostname ON hosts (hostname);
CREATE INDEX hosts_by_last_report ON hosts (last_report_at);

CREATE TABLE pending_updates (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    severity TEXT,
    held_reason TEXT,
    repository TEXT,
    advisories TEXT NOT NULL,
    cves TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    candidate_first_seen BIGINT NOT NULL,
    security_first_seen BIGINT,
    PRIMARY KEY (host_id, name, arch)
);
CREATE INDEX pending_by_name ON pending_updates (name);

CREATE TABLE history (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    pending INTEGER NOT NULL,
    sec_critical INTEGER NOT NULL,
    sec_important INTEGER NOT NULL,
    sec_moderate INTEGER NOT NULL,
    sec_low INTEGER NOT NULL,
    sec_unknown INTEGER NOT NULL,
    held INTEGER NOT NULL,
    reboot_required BOOLEAN NOT NULL,
    PRIMARY KEY (host_id, at)
);
CREATE INDEX history_by_time ON history (at);

-- Work shared between replicas (a scrape target per interval): who holds it, until when.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);
