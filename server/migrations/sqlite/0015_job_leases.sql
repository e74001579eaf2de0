-- Version 15 (issue 16): each background job (the janitor's sweep, the
-- orphan sweep, the mail worker) runs on one server process at a time when
-- several share the database. A job runs on the process that holds its
-- lease; the holder renews it each round, and another takes it over once it
-- has run out (domain/leases.rs).
CREATE TABLE job_leases (
    name    TEXT PRIMARY KEY,
    -- The process: a random id made at its start.
    holder  TEXT NOT NULL,
    -- Unix seconds; the lease is free from then on.
    until   INTEGER NOT NULL
);
