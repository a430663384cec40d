-- What each host runs beside what it has installed (the report's "running"): the counts
-- the fleet's pages and /federate read, and the whole of it (JSON) for the host's page.
-- NULL where the host's exporter did not look or cannot see: unknown, never "none".
ALTER TABLE hosts ADD COLUMN restart_processes INTEGER;
ALTER TABLE hosts ADD COLUMN restart_units INTEGER;
ALTER TABLE hosts ADD COLUMN restart_sessions INTEGER;
ALTER TABLE hosts ADD COLUMN livepatches INTEGER;
ALTER TABLE hosts ADD COLUMN running TEXT;
