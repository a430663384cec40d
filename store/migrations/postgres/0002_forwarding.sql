-- Forwarding between aggregators (issue 7).
-- The downstream aggregator that forwarded a host's latest report.
ALTER TABLE hosts ADD COLUMN forwarded_by TEXT;

-- Items waiting for an upstream aggregator, oldest first.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    upstream TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_by_upstream ON outbox (upstream, id);

-- What each upstream's cap dropped, per kind, over the database's life.
CREATE TABLE outbox_drops (
    upstream TEXT NOT NULL,
    kind TEXT NOT NULL,
    dropped BIGINT NOT NULL,
    PRIMARY KEY (upstream, kind)
);

-- The latest statistics per downstream server and site (central side).
CREATE TABLE site_stats (
    server TEXT NOT NULL,
    site TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    generated_at BIGINT,
    hosts BIGINT NOT NULL,
    hosts_pending BIGINT NOT NULL,
    hosts_security TEXT NOT NULL,
    hosts_reboot BIGINT NOT NULL,
    hosts_stale BIGINT NOT NULL,
    updates_pending BIGINT NOT NULL,
    security_updates TEXT NOT NULL,
    oldest_security_since BIGINT,
    PRIMARY KEY (server, site)
);
