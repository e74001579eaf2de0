-- SQLite's 0016 (issue 16): the per-minute limit of the calls that need no
-- sign-in, counted here so that it holds across nodes (api/limit.rs).
CREATE TABLE rate_windows (
    client        TEXT COLLATE "C" NOT NULL,
    window_start  BIGINT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (client, window_start)
);
