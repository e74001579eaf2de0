-- Version 12 (issue 12, data lifecycle): soft delete. A package its sender
-- or an admin deletes keeps S and its blobs for `limits.restore_days`; it
-- is invisible meanwhile (it cannot be opened, listed or counted) except in
-- the admin's list of deleted packages, from which an admin may restore it.
-- Afterwards the janitor purges it (S, blobs, row). NULL: not deleted.
ALTER TABLE packages ADD COLUMN deleted_at INTEGER;
ALTER TABLE packages ADD COLUMN deleted_by TEXT;
CREATE INDEX packages_deleted ON packages (deleted_at) WHERE deleted_at IS NOT NULL;
