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
