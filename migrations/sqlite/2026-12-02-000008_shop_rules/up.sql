-- The shop's side of the rules (issue 15): price limits per SZPT group and region, scale-label
-- PLUs, food recalls, and the counters of refusals and fraud signals.

-- A product's own cap becomes optional (NULL: its group's cap in the region, else 15%), and a
-- product sold by weight may carry the PLU its scale labels print. SQLite cannot drop a NOT NULL:
-- the table is rebuilt (nothing refers to it).
CREATE TABLE products_new (
    gtin TEXT PRIMARY KEY NOT NULL,
    group_code TEXT NOT NULL REFERENCES catalog_groups (code),
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('piece', 'kg')),
    discount_cap_bp INTEGER CHECK (discount_cap_bp BETWEEN 0 AND 10000),
    plu TEXT UNIQUE CHECK (plu IS NULL OR (length(plu) = 5 AND plu NOT GLOB '*[^0-9]*'))
);
INSERT INTO products_new (gtin, group_code, name, unit, discount_cap_bp)
SELECT gtin, group_code, name, unit, discount_cap_bp FROM products;
DROP TABLE products;
ALTER TABLE products_new RENAME TO products;

-- The akimat's ceilings (SPEC §3.3): per group and two-digit region, the highest shelf price a
-- till may declare (per unit, per kg for weighed goods) and the group's discount cap.
CREATE TABLE price_limits (
    group_code TEXT NOT NULL REFERENCES catalog_groups (code),
    region TEXT NOT NULL,
    max_shelf_price_tiyn BIGINT CHECK (max_shelf_price_tiyn > 0),
    discount_cap_bp INTEGER CHECK (discount_cap_bp BETWEEN 0 AND 10000),
    PRIMARY KEY (group_code, region)
);

-- Food recalls (SPEC §5): a GTIN, or one batch (AI 10) of it. Lifting keeps the row, so that the
-- reports still name the recall its refusals were counted under.
CREATE TABLE recalls (
    id INTEGER PRIMARY KEY NOT NULL,
    gtin TEXT NOT NULL,
    batch TEXT,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    lifted_at TIMESTAMP,
    lifted_by TEXT
);
CREATE INDEX recalls_gtin ON recalls (gtin, lifted_at);
-- One recall in force per GTIN and batch (every batch: ''), so that placing one is a single
-- guarded insert however many operators try at once.
CREATE UNIQUE INDEX recalls_in_force ON recalls (gtin, COALESCE(batch, '')) WHERE lifted_at IS NULL;

-- Every refusal a till was answered that the reports count, one row each (what `check` proves the
-- counters against). Written in the transaction that stores the answer.
CREATE TABLE refusals (
    id INTEGER PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    day TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    code TEXT NOT NULL CHECK (code IN ('price_over_limit', 'product_recalled')),
    line INTEGER NOT NULL,
    gtin TEXT NOT NULL,
    recall_id BIGINT REFERENCES recalls (id)
);
CREATE INDEX refusals_day ON refusals (day, shop_id);

ALTER TABLE day_shop_stats ADD COLUMN refused_over_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE day_shop_stats ADD COLUMN refused_recalled BIGINT NOT NULL DEFAULT 0;

CREATE TABLE day_recall_stats (
    day TEXT NOT NULL,
    recall_id BIGINT NOT NULL REFERENCES recalls (id),
    refusals BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, recall_id)
);

-- Fraud and error signals (SPEC §6), counted in the transaction of the sale or refusal they
-- concern; `code` is a SignalCode.
CREATE TABLE day_signal_stats (
    day TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    code TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shop_id, code)
);
