-- Version 13 (issue 13): receiving files. docs/inbound.md describes the flows.

-- Every user's age X25519 identity, made in their own client. The server
-- keeps only the public half and the identity encrypted with the user's
-- passphrase (an armored age file with one scrypt stanza), and, while the
-- organisation has recovery on, a copy encrypted to its recovery recipient.
CREATE TABLE user_keys (
    user_id             INTEGER PRIMARY KEY REFERENCES users(id),
    recipient           TEXT NOT NULL,
    wrapped             TEXT NOT NULL,
    recovery            TEXT,
    recovery_recipient  TEXT,
    -- An admin recovered the key under a passphrase they chose.
    must_change         INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX user_keys_by_recipient ON user_keys (recipient);

-- The organisation's recovery recipient (age1…); its identity stays offline
-- with the admin. NULL: recovery is off.
ALTER TABLE organisation ADD COLUMN recovery_recipient TEXT;
-- Whether recipients may reply securely to what its users send. NULL: yes.
ALTER TABLE organisation ADD COLUMN allow_replies INTEGER;

-- Upload requests: a link https://HOST/r/<id>#<recipient> a user sends to
-- outsiders, who upload files encrypted to that recipient ('request'); the
-- same for a recipient replying to a package ('reply', made when they first
-- reply; package_id is the package answered); and an organisation's
-- permanent upload page https://HOST/upload/<name> ('portal', made by an
-- admin), whose uploads are encrypted to every one of its receivers.
CREATE TABLE upload_requests (
    id           TEXT PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES organisation(id),
    -- Who made it (a reply's: the package's sender); their quotas count its uploads.
    user_id      INTEGER NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL DEFAULT 'request' CHECK (kind IN ('request', 'reply', 'portal')),
    package_id   TEXT UNIQUE,
    name         TEXT UNIQUE COLLATE NOCASE,
    recipient    TEXT NOT NULL,
    message      TEXT,
    verify       TEXT NOT NULL CHECK (verify IN ('email', 'none')),
    max_uploads  INTEGER NOT NULL,
    max_bytes    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    closed_at    INTEGER
);
CREATE INDEX upload_requests_by_user ON upload_requests (user_id, created_at);

-- Who receives what comes in through a request: its maker, a package's
-- sender, or a portal's receivers. The inbox lists what came in for them.
CREATE TABLE request_receivers (
    request_id  TEXT NOT NULL REFERENCES upload_requests(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (request_id, user_id)
);
CREATE INDEX request_receivers_by_user ON request_receivers (user_id);

-- Who may upload through a request; none: anyone with the link.
CREATE TABLE upload_request_emails (
    request_id  TEXT NOT NULL REFERENCES upload_requests(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (request_id, email)
);

-- An uploader's session on one request, stored as SHA-256 of its token.
CREATE TABLE uploader_sessions (
    token_hash  TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES upload_requests(id) ON DELETE CASCADE,
    email       TEXT NOT NULL COLLATE NOCASE,
    verified    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- A delivery (what came in through a request) is a package of the
-- requester (sender_id is its owner) with the uploader's facts. It has no
-- S and no verifiers: it is encrypted to the owner's recipient.
ALTER TABLE packages ADD COLUMN request_id TEXT REFERENCES upload_requests(id);
ALTER TABLE packages ADD COLUMN uploader_email TEXT;
ALTER TABLE packages ADD COLUMN uploader_verified INTEGER;
-- The session that may write it.
ALTER TABLE packages ADD COLUMN uploader_session TEXT;
ALTER TABLE packages ADD COLUMN received_at INTEGER;
CREATE INDEX packages_inbound ON packages (sender_id, received_at) WHERE request_id IS NOT NULL;
