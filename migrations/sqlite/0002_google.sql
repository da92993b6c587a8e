-- Google connection (sealed OAuth tokens), pending OAuth authorizations, and resources.

CREATE TABLE connections (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants(id),
    provider               TEXT NOT NULL,
    -- 'tenant' for the tenant-wide connection, else 'user:<user id>'
    owner                  TEXT NOT NULL,
    user_id                TEXT REFERENCES users(id),
    account_email          TEXT NOT NULL,
    scopes                 TEXT NOT NULL,
    key_id                 TEXT NOT NULL,
    access_token_sealed    TEXT NOT NULL,
    refresh_token_sealed   TEXT,
    access_expires_at      TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'needs_reconsent')),
    status_reason          TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    UNIQUE (tenant_id, provider, owner)
);

CREATE TABLE oauth_states (
    state_hash     TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    owner          TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);

CREATE TABLE resources (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('ROOM', 'DEVICE')),
    capacity          INTEGER,
    description       TEXT,
    calendar_id       TEXT NOT NULL,
    calendar_created  INTEGER NOT NULL DEFAULT 0,
    enabled           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (tenant_id, calendar_id)
);
CREATE INDEX resources_tenant ON resources (tenant_id, kind, name);
