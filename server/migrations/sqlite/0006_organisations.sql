-- Version 6: one server, several organisations (issue 11). Each has its own
-- mail domains: addresses there are "internal" to it, and an operator's
-- `user add` finds the organisation by them. Users get a name and a role.

CREATE TABLE org_domains (
    domain  TEXT PRIMARY KEY COLLATE NOCASE,
    org_id  INTEGER NOT NULL REFERENCES organisation(id)
);
CREATE INDEX org_domains_by_org ON org_domains (org_id);

-- 'user' sends; 'admin' also runs the organisation (users, packages, audit log).
ALTER TABLE users ADD COLUMN name TEXT;
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
-- Removed users keep their row, so the audit log and their packages still
-- name them; they cannot sign in and are not listed.
ALTER TABLE users ADD COLUMN removed_at INTEGER;
CREATE INDEX users_by_org ON users (org_id, email);
