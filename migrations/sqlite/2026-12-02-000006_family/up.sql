-- The family's side of the cycle (SPEC §2.4, §2.5, §2.8).

-- The gateway's received_at of the answer that stands for the family-month: a later answer
-- replaces it, an earlier one that arrives late does not.
ALTER TABLE family_months ADD COLUMN answer_at TIMESTAMP;

-- A standing consent also ends with the programme. SQLite cannot change a CHECK in place.
CREATE TABLE consents_new (
    family_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('given', 'withdrawn', 'ended')),
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO consents_new (family_id, status, updated_at) SELECT family_id, status, updated_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_new RENAME TO consents;

-- The family's notices in the wallet (SW p.4, p.7).
CREATE TABLE notices (
    id INTEGER PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('vouchers_issued', 'consent_recorded', 'consent_withdrawn', 'month_ends_soon')),
    text TEXT NOT NULL,
    text_kk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Set for notices that go once per family and month (issue, the month's end near).
    dedup_key TEXT UNIQUE
);
CREATE INDEX notices_family ON notices (family_id, month);

-- The months the service runs (order p.9: the pilot order runs to 1 May 2026; extended by
-- agreement, which the operator records with PUT /api/v1/programme).
CREATE TABLE programme (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    from_month TEXT NOT NULL,
    to_month TEXT NOT NULL CHECK (from_month <= to_month),
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);
INSERT INTO programme (id, from_month, to_month, updated_at, updated_by)
VALUES (1, '2026-01', '2026-04', CURRENT_TIMESTAMP, 'order p.9');
