//! The SQL that must differ between SQLite and PostgreSQL, side by side.

use super::Backend;

/// Claims up to `$4` due jobs for lock token `$1` until `$2` (now is `$3`): queued jobs whose
/// time has come, and running jobs whose lease expired (their runner died). On PostgreSQL,
/// `FOR UPDATE SKIP LOCKED` lets several hub processes claim at once without ever taking the
/// same row; SQLite runs one writer at a time, so the plain statement is already exclusive.
pub fn claim_jobs(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lock_token = $1, \
                    locked_until = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs \
                          WHERE (state = 'queued' AND run_at <= $3) \
                             OR (state = 'running' AND locked_until <= $3) \
                          ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, tenant_id, kind, payload, attempts, max_attempts"
        }
        Backend::Sqlite => {
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lock_token = $1, \
                    locked_until = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs \
                          WHERE (state = 'queued' AND run_at <= $3) \
                             OR (state = 'running' AND locked_until <= $3) \
                          ORDER BY run_at LIMIT $4) \
             RETURNING id, tenant_id, kind, payload, attempts, max_attempts"
        }
    }
}

/// Locks a resource row (`$1` tenant, `$2` resource) until the transaction ends, so bookings
/// of one resource are checked and written one at a time. SQLite's `BEGIN IMMEDIATE` already
/// holds the database's write lock, so a plain read is enough there.
pub fn lock_resource(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT id FROM resources WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        Backend::Sqlite => "SELECT id FROM resources WHERE tenant_id = $1 AND id = $2",
    }
}

/// A tenant's confirmed meetings on a resource that overlap `[$3, $2)` (`$1` tenant), with only
/// what usage figures need: those whose (first) occurrence overlaps, read by their end, and the
/// series that start before and run into the range, read by their start. SQLite is told which
/// index to use (its planner, without statistics, may take the start index and read the whole
/// history before `$2`); PostgreSQL chooses from its statistics. The participants are counted
/// by each engine's JSON function, so the list is never parsed row by row.
pub fn meeting_usage(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT id, resource_id, start_at, end_at, time_zone, status, recurrence, checked_in_at, released_at, \
                    updated_at, json_array_length(participants::json) AS people \
             FROM meetings \
             WHERE tenant_id = $1 AND end_at > $3 AND start_at < $2 AND resource_id IS NOT NULL AND write_state = 'confirmed' \
             UNION ALL \
             SELECT id, resource_id, start_at, end_at, time_zone, status, recurrence, checked_in_at, released_at, \
                    updated_at, json_array_length(participants::json) AS people \
             FROM meetings \
             WHERE tenant_id = $1 AND recurrence IS NOT NULL AND start_at < $2 AND end_at <= $3 \
               AND (series_end_at IS NULL OR series_end_at > $3) AND resource_id IS NOT NULL AND write_state = 'confirmed'"
        }
        Backend::Sqlite => {
            "SELECT id, resource_id, start_at, end_at, time_zone, status, recurrence, checked_in_at, released_at, \
                    updated_at, json_array_length(participants) AS people \
             FROM meetings INDEXED BY meetings_tenant_end \
             WHERE tenant_id = $1 AND end_at > $3 AND start_at < $2 AND resource_id IS NOT NULL AND write_state = 'confirmed' \
             UNION ALL \
             SELECT id, resource_id, start_at, end_at, time_zone, status, recurrence, checked_in_at, released_at, \
                    updated_at, json_array_length(participants) AS people \
             FROM meetings INDEXED BY meetings_tenant_series \
             WHERE tenant_id = $1 AND recurrence IS NOT NULL AND start_at < $2 AND end_at <= $3 \
               AND (series_end_at IS NULL OR series_end_at > $3) AND resource_id IS NOT NULL AND write_state = 'confirmed'"
        }
    }
}
