-- Edge devices: enrollment codes, enrolled devices (MQTT login, sealed device key), each
-- resource's sealed schedule key and snapshot version, and the inbox of what devices sent.
-- A device token is a credential of kind device_token bound to one resource (credentials.resource_id).

ALTER TABLE credentials ADD COLUMN resource_id TEXT;

CREATE TABLE device_enrollments (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    resource_id  TEXT NOT NULL REFERENCES resources(id),
    code_hash    TEXT NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    device_id    TEXT
);
CREATE INDEX device_enrollments_resource ON device_enrollments (tenant_id, resource_id);

CREATE TABLE devices (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    resource_id         TEXT NOT NULL REFERENCES resources(id),
    credential_id       TEXT NOT NULL REFERENCES credentials(id),
    mqtt_password_hash  TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    device_key_sealed   TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    last_seen_at        TEXT,
    agent_version       TEXT,
    cache_version       BIGINT,
    outbox_len          BIGINT,
    revoked_at          TEXT
);
CREATE INDEX devices_resource ON devices (tenant_id, resource_id);

CREATE TABLE edge_resources (
    resource_id          TEXT PRIMARY KEY REFERENCES resources(id),
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    key_id               TEXT NOT NULL,
    resource_key_sealed  TEXT NOT NULL,
    key_generation       BIGINT NOT NULL,
    snapshot_version     BIGINT NOT NULL DEFAULT 0,
    updated_at           TEXT NOT NULL
);

CREATE TABLE edge_inbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    device_id        TEXT NOT NULL REFERENCES devices(id),
    idempotency_key  TEXT NOT NULL,
    kind             TEXT NOT NULL,
    message          TEXT NOT NULL,
    sent_at          TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    answer           TEXT,
    UNIQUE (device_id, idempotency_key)
);
CREATE INDEX edge_inbox_device ON edge_inbox (tenant_id, device_id, received_at);
