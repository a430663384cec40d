-- pakiti aggregator, SQLite schema version 1. Times are Unix milliseconds.
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY,
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
    first_seen INTEGER NOT NULL,
    last_report_at INTEGER NOT NULL,
    collected_at INTEGER NOT NULL,
    collection_duration_ms INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    reboot_required INTEGER NOT NULL,
    reboot_packages TEXT NOT NULL,
    metadata_updated_at INTEGER,
    security_metadata_available INTEGER NOT NULL,
    installed_packages INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    sec_critical INTEGER NOT NULL,
    sec_important INTEGER NOT NULL,
    sec_moderate INTEGER NOT NULL,
    sec_low INTEGER NOT NULL,
    sec_unknown INTEGER NOT NULL,
    held INTEGER NOT NULL,
    security_pending_since INTEGER
);
CREATE INDEX hosts_by_hostname ON hosts (hostname);
CREATE INDEX hosts_by_last_report ON hosts (last_report_at);

CREATE TABLE pending_updates (
    host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    installed_version TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    severity TEXT,
    held_reason TEXT,
    repository TEXT,
    advisories TEXT NOT NULL,
    cves TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    candidate_first_seen INTEGER NOT NULL,
    security_first_seen INTEGER,
    PRIMARY KEY (host_id, name, arch)
) WITHOUT ROWID;
CREATE INDEX pending_by_name ON pending_updates (name);

CREATE TABLE history (
    host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    sec_critical INTEGER NOT NULL,
    sec_important INTEGER NOT NULL,
    sec_moderate INTEGER NOT NULL,
    sec_low INTEGER NOT NULL,
    sec_unknown INTEGER NOT NULL,
    held INTEGER NOT NULL,
    reboot_required INTEGER NOT NULL,
    PRIMARY KEY (host_id, at)
) WITHOUT ROWID;
CREATE INDEX history_by_time ON history (at);
