-- Forwarding between aggregators (issue 7).
-- The downstream aggregator that forwarded a host's latest report.
ALTER TABLE hosts ADD COLUMN forwarded_by TEXT;

-- Items waiting for an upstream aggregator, oldest first.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upstream TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_by_upstream ON outbox (upstream, id);

-- What each upstream's cap dropped, per kind, over the database's life.
CREATE TABLE outbox_drops (
    upstream TEXT NOT NULL,
    kind TEXT NOT NULL,
    dropped INTEGER NOT NULL,
    PRIMARY KEY (upstream, kind)
);

-- The latest statistics per downstream server and site (central side).
CREATE TABLE site_stats (
    server TEXT NOT NULL,
    site TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    generated_at INTEGER,
    hosts INTEGER NOT NULL,
    hosts_pending INTEGER NOT NULL,
    hosts_security TEXT NOT NULL,
    hosts_reboot INTEGER NOT NULL,
    hosts_stale INTEGER NOT NULL,
    updates_pending INTEGER NOT NULL,
    security_updates TEXT NOT NULL,
    oldest_security_since INTEGER,
    PRIMARY KEY (server, site)
);
