-- Core: tenants, users, credentials, tenant settings, durable jobs, outbox, leases.
-- Conventions (see hub/src/db/mod.rs): TEXT UUID ids, TEXT RFC 3339 UTC times of fixed width,
-- INTEGER flags, JSON as TEXT. Kept column-for-column equal to migrations/sqlite.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL CHECK (kind IN ('personal_token', 'api_key', 'device_token')),
    actor_type  TEXT NOT NULL,
    user_id     TEXT REFERENCES users(id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX credentials_tenant ON credentials (tenant_id);

CREATE TABLE tenant_settings (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    settings    TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT REFERENCES tenants(id),
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    run_at        TEXT NOT NULL,
    lock_token    TEXT,
    locked_until  TEXT,
    last_error    TEXT,
    dedupe_key    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_tenant_state ON jobs (tenant_id, state);
CREATE UNIQUE INDEX jobs_queued_dedupe ON jobs (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL;

CREATE TABLE outbox_events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    event_type  TEXT NOT NULL,
    subject_id  TEXT,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX outbox_events_subject ON outbox_events (tenant_id, subject_id);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE periodic_jobs (
    name           TEXT PRIMARY KEY,
    interval_secs  BIGINT NOT NULL,
    next_run_at    TEXT NOT NULL
);
