-- The till's own journal (azyq-pos --journal): what it needs to sell while the server cannot be
-- reached, and the offline sales waiting for upload. One file per till; SQLite only.

-- The cashier session of the last online log-in on this till (one row). Offline, the till sells
-- only for this cashier, shop and terminal, only before expires_at, and only to whoever gives the
-- password that logged in (kept as an Argon2 hash, as the server keeps it).
CREATE TABLE session (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    login TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

-- The last offline pack (one row): the exact bytes the server signed, the signature, and the pack
-- key it was checked with (from /.well-known/offline-pack-keys). Checked again at every use.
CREATE TABLE pack (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kid INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    signature BLOB NOT NULL,
    public_key BLOB NOT NULL,
    fetched_at TEXT NOT NULL
);

-- The offline sales in the order they were made (seq). body is the upload's JSON (OfflineSale);
-- status pending until the server answered, then uploaded with its answer.
CREATE TABLE offline_sales (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id TEXT NOT NULL UNIQUE,
    sold_at TEXT NOT NULL,
    body TEXT NOT NULL,
    discount_tiyn BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'uploaded')),
    answer TEXT
);
CREATE INDEX offline_sales_pending ON offline_sales (status, seq);

-- What each offline sale drew from each voucher: a voucher's pending total bounds the next sale.
CREATE TABLE offline_sale_vouchers (
    sale_id TEXT NOT NULL REFERENCES offline_sales (sale_id),
    voucher_id BIGINT NOT NULL,
    discount_tiyn BIGINT NOT NULL,
    PRIMARY KEY (sale_id, voucher_id)
);
CREATE INDEX offline_sale_vouchers_voucher ON offline_sale_vouchers (voucher_id);

-- Every token nonce used on this till offline (hex): a second use is token_used.
CREATE TABLE used_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    sale_id TEXT NOT NULL
);

-- The offline discount given per voucher per Almaty day on this till (the day limit).
CREATE TABLE voucher_days (
    voucher_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    discount_tiyn BIGINT NOT NULL,
    PRIMARY KEY (voucher_id, day)
);
