//! The journal's tables (`migrations/till/`), written by hand as the server's `db/schema.rs` is.

diesel::table! {
    session (id) {
        id -> Integer,
        server -> Text,
        shop_id -> Text,
        terminal_id -> Text,
        login -> Text,
        token -> Text,
        expires_at -> Text,
        password_hash -> Text,
    }
}

diesel::table! {
    pack (id) {
        id -> Integer,
        kid -> Integer,
        bytes -> Binary,
        signature -> Binary,
        public_key -> Binary,
        fetched_at -> Text,
    }
}

diesel::table! {
    offline_sales (seq) {
        seq -> BigInt,
        sale_id -> Text,
        sold_at -> Text,
        body -> Text,
        discount_tiyn -> BigInt,
        status -> Text,
        answer -> Nullable<Text>,
    }
}

diesel::table! {
    offline_sale_vouchers (sale_id, voucher_id) {
        sale_id -> Text,
        voucher_id -> BigInt,
        discount_tiyn -> BigInt,
    }
}

diesel::table! {
    used_nonces (nonce) {
        nonce -> Text,
        sale_id -> Text,
    }
}

diesel::table! {
    voucher_days (voucher_id, day) {
        voucher_id -> BigInt,
        day -> Text,
        discount_tiyn -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(offline_sales, offline_sale_vouchers);
