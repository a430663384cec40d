-- A host belongs to the client that wrote it first (NULL: an open aggregator or a scrape).
-- Without a machine id, a host is named by its site and host name: two sites may each
-- have a host "web-01", and neither hides the other.
ALTER TABLE hosts ADD COLUMN owner TEXT;
DROP INDEX hosts_by_hostname_without_machine_id;
CREATE UNIQUE INDEX hosts_by_site_hostname_without_machine_id ON hosts (COALESCE(site, ''), hostname) WHERE machine_id IS NULL;
-- Bumped after every commit that changes hosts, so that replicas notice each other's
-- writes (a sequence never blocks: writers do not queue behind one row).
CREATE SEQUENCE fleet_changes;
