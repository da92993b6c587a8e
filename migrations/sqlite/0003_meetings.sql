-- Meetings, their change log, and temporary slot holds.
-- A meeting row is written 'pending' before Google is called (the reservation that conflict
-- checks see) and 'confirmed' with the Google ids afterwards; a hold reserves the new slot of a
-- meeting being moved until its Google patch is confirmed.

CREATE TABLE meetings (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    resource_id       TEXT REFERENCES resources(id),
    title             TEXT NOT NULL,
    description       TEXT,
    start_at          TEXT NOT NULL,
    end_at            TEXT NOT NULL,
    time_zone         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('SCHEDULED', 'ATTENDED', 'NO_SHOW', 'CANCELLED')),
    write_state       TEXT NOT NULL CHECK (write_state IN ('pending', 'confirmed')),
    created_by_type   TEXT NOT NULL CHECK (created_by_type IN ('AI', 'HUMAN')),
    created_by        TEXT NOT NULL,
    source            TEXT NOT NULL CHECK (source IN ('CORBI', 'EXTERNAL')),
    organizer_email   TEXT,
    participants      TEXT NOT NULL,
    location          TEXT,
    meeting_link      TEXT,
    recurrence        TEXT,
    series_end_at     TEXT,
    metadata          TEXT NOT NULL,
    calendar_id       TEXT NOT NULL,
    connection_owner  TEXT NOT NULL,
    google_event_id   TEXT NOT NULL,
    etag              TEXT,
    ical_uid          TEXT,
    sequence          INTEGER NOT NULL DEFAULT 0,
    google_updated    TEXT,
    checked_in_at     TEXT,
    cancel_reason     TEXT,
    idempotency_key   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    last_sync_time    TEXT
);
CREATE INDEX meetings_resource_time ON meetings (tenant_id, resource_id, start_at);
CREATE INDEX meetings_tenant_time ON meetings (tenant_id, start_at, id);
CREATE UNIQUE INDEX meetings_google_event ON meetings (tenant_id, calendar_id, google_event_id);
CREATE UNIQUE INDEX meetings_idempotency ON meetings (tenant_id, created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE meeting_changes (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    meeting_id   TEXT NOT NULL REFERENCES meetings(id),
    change_type  TEXT NOT NULL,
    actor_type   TEXT NOT NULL,
    actor_id     TEXT,
    at           TEXT NOT NULL,
    diff         TEXT NOT NULL
);
CREATE INDEX meeting_changes_meeting ON meeting_changes (tenant_id, meeting_id, at);

CREATE TABLE slot_holds (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    resource_id  TEXT NOT NULL REFERENCES resources(id),
    meeting_id   TEXT NOT NULL,
    start_at     TEXT NOT NULL,
    end_at       TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX slot_holds_resource ON slot_holds (tenant_id, resource_id, start_at);
