-- Safety (issue 17): why a series read from Google cannot be expanded (it then counts as its
-- first occurrence only, and shows as a calendar warning).
ALTER TABLE meetings ADD COLUMN recurrence_error TEXT;
