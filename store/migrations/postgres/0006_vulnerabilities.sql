-- Vulnerability feeds: each import replaces its feed's records whole.
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    records BIGINT NOT NULL
);
CREATE TABLE vuln_records (
    feed TEXT NOT NULL REFERENCES feeds (name) ON DELETE CASCADE,
    release TEXT NOT NULL,
    source_package TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    fixed_version TEXT,
    severity TEXT NOT NULL,
    vendor_severity TEXT,
    description TEXT
);
CREATE INDEX vuln_records_by_source ON vuln_records (release, source_package);
CREATE INDEX vuln_records_by_feed ON vuln_records (feed);
