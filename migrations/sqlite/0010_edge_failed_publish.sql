-- A schedule version is committed before it is published. When its publish fails, the
-- version is noted here and the retry publishes under the same number (unless a newer
-- version was taken meanwhile); 0 means nothing is owed.
ALTER TABLE edge_resources ADD COLUMN failed_version INTEGER NOT NULL DEFAULT 0;
