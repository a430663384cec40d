-- The advisory that fixed a record's vulnerability, where the feed is one
-- of advisories (generic OSV: DSA-…, ALSA-…); the record's id is its CVE.
ALTER TABLE vuln_records ADD COLUMN advisory TEXT;
