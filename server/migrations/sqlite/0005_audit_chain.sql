-- Version 5: the audit log is hash-chained per organisation (issue 11;
-- domain/audit.rs says what is hashed). Rows written before this version
-- are chained by the Rust step that runs right after this file, in the same
-- transaction (store/sqlite/mod.rs, `MIGRATIONS`).

-- SHA-256 of the previous row of the same organisation (32 zero bytes for
-- its first row), and of this row's contents with that.
ALTER TABLE audit ADD COLUMN prev_hash BLOB;
ALTER TABLE audit ADD COLUMN hash BLOB;

-- The newest row of an organisation, and its chain in order.
CREATE INDEX audit_by_org ON audit (org_id, id);

-- The head of each organisation's chain: its newest row and that row's
-- hash, written with the row. A new row chains onto this head, so deleting
-- the newest rows leaves a gap that the next row shows, and verification
-- compares the chain's end with it. `org_id` 0 is the chain of rows written
-- before rows had an organisation (version 2).
CREATE TABLE audit_head (
    org_id   INTEGER PRIMARY KEY,
    last_id  INTEGER NOT NULL,
    hash     BLOB NOT NULL
);

-- A row is written chained; its contents never change, and its chain
-- columns are set once (by the step above for older rows).
CREATE TRIGGER audit_chained BEFORE INSERT ON audit
    WHEN NEW.hash IS NULL OR NEW.prev_hash IS NULL
    BEGIN SELECT RAISE(ABORT, 'audit rows are written with their hash'); END;
DROP TRIGGER audit_append_only_update;
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    WHEN OLD.hash IS NOT NULL OR OLD.prev_hash IS NOT NULL
        OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.event IS NOT OLD.event
        OR NEW.actor IS NOT OLD.actor OR NEW.package_id IS NOT OLD.package_id
        OR NEW.detail IS NOT OLD.detail OR NEW.org_id IS NOT OLD.org_id
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
