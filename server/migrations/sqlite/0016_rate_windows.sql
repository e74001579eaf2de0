-- Version 16 (issue 16): the per-minute limit of the calls that need no
-- sign-in, counted in the database so that it holds across server processes
-- (api/limit.rs). One row per client address and minute; the janitor
-- forgets windows that have ended.
CREATE TABLE rate_windows (
    client        TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (client, window_start)
);
