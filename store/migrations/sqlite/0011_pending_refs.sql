-- "Which hosts have this pending": one row per advisory or CVE id a pending
-- update names (kind 'a' or 'c'), so that a lookup reads only its own rows,
-- in the order pages follow (host id, package name, arch).
CREATE TABLE pending_refs (
    host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (host_id, name, arch, kind, ref)
) WITHOUT ROWID;
CREATE INDEX pending_refs_by_ref ON pending_refs (kind, ref, host_id, name, arch);

WITH RECURSIVE split(host_id, name, arch, kind, word, rest) AS (
    SELECT host_id, name, arch, 'a', '', advisories || ' ' FROM pending_updates
    UNION ALL
    SELECT host_id, name, arch, 'c', '', cves || ' ' FROM pending_updates
    UNION ALL
    SELECT host_id, name, arch, kind, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
    FROM split WHERE rest <> ''
)
INSERT OR IGNORE INTO pending_refs (host_id, name, arch, kind, ref)
SELECT host_id, name, arch, kind, word FROM split WHERE word <> '';

-- A package's rows in the same order, counted from the index alone.
DROP INDEX pending_by_name;
CREATE INDEX pending_by_name ON pending_updates (name, host_id, arch);
