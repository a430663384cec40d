-- A host belongs to the client that wrote it first (NULL: an open aggregator or a scrape).
-- Without a machine id, a host is named by its site and host name.
ALTER TABLE hosts ADD COLUMN owner TEXT;
CREATE INDEX hosts_by_site_hostname ON hosts (hostname, site) WHERE machine_id IS NULL;
