-- The installed inventory: each distinct package stored once (never deleted,
-- so an id keeps its meaning); version_key sorts as the version does in the
-- scheme's order (NULL where the scheme gives it none).
CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    source_name TEXT NOT NULL,
    source_version TEXT NOT NULL,
    module TEXT NOT NULL,
    scheme TEXT NOT NULL,
    version_key BYTEA,
    UNIQUE (name, version, arch, source_name, source_version, module, scheme)
);
CREATE INDEX packages_by_name_key ON packages (name, scheme, version_key);
CREATE INDEX packages_by_source ON packages (source_name);

-- A host's packages, as package ids by block of 1,024 ids: each block the
-- offsets in it (2 bytes each) or, when it holds 64 or more, a 128-byte
-- bitmap. Rows per host, so that concurrent reports of different hosts never
-- wait for each other (MVCC makes a row shared by many hosts a hot spot);
-- "which hosts have package P" reads the rows of P's block.
CREATE TABLE host_blocks (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    block BIGINT NOT NULL,
    ids BYTEA NOT NULL,
    PRIMARY KEY (host_id, block)
);
CREATE INDEX host_blocks_by_block ON host_blocks (block);

-- When a host's installed version of a package changed.
CREATE TABLE installed_history (
    host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    name TEXT NOT NULL,
    arch TEXT NOT NULL,
    old_version TEXT,
    new_version TEXT
);
CREATE INDEX installed_history_by_host ON installed_history (host_id, at);
CREATE INDEX installed_history_by_at ON installed_history (at);

-- NULL: the host's exporter sends no inventory.
ALTER TABLE hosts ADD COLUMN inventory_hash BYTEA;
ALTER TABLE hosts ADD COLUMN os_codename TEXT;
ALTER TABLE hosts ADD COLUMN os_cpe_name TEXT;
ALTER TABLE hosts ADD COLUMN os_platform_id TEXT;
ALTER TABLE hosts ADD COLUMN running_kernel_package TEXT;
ALTER TABLE hosts ADD COLUMN running_kernel_version TEXT;
ALTER TABLE hosts ADD COLUMN esm_enabled BOOLEAN;
