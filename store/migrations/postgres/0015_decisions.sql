-- Decisions recorded in the web UI (the decisions file is the other source):
-- an exception or a tag, its fields as JSON in the decisions file's keys.
-- Every change, from the UI or the file, goes to the audit log: who, when,
-- what the decision was before and after (JSON; NULL for none).
CREATE TABLE decisions (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    vulnerability TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE decision_audit (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    vulnerability TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX decision_audit_by_vulnerability ON decision_audit (vulnerability, seq);
