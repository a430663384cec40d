-- Per severity: first time the oldest still pending security update of that
-- severity was seen pending as such (Unix milliseconds), for patch deadlines.
ALTER TABLE hosts ADD COLUMN since_critical INTEGER;
ALTER TABLE hosts ADD COLUMN since_important INTEGER;
ALTER TABLE hosts ADD COLUMN since_moderate INTEGER;
ALTER TABLE hosts ADD COLUMN since_low INTEGER;
ALTER TABLE hosts ADD COLUMN since_unknown INTEGER;
