-- Version 8: an organisation's own settings within the server's (issue 11):
-- expiry of its packages, and how long its audit log is kept. NULL: the
-- server's default (for the log: kept for ever).
ALTER TABLE organisation ADD COLUMN default_expiry_days INTEGER;
ALTER TABLE organisation ADD COLUMN max_expiry_days INTEGER;
ALTER TABLE organisation ADD COLUMN audit_retention_days INTEGER;

-- Where an organisation's chain starts once its oldest rows were deleted
-- for retention: its first remaining row, and the hash of the last deleted
-- row, which that row's prev_hash must be. Written before the deletion, in
-- the same transaction.
CREATE TABLE audit_anchor (
    org_id     INTEGER PRIMARY KEY,
    first_id   INTEGER NOT NULL,
    prev_hash  BLOB NOT NULL
);

-- The rows of an organisation older than a moment (the retention sweep).
CREATE INDEX audit_by_org_time ON audit (org_id, at);

-- Rows are deleted only before their organisation's anchor (retention);
-- any other delete is refused.
DROP TRIGGER audit_append_only_delete;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    WHEN NOT EXISTS (SELECT 1 FROM audit_anchor a WHERE a.org_id = COALESCE(OLD.org_id, 0) AND OLD.id < a.first_id)
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
