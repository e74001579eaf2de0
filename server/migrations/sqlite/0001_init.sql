-- Kluis schema, version 1. Times are Unix seconds (UTC).

CREATE TABLE organisation (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES organisation(id),
    email       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at  INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0
);

-- API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);

-- One-time codes (sign-in and package verification), stored as keyed hashes.
-- purpose is 'signin' (scope = '') or 'verify' (scope = package id).
CREATE TABLE codes (
    purpose     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    email       TEXT NOT NULL COLLATE NOCASE,
    code_hash   TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    tries_left  INTEGER NOT NULL,
    PRIMARY KEY (purpose, scope, email)
);

-- When codes were sent, for rate limits that survive restarts.
CREATE TABLE code_sends (
    purpose  TEXT NOT NULL,
    subject  TEXT NOT NULL,
    sent_at  INTEGER NOT NULL
);
CREATE INDEX code_sends_by_subject ON code_sends (purpose, subject, sent_at);

CREATE TABLE packages (
    id                  TEXT PRIMARY KEY,
    sender_id           INTEGER NOT NULL REFERENCES users(id),
    -- S: released only to recipients who pass the access checks; NULL once revoked or expired.
    server_share        BLOB,
    state               TEXT NOT NULL CHECK (state IN ('uploading', 'ready', 'revoked', 'expired')),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    max_downloads       INTEGER,
    downloads           INTEGER NOT NULL DEFAULT 0,
    verify              TEXT NOT NULL CHECK (verify IN ('email', 'none')),
    has_password        INTEGER NOT NULL,
    notify_on_download  INTEGER NOT NULL,
    notified            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX packages_by_sender ON packages (sender_id, created_at);
CREATE INDEX packages_by_expiry ON packages (state, expires_at);

CREATE TABLE package_recipients (
    package_id  TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (package_id, email)
);

CREATE TABLE blobs (
    package_id  TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    complete    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, idx)
);

-- tus uploads; the bytes live in the blob store under the upload id.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    package_id  TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    blob_idx    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    length      INTEGER NOT NULL,
    offset      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    UNIQUE (package_id, blob_idx)
);

-- Recipient download sessions, stored as SHA-256 hashes.
CREATE TABLE download_sessions (
    token_hash  TEXT PRIMARY KEY,
    package_id  TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    email       TEXT,
    expires_at  INTEGER NOT NULL
);

-- Append-only record of everything that happens to packages.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    package_id  TEXT,
    detail      TEXT
);
CREATE INDEX audit_by_package ON audit (package_id, at);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
