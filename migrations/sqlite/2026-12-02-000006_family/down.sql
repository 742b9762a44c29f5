DROP TABLE programme;
DROP TABLE notices;
CREATE TABLE consents_old (
    family_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('given', 'withdrawn')),
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO consents_old (family_id, status, updated_at)
SELECT family_id, CASE status WHEN 'ended' THEN 'withdrawn' ELSE status END, updated_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_old RENAME TO consents;
ALTER TABLE family_months DROP COLUMN answer_at;
