-- The offline till (issue 17, SPEC §3.9): each uploaded offline sale, recorded in the same
-- transaction as its basket so that a repeated sale_id answers the stored result and changes
-- nothing. A refused sale has no basket. The shortfall is the discount the vouchers could not
-- cover (the shop's loss); `codes_sold_twice` counts serialised codes another basket sold first.
CREATE TABLE offline_sales (
    sale_id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    sold_at TIMESTAMP NOT NULL,
    business_day TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('applied', 'applied_short', 'duplicate_token', 'refused')),
    basket_id BIGINT REFERENCES baskets (id),
    charged_tiyn BIGINT NOT NULL CHECK (charged_tiyn >= 0),
    shortfall_tiyn BIGINT NOT NULL CHECK (shortfall_tiyn >= 0),
    code TEXT,
    codes_sold_twice INTEGER NOT NULL DEFAULT 0,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX offline_sales_shop_day ON offline_sales (shop_id, business_day);
CREATE UNIQUE INDEX offline_sales_basket ON offline_sales (basket_id);
