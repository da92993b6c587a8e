-- Two-way sync: the calendars CORBI follows (sync token, health), their push channels, the
-- push receipts (dedupe on channel id + message number), and the write intent of meetings
-- (set while CORBI itself writes an event to Google, so sync does not mistake the echo for an
-- external change).

CREATE TABLE sync_calendars (
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    calendar_id        TEXT NOT NULL,
    resource_id        TEXT REFERENCES resources(id),
    connection_owner   TEXT NOT NULL,
    sync_token         TEXT,
    enabled            INTEGER NOT NULL DEFAULT 1,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    status_reason      TEXT,
    failures           INTEGER NOT NULL DEFAULT 0,
    next_safety_at     TEXT NOT NULL,
    last_synced_at     TEXT,
    last_full_sync_at  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, calendar_id)
);
CREATE INDEX sync_calendars_due ON sync_calendars (enabled, status, next_safety_at);

CREATE TABLE sync_channels (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    calendar_id         TEXT NOT NULL,
    connection_owner    TEXT NOT NULL,
    google_resource_id  TEXT,
    token_hash          TEXT NOT NULL,
    expires_at          TEXT,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'active', 'replaced', 'stopped')),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX sync_channels_calendar ON sync_channels (tenant_id, calendar_id, status);
CREATE INDEX sync_channels_expiry ON sync_channels (status, expires_at);

CREATE TABLE sync_receipts (
    channel_id      TEXT NOT NULL,
    message_number  INTEGER NOT NULL,
    resource_state  TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (channel_id, message_number)
);
CREATE INDEX sync_receipts_received ON sync_receipts (received_at);

ALTER TABLE meetings ADD COLUMN write_intent_until TEXT;
