-- Insights: the daily operations figures, one row per tenant, day (UTC) and counter, added to
-- with `count = count + n` so every hub process writing the same day adds up.
CREATE TABLE daily_stats (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    day         TEXT NOT NULL,
    counter     TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, counter)
);
-- /metrics reads one day across tenants without scanning the table.
CREATE INDEX daily_stats_day ON daily_stats (day);
-- The occupancy read: single meetings by their end (a range near today reads only the meetings
-- ending after its start), series by their first start (few rows).
CREATE INDEX meetings_tenant_end ON meetings (tenant_id, end_at);
CREATE INDEX meetings_tenant_series ON meetings (tenant_id, start_at) WHERE recurrence IS NOT NULL;
