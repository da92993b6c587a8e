-- The console: people's names and whether they may still act, browser sessions, one-time
-- sign-in links and pending Google sign-ins. Kept column-for-column equal to migrations/sqlite.

ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN active BIGINT NOT NULL DEFAULT 1;

-- A signed-in browser. Only the SHA-256 of the cookie's secret is kept.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    idle_secs     BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

-- A one-time sign-in link (`hub user login-link`), usable once before it expires.
CREATE TABLE signin_links (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    next_path   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

-- A Google sign-in on its way through Google's consent screen, keyed by the state's hash.
CREATE TABLE signin_states (
    state_hash  TEXT PRIMARY KEY,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    next_path   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
