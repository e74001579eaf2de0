-- Version 2: organisation scoping, the access proof, upload leases, failure
-- budgets, the mail queue and token expiry (issue 8).

ALTER TABLE packages ADD COLUMN org_id INTEGER REFERENCES organisation(id);
UPDATE packages SET org_id = (SELECT org_id FROM users WHERE users.id = packages.sender_id);
-- SHA-256 of the access proof A (set when the sender finalizes).
ALTER TABLE packages ADD COLUMN access_verifier BLOB;
-- Set when the package's budget of wrong codes is spent: no code opens it any more.
ALTER TABLE packages ADD COLUMN verification_locked INTEGER NOT NULL DEFAULT 0;

-- A PATCH holds the upload's lease while it writes; a lapsed lease may be taken over.
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
ALTER TABLE uploads ADD COLUMN lease_until INTEGER;
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

ALTER TABLE audit ADD COLUMN org_id INTEGER;

-- Failure counters per key and window (window_start 0: for ever), for the
-- budgets of wrong codes and the aggregation of repeated failures.
CREATE TABLE failures (
    key           TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Code sends by subject (purpose, scope and address), for the send rate limit;
-- recorded for every request, known address or not.
DROP TABLE code_sends;
CREATE TABLE code_sends (
    subject  TEXT NOT NULL,
    sent_at  INTEGER NOT NULL
);
CREATE INDEX code_sends_by_subject ON code_sends (subject, sent_at);

-- Outgoing mail, sent by a background worker with retries (survives restarts).
CREATE TABLE mail_queue (
    id               INTEGER PRIMARY KEY,
    to_addr          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    sent_at          INTEGER
);
CREATE INDEX mail_queue_due ON mail_queue (sent_at, next_attempt_at);
