-- Version 9: licences and seats (issue 12).
--
-- An organisation's licence as installed: its text form, verified again
-- (signature and dates) whenever it is read, so a row changed by hand is
-- not a licence. One per organisation; installing another replaces it (the
-- audit log keeps which were installed, by whom).
CREATE TABLE licences (
    org_id        INTEGER PRIMARY KEY REFERENCES organisation(id),
    text          TEXT NOT NULL,
    installed_at  INTEGER NOT NULL,
    installed_by  TEXT NOT NULL
);

-- A seat: a named user who may send. Taken at a user's first send while
-- the organisation has seats free, or given and taken back by an admin. A
-- disabled or removed user's seat no longer counts.
ALTER TABLE users ADD COLUMN seat INTEGER NOT NULL DEFAULT 0;
