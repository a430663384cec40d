-- Each upstream's queue length and payload bytes, kept with every insert and
-- delete, so that applying the cap costs the same whatever the queue's length.
CREATE TABLE outbox_counts (
    upstream TEXT PRIMARY KEY,
    items BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
INSERT INTO outbox_counts (upstream, items, bytes)
    SELECT upstream, COUNT(*), COALESCE(SUM(length(payload)), 0) FROM outbox GROUP BY upstream;
-- The oldest item of a kind, by index.
CREATE INDEX outbox_by_kind ON outbox (upstream, kind, id);
