-- Redemption at the till. A voucher's money is always in exactly one place:
--   amount = balance + held + charged - refunded + expired
ALTER TABLE vouchers ADD COLUMN held_tiyn BIGINT NOT NULL DEFAULT 0 CHECK (held_tiyn >= 0);
ALTER TABLE vouchers ADD COLUMN charged_tiyn BIGINT NOT NULL DEFAULT 0 CHECK (charged_tiyn >= 0);
ALTER TABLE vouchers ADD COLUMN refunded_tiyn BIGINT NOT NULL DEFAULT 0 CHECK (refunded_tiyn >= 0);

CREATE TABLE voucher_keys (
    kid INTEGER PRIMARY KEY NOT NULL,
    secret_key TEXT NOT NULL, -- hex of the 32-byte Ed25519 seed; never logged, never served
    public_key TEXT NOT NULL, -- base64url, no padding
    created_at TIMESTAMP NOT NULL,
    not_after TIMESTAMP,
    retired BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE token_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    voucher_id BIGINT NOT NULL,
    basket_id BIGINT NOT NULL,
    used_at TIMESTAMP NOT NULL
);

CREATE TABLE baskets (
    id INTEGER PRIMARY KEY NOT NULL,
    shop_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    cashier TEXT NOT NULL,
    month TEXT NOT NULL,
    family_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'cancelled', 'hold_expired', 'partly_refunded', 'refunded')),
    discount_tiyn BIGINT NOT NULL CHECK (discount_tiyn >= 0),
    to_pay_tiyn BIGINT NOT NULL CHECK (to_pay_tiyn >= 0),
    created_at TIMESTAMP NOT NULL,
    hold_expires_at TIMESTAMP NOT NULL,
    captured_at TIMESTAMP,
    closed_at TIMESTAMP,
    business_day TEXT,
    payment_method TEXT,
    paid_tiyn BIGINT
);
CREATE INDEX baskets_status_hold ON baskets (status, hold_expires_at);
CREATE INDEX baskets_shop_day ON baskets (shop_id, business_day);
CREATE INDEX baskets_family ON baskets (family_id, month);

CREATE TABLE basket_lines (
    basket_id BIGINT NOT NULL REFERENCES baskets (id),
    idx INTEGER NOT NULL,
    gtin TEXT NOT NULL,
    serial TEXT,
    group_code TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    shelf_price_tiyn BIGINT NOT NULL,
    reduced_price_tiyn BIGINT NOT NULL,
    shelf_amount_tiyn BIGINT NOT NULL,
    to_pay_tiyn BIGINT NOT NULL,
    discount_tiyn BIGINT NOT NULL CHECK (discount_tiyn >= 0),
    refunded BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (basket_id, idx)
);

CREATE TABLE basket_vouchers (
    basket_id BIGINT NOT NULL REFERENCES baskets (id),
    seq INTEGER NOT NULL,
    voucher_id BIGINT NOT NULL REFERENCES vouchers (id),
    charged_tiyn BIGINT NOT NULL CHECK (charged_tiyn >= 0),
    refunded_tiyn BIGINT NOT NULL DEFAULT 0 CHECK (refunded_tiyn >= 0 AND refunded_tiyn <= charged_tiyn),
    PRIMARY KEY (basket_id, seq)
);
CREATE INDEX basket_vouchers_voucher ON basket_vouchers (voucher_id);

-- A serialised code held or sold: at most once while its sale stands.
CREATE TABLE serial_claims (
    gtin TEXT NOT NULL,
    serial TEXT NOT NULL,
    basket_id BIGINT NOT NULL,
    PRIMARY KEY (gtin, serial)
);
CREATE INDEX serial_claims_basket ON serial_claims (basket_id);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY NOT NULL,
    basket_id BIGINT NOT NULL REFERENCES baskets (id),
    lines TEXT NOT NULL,
    refunded_tiyn BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    business_day TEXT NOT NULL
);
CREATE INDEX refunds_basket ON refunds (basket_id);

CREATE TABLE shop_prices (
    shop_id TEXT NOT NULL,
    gtin TEXT NOT NULL,
    shelf_price_tiyn BIGINT NOT NULL,
    reduced_price_tiyn BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (shop_id, gtin)
);

CREATE TABLE feedback (
    basket_id BIGINT PRIMARY KEY NOT NULL REFERENCES baskets (id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    complaint TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE complaints_outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    basket_id BIGINT NOT NULL,
    shop_id TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
