-- Notifications: each tenant's vendor credentials (one sealed JSON document) and the log that
-- makes every notice go out at most once per (meeting, change, channel, recipient).
--
-- A log row is written 'pending' before anything is sent, moved to 'sending' (with the claim of
-- the attempt) and committed before the vendor is called, then to 'sent' (with the vendor's id),
-- 'failed' (permanent refusal, with the vendor's error), back to 'pending' (the vendor refused
-- for now: 429/5xx, or the request never left) or 'unknown' (the vendor may have accepted it but
-- we could not record the answer: never resent, shown to admins). 'skipped' rows record
-- recipients that could not be addressed (no phone number).

CREATE TABLE notification_credentials (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants(id),
    key_id            TEXT NOT NULL,
    secrets_sealed    TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE notification_log (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    meeting_id        TEXT NOT NULL,
    change_id         TEXT NOT NULL,
    change_type       TEXT NOT NULL,
    channel           TEXT NOT NULL CHECK (channel IN ('email', 'whatsapp')),
    recipient         TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'skipped')),
    claim             TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    vendor_id         TEXT,
    delivery_status   TEXT,
    error             TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE UNIQUE INDEX notification_log_once ON notification_log (meeting_id, change_id, channel, recipient);
CREATE INDEX notification_log_state ON notification_log (tenant_id, state, created_at);
CREATE INDEX notification_log_change ON notification_log (tenant_id, change_id, channel);
