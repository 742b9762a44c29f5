DROP INDEX feedback_created;
CREATE TABLE complaints_outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    basket_id BIGINT NOT NULL,
    shop_id TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
INSERT INTO complaints_outbox (basket_id, shop_id, text, status, created_at)
SELECT basket_id, shop_id, text, 'pending', created_at FROM complaints WHERE basket_id IS NOT NULL;
DROP TABLE deliveries;
DROP TABLE complaints;
