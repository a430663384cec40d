-- The installed inventory: each distinct package stored once (never deleted,
-- so an id keeps its meaning); version_key sorts as the version does in the
-- scheme's order (NULL where the scheme gives it none).
CREATE TABLE packages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    source_name TEXT NOT NULL,
    source_version TEXT NOT NULL,
    module TEXT NOT NULL,
    scheme TEXT NOT NULL,
    version_key BLOB,
    UNIQUE (name, version, arch, source_name, source_version, module, scheme)
);
CREATE INDEX packages_by_name_key ON packages (name, scheme, version_key);
CREATE INDEX packages_by_source ON packages (source_name);

-- A host's packages: its sorted package ids, delta-encoded (LEB128).
CREATE TABLE host_inventory (
    host_id INTEGER PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    package_ids BLOB NOT NULL
);

-- Which hosts have a package: one bitmap per package and shard of 1,024 host ids.
CREATE TABLE package_hosts (
    package_id INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    bits BLOB NOT NULL,
    PRIMARY KEY (package_id, shard)
) WITHOUT ROWID;

-- When a host's installed version of a package changed.
CREATE TABLE installed_history (
    host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    old_version TEXT,
    new_version TEXT
);
CREATE INDEX installed_history_by_host ON installed_history (host_id, at);
CREATE INDEX installed_history_by_at ON installed_history (at);

-- NULL: the host's exporter sends no inventory.
ALTER TABLE hosts ADD COLUMN inventory_hash BLOB;
ALTER TABLE hosts ADD COLUMN os_codename TEXT;
ALTER TABLE hosts ADD COLUMN os_cpe_name TEXT;
ALTER TABLE hosts ADD COLUMN os_platform_id TEXT;
ALTER TABLE hosts ADD COLUMN running_kernel_package TEXT;
ALTER TABLE hosts ADD COLUMN running_kernel_version TEXT;
ALTER TABLE hosts ADD COLUMN esm_enabled INTEGER;
