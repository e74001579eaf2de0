-- Version 7: single sign-on with OpenID Connect, per organisation (issue 11).
-- The client secret is sealed (ChaCha20-Poly1305 under a key derived from
-- the server key, the organisation's id as associated data): a copy of the
-- database alone does not give it away.
CREATE TABLE org_sso (
    org_id         INTEGER PRIMARY KEY REFERENCES organisation(id),
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  BLOB NOT NULL,
    -- Unknown addresses of the organisation's mail domains become users (role user) at their first sign-in.
    create_users   INTEGER NOT NULL DEFAULT 0,
    -- Accept the provider's `email` claim without `email_verified` (Entra ID sends none).
    trust_email    INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL
);

-- A sign-in on its way through the provider: SHA-256 of `state` and of the
-- browser cookie that started it. Nonce and PKCE verifier are derived from
-- `state` with the server key, so nothing here lets anyone finish the flow.
CREATE TABLE sso_flows (
    state_hash    TEXT PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES organisation(id),
    browser_hash  TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
);

-- The one-time code that hands a finished sign-in to the page (60 s, SHA-256 only).
CREATE TABLE sso_handoffs (
    hash        TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    expires_at  INTEGER NOT NULL
);
