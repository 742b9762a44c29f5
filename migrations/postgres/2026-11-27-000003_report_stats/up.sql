-- Report figures kept as things happen, in the transaction of each change, so a day's report
-- reads a few rows per region and shop instead of scanning every basket of the month.
-- `day` is the Almaty business day (YYYY-MM-DD) on which the change happened.
CREATE TABLE day_region_stats (
    day TEXT NOT NULL,
    region TEXT NOT NULL,
    vouchers_issued BIGINT NOT NULL DEFAULT 0,
    vouchers_issued_tiyn BIGINT NOT NULL DEFAULT 0,
    vouchers_activated BIGINT NOT NULL DEFAULT 0,
    vouchers_activated_tiyn BIGINT NOT NULL DEFAULT 0,
    vouchers_lapsed BIGINT NOT NULL DEFAULT 0,
    vouchers_lapsed_tiyn BIGINT NOT NULL DEFAULT 0,
    vouchers_expired BIGINT NOT NULL DEFAULT 0,
    vouchers_expired_tiyn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, region)
);

CREATE TABLE day_shop_stats (
    day TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    region TEXT NOT NULL,
    baskets_captured BIGINT NOT NULL DEFAULT 0,
    baskets_cancelled BIGINT NOT NULL DEFAULT 0,
    baskets_hold_expired BIGINT NOT NULL DEFAULT 0,
    refunds BIGINT NOT NULL DEFAULT 0,
    discount_tiyn BIGINT NOT NULL DEFAULT 0,
    paid_tiyn BIGINT NOT NULL DEFAULT 0,
    refunded_tiyn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shop_id)
);

CREATE TABLE day_goods_stats (
    day TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    region TEXT NOT NULL,
    group_code TEXT NOT NULL,
    pieces BIGINT NOT NULL DEFAULT 0,
    grams BIGINT NOT NULL DEFAULT 0,
    discount_tiyn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shop_id, group_code)
);

CREATE TABLE day_consent_stats (
    day TEXT NOT NULL,
    month TEXT NOT NULL,
    region TEXT NOT NULL,
    sms_sent BIGINT NOT NULL DEFAULT 0,
    reminders BIGINT NOT NULL DEFAULT 0,
    yes BIGINT NOT NULL DEFAULT 0,
    no BIGINT NOT NULL DEFAULT 0,
    no_answer BIGINT NOT NULL DEFAULT 0,
    no_phone BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, month, region)
);
CREATE INDEX day_consent_stats_month ON day_consent_stats (month, day);

CREATE INDEX baskets_shop_month ON baskets (shop_id, month);
