-- "Which hosts have this pending": one row per advisory or CVE id a pending
-- update names (kind 'a' or 'c'), so that a lookup reads only its own rows,
-- in the order pages follow (host id, package name, arch).
CREATE TABLE pending_refs (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (host_id, name, arch, kind, ref)
);
CREATE INDEX pending_refs_by_ref ON pending_refs (kind, ref, host_id, name COLLATE "C", arch COLLATE "C");

INSERT INTO pending_refs (host_id, name, arch, kind, ref)
SELECT DISTINCT host_id, name, arch, kind, ref FROM (
    SELECT host_id, name, arch, 'a' AS kind, unnest(string_to_array(advisories, ' ')) AS ref FROM pending_updates
    UNION ALL
    SELECT host_id, name, arch, 'c', unnest(string_to_array(cves, ' ')) FROM pending_updates
) s WHERE ref <> '';

-- A package's rows in the same order, counted from the index alone.
DROP INDEX pending_by_name;
CREATE INDEX pending_by_name ON pending_updates (name, host_id, arch COLLATE "C");

-- A host by name, the latest heard from first (the host page): one index
-- whatever the statistics say (stale ones made the planner walk every host
-- by report time instead).
DROP INDEX hosts_by_hostname;
CREATE INDEX hosts_by_hostname ON hosts (hostname, last_report_at DESC, id DESC);
