-- What others publish about a vulnerability's priority, one row per feed and
-- id: CISA's KEV catalog (feed 'kev': the days it was added and is due, as
-- days since 1970; ransomware use known) and FIRST's EPSS (feed 'epss').
-- Each import replaces its feed's rows in one transaction.
CREATE TABLE vuln_scores (
    feed TEXT NOT NULL,
    id TEXT NOT NULL,
    kev_added BIGINT,
    kev_due BIGINT,
    ransomware BOOLEAN NOT NULL DEFAULT FALSE,
    epss DOUBLE PRECISION,
    percentile DOUBLE PRECISION,
    PRIMARY KEY (id, feed)
);
CREATE INDEX vuln_scores_feed ON vuln_scores (feed);
