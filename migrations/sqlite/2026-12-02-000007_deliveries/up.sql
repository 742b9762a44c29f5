-- Complaints (Alg. p.29): from a rated basket or without one (a family refused at the till), each
-- routed to the akimat of the shop's region. `region` is that routing, fixed when filed.
-- `complainant` is the keyed hash the journal names a recipient by (never the IIN) and
-- `complainant_masked` the masked name an operator may see; what e-Otinish needs to answer the
-- citizen (IIN, name, phone) travels only in the complaint's delivery.
CREATE TABLE complaints (
    id INTEGER PRIMARY KEY NOT NULL,
    basket_id BIGINT UNIQUE REFERENCES baskets (id),
    shop_id TEXT NOT NULL REFERENCES shops (shop_id),
    region TEXT NOT NULL,
    family_id TEXT,
    month TEXT NOT NULL,
    occurred_on TEXT NOT NULL,
    text TEXT NOT NULL,
    complainant TEXT,
    complainant_masked TEXT,
    -- A complaint without a basket, sent twice (a double tap), is filed once.
    dedup_key TEXT UNIQUE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX complaints_month ON complaints (month);

-- Everything the service owes others (SPEC §6, deliveries), one row per item, unique per
-- (kind, key). A try claims the row with a lease (`claimed_until`) by a conditional update; a
-- lease that ran out without an outcome is resolved before anything is sent again.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('complaint', 'daily_report', 'sdu_return')),
    delivery_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'delivered')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    destination TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    UNIQUE (kind, delivery_key)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

-- Complaints queued before, kept with what is known of them (who filed them was not recorded);
-- the scheduler queues their deliveries.
INSERT INTO complaints (basket_id, shop_id, region, family_id, month, occurred_on, text, created_at)
SELECT o.basket_id, o.shop_id, s.region, b.family_id,
       substr(COALESCE(b.business_day, date(o.created_at)), 1, 7),
       COALESCE(b.business_day, date(o.created_at)), o.text, o.created_at
FROM complaints_outbox o
JOIN shops s ON s.shop_id = o.shop_id
LEFT JOIN baskets b ON b.id = o.basket_id;
DROP TABLE complaints_outbox;

-- Ratings given in a report's days.
CREATE INDEX feedback_created ON feedback (created_at);
