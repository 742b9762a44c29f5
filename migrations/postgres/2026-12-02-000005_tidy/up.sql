-- The answer's status was written and never read: the stored response is what a retry gets.
ALTER TABLE idempotency_keys DROP COLUMN status_code;
