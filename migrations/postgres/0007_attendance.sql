-- Attendance: when an unused room was given back (auto-release).
ALTER TABLE meetings ADD COLUMN released_at TEXT;
