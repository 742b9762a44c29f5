-- The monthly cycle. Times are UTC (TIMESTAMP text written by diesel); days and months are Almaty.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE operators (
    login TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'viewer')),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE login_attempts (
    subject TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL
);

CREATE TABLE localities (
    kato TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    pilot BOOLEAN NOT NULL
);

CREATE TABLE shops (
    shop_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kato TEXT NOT NULL,
    region TEXT NOT NULL,
    address TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE cashiers (
    shop_id TEXT NOT NULL REFERENCES shops (shop_id),
    login TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (shop_id, login)
);

CREATE TABLE catalog_groups (
    code TEXT PRIMARY KEY NOT NULL,
    name_ru TEXT NOT NULL,
    name_kk TEXT NOT NULL,
    in_force BOOLEAN NOT NULL
);

CREATE TABLE products (
    gtin TEXT PRIMARY KEY NOT NULL,
    group_code TEXT NOT NULL REFERENCES catalog_groups (code),
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('piece', 'kg')),
    discount_cap_bp INTEGER NOT NULL CHECK (discount_cap_bp BETWEEN 0 AND 10000)
);

CREATE TABLE rates (
    month TEXT NOT NULL,
    region TEXT NOT NULL, -- '' is the month's default
    amount_tiyn BIGINT NOT NULL CHECK (amount_tiyn > 0),
    PRIMARY KEY (month, region)
);

CREATE TABLE months (
    month TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at TIMESTAMP,
    no_answer BIGINT NOT NULL DEFAULT 0,
    lapsed BIGINT NOT NULL DEFAULT 0,
    expired BIGINT NOT NULL DEFAULT 0,
    expired_tiyn BIGINT NOT NULL DEFAULT 0,
    holds_released BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE family_months (
    month TEXT NOT NULL,
    family_id TEXT NOT NULL,
    kato TEXT NOT NULL,
    region TEXT NOT NULL,
    phone TEXT,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('listed', 'no_phone', 'sms_sent', 'reminded', 'consented', 'refused', 'no_answer')),
    status_at TIMESTAMP NOT NULL,
    start_sms_at TIMESTAMP,
    reminder_at TIMESTAMP,
    PRIMARY KEY (month, family_id)
);
CREATE INDEX family_months_phone ON family_months (phone);
CREATE INDEX family_months_status ON family_months (month, status);

CREATE TABLE members (
    month TEXT NOT NULL,
    iin TEXT NOT NULL,
    family_id TEXT NOT NULL,
    name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    PRIMARY KEY (month, iin)
);
CREATE INDEX members_family ON members (month, family_id);
CREATE INDEX members_iin ON members (iin);

CREATE TABLE consents (
    family_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('given', 'withdrawn')),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE vouchers (
    id INTEGER PRIMARY KEY NOT NULL,
    month TEXT NOT NULL,
    family_id TEXT NOT NULL,
    iin TEXT NOT NULL,
    member_name TEXT NOT NULL,
    region TEXT NOT NULL,
    amount_tiyn BIGINT NOT NULL CHECK (amount_tiyn > 0),
    -- The spendable balance. The CHECK is the last line of defence; the conditional UPDATE is the first.
    balance_tiyn BIGINT NOT NULL CHECK (balance_tiyn >= 0),
    expired_tiyn BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('issued', 'activated', 'exhausted', 'lapsed', 'expired')),
    issued_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP,
    closed_at TIMESTAMP,
    UNIQUE (month, iin)
);
CREATE INDEX vouchers_family ON vouchers (family_id, month);
CREATE INDEX vouchers_month_status ON vouchers (month, status);

CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    dedup_key TEXT UNIQUE,
    to_phone TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);

CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);

CREATE TABLE job_runs (
    job TEXT NOT NULL,
    job_key TEXT NOT NULL,
    done_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, job_key)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

-- Append-only: the journal cannot be edited, even by the server itself.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
