-- Findings detected (new to a host's open ones) and resolved by rematches,
-- by severity, since the database began: counters, for burn-down and mean
-- time to remediate in Prometheus.
CREATE TABLE vuln_events (
    severity TEXT PRIMARY KEY,
    detected INTEGER NOT NULL,
    resolved INTEGER NOT NULL
);
INSERT INTO vuln_events (severity, detected, resolved) VALUES
    ('critical', 0, 0), ('important', 0, 0), ('moderate', 0, 0), ('low', 0, 0), ('unknown', 0, 0);
