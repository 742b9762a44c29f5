DROP TABLE programme;
DROP TABLE notices;
UPDATE consents SET status = 'withdrawn' WHERE status = 'ended';
ALTER TABLE consents DROP CONSTRAINT consents_status_check;
ALTER TABLE consents ADD CONSTRAINT consents_status_check CHECK (status IN ('given', 'withdrawn'));
ALTER TABLE family_months DROP COLUMN answer_at;
