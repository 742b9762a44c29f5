DROP TABLE day_signal_stats;
DROP TABLE day_recall_stats;
ALTER TABLE day_shop_stats DROP COLUMN refused_recalled;
ALTER TABLE day_shop_stats DROP COLUMN refused_over_limit;
DROP TABLE refusals;
DROP TABLE recalls;
DROP TABLE price_limits;
CREATE TABLE products_old (
    gtin TEXT PRIMARY KEY NOT NULL,
    group_code TEXT NOT NULL REFERENCES catalog_groups (code),
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('piece', 'kg')),
    discount_cap_bp INTEGER NOT NULL CHECK (discount_cap_bp BETWEEN 0 AND 10000)
);
INSERT INTO products_old (gtin, group_code, name, unit, discount_cap_bp)
SELECT gtin, group_code, name, unit, COALESCE(discount_cap_bp, 1500) FROM products;
DROP TABLE products;
ALTER TABLE products_old RENAME TO products;
