-- Fixes behind a channel the host is not entitled to (the report's "unentitled"): the
-- counts the fleet's pages and /federate read, and the list (JSON) for the host's page.
-- NULL where the host's exporter cannot see such channels: unknown, never "none".
ALTER TABLE hosts ADD COLUMN unentitled_updates INTEGER;
ALTER TABLE hosts ADD COLUMN unentitled_security INTEGER;
ALTER TABLE hosts ADD COLUMN unentitled TEXT;
