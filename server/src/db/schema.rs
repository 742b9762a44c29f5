//! Diesel's view of the tables in `migrations/` (the same on SQLite and PostgreSQL).

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    operators (login) {
        login -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        credential_version -> Integer,
    }
}

diesel::table! {
    login_attempts (subject) {
        subject -> Text,
        failures -> Integer,
        window_start -> Timestamp,
    }
}

diesel::table! {
    localities (kato) {
        kato -> Text,
        name -> Text,
        region -> Text,
        pilot -> Bool,
    }
}

diesel::table! {
    shops (shop_id) {
        shop_id -> Text,
        name -> Text,
        kato -> Text,
        region -> Text,
        address -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    cashiers (shop_id, login) {
        shop_id -> Text,
        login -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        credential_version -> Integer,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    catalog_groups (code) {
        code -> Text,
        name_ru -> Text,
        name_kk -> Text,
        in_force -> Bool,
    }
}

diesel::table! {
    products (gtin) {
        gtin -> Text,
        group_code -> Text,
        name -> Text,
        unit -> Text,
        discount_cap_bp -> Nullable<Integer>,
        plu -> Nullable<Text>,
    }
}

diesel::table! {
    rates (month, region) {
        month -> Text,
        region -> Text,
        amount_tiyn -> BigInt,
    }
}

diesel::table! {
    months (month) {
        month -> Text,
        status -> Text,
        closed_at -> Nullable<Timestamp>,
        no_answer -> BigInt,
        lapsed -> BigInt,
        expired -> BigInt,
        expired_tiyn -> BigInt,
        holds_released -> BigInt,
    }
}

diesel::table! {
    family_months (month, family_id) {
        month -> Text,
        family_id -> Text,
        kato -> Text,
        region -> Text,
        phone -> Nullable<Text>,
        content_hash -> Text,
        status -> Text,
        status_at -> Timestamp,
        start_sms_at -> Nullable<Timestamp>,
        reminder_at -> Nullable<Timestamp>,
        answer_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    members (month, iin) {
        month -> Text,
        iin -> Text,
        family_id -> Text,
        name -> Text,
        birth_date -> Text,
    }
}

diesel::table! {
    consents (family_id) {
        family_id -> Text,
        status -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    vouchers (id) {
        id -> BigInt,
        month -> Text,
        family_id -> Text,
        iin -> Text,
        member_name -> Text,
        region -> Text,
        amount_tiyn -> BigInt,
        balance_tiyn -> BigInt,
        expired_tiyn -> BigInt,
        status -> Text,
        issued_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        held_tiyn -> BigInt,
        charged_tiyn -> BigInt,
        refunded_tiyn -> BigInt,
    }
}

diesel::table! {
    sms_outbox (id) {
        id -> BigInt,
        dedup_key -> Nullable<Text>,
        to_phone -> Text,
        kind -> Text,
        text -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    job_runs (job, job_key) {
        job -> Text,
        job_key -> Text,
        done_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        entity -> Text,
        entity_id -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    voucher_keys (kid) {
        kid -> Integer,
        secret_key -> Text,
        public_key -> Text,
        created_at -> Timestamp,
        not_after -> Nullable<Timestamp>,
        retired -> Bool,
    }
}

diesel::table! {
    token_nonces (nonce) {
        nonce -> Text,
        voucher_id -> BigInt,
        basket_id -> BigInt,
        used_at -> Timestamp,
    }
}

diesel::table! {
    baskets (id) {
        id -> BigInt,
        shop_id -> Text,
        terminal_id -> Text,
        cashier -> Text,
        month -> Text,
        family_id -> Text,
        status -> Text,
        discount_tiyn -> BigInt,
        to_pay_tiyn -> BigInt,
        created_at -> Timestamp,
        hold_expires_at -> Timestamp,
        captured_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        business_day -> Nullable<Text>,
        payment_method -> Nullable<Text>,
        paid_tiyn -> Nullable<BigInt>,
    }
}

diesel::table! {
    basket_lines (basket_id, idx) {
        basket_id -> BigInt,
        idx -> Integer,
        gtin -> Text,
        serial -> Nullable<Text>,
        group_code -> Text,
        name -> Text,
        unit -> Text,
        quantity -> BigInt,
        shelf_price_tiyn -> BigInt,
        reduced_price_tiyn -> BigInt,
        shelf_amount_tiyn -> BigInt,
        to_pay_tiyn -> BigInt,
        discount_tiyn -> BigInt,
        refunded -> Bool,
    }
}

diesel::table! {
    basket_vouchers (basket_id, seq) {
        basket_id -> BigInt,
        seq -> Integer,
        voucher_id -> BigInt,
        charged_tiyn -> BigInt,
        refunded_tiyn -> BigInt,
    }
}

diesel::table! {
    serial_claims (gtin, serial) {
        gtin -> Text,
        serial -> Text,
        basket_id -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (scope, idem_key) {
        scope -> Text,
        idem_key -> Text,
        request_hash -> Text,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        basket_id -> BigInt,
        lines -> Text,
        refunded_tiyn -> BigInt,
        created_at -> Timestamp,
        business_day -> Text,
    }
}

diesel::table! {
    shop_prices (shop_id, gtin) {
        shop_id -> Text,
        gtin -> Text,
        shelf_price_tiyn -> BigInt,
        reduced_price_tiyn -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    feedback (basket_id) {
        basket_id -> BigInt,
        rating -> Integer,
        complaint -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notices (id) {
        id -> BigInt,
        family_id -> Text,
        month -> Text,
        kind -> Text,
        created_at -> Timestamp,
        dedup_key -> Nullable<Text>,
    }
}

diesel::table! {
    notice_texts (kind, month) {
        kind -> Text,
        month -> Text,
        text -> Text,
        text_kk -> Text,
    }
}

diesel::table! {
    programme (id) {
        id -> Integer,
        from_month -> Text,
        to_month -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    complaints (id) {
        id -> BigInt,
        basket_id -> Nullable<BigInt>,
        shop_id -> Text,
        region -> Text,
        family_id -> Nullable<Text>,
        month -> Text,
        occurred_on -> Text,
        text -> Text,
        complainant -> Nullable<Text>,
        complainant_masked -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        kind -> Text,
        delivery_key -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        destination -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    day_region_stats (day, region) {
        day -> Text,
        region -> Text,
        vouchers_issued -> BigInt,
        vouchers_issued_tiyn -> BigInt,
        vouchers_activated -> BigInt,
        vouchers_activated_tiyn -> BigInt,
        vouchers_lapsed -> BigInt,
        vouchers_lapsed_tiyn -> BigInt,
        vouchers_expired -> BigInt,
        vouchers_expired_tiyn -> BigInt,
    }
}

diesel::table! {
    day_shop_stats (day, shop_id) {
        day -> Text,
        shop_id -> Text,
        region -> Text,
        baskets_captured -> BigInt,
        baskets_cancelled -> BigInt,
        baskets_hold_expired -> BigInt,
        refunds -> BigInt,
        discount_tiyn -> BigInt,
        paid_tiyn -> BigInt,
        refunded_tiyn -> BigInt,
        refused_over_limit -> BigInt,
        refused_recalled -> BigInt,
    }
}

diesel::table! {
    offline_sales (sale_id) {
        sale_id -> Text,
        shop_id -> Text,
        terminal_id -> Text,
        sold_at -> Timestamp,
        business_day -> Text,
        status -> Text,
        basket_id -> Nullable<BigInt>,
        charged_tiyn -> BigInt,
        shortfall_tiyn -> BigInt,
        code -> Nullable<Text>,
        codes_sold_twice -> Integer,
        received_at -> Timestamp,
    }
}

diesel::table! {
    day_goods_stats (day, shop_id, group_code) {
        day -> Text,
        shop_id -> Text,
        region -> Text,
        group_code -> Text,
        pieces -> BigInt,
        grams -> BigInt,
        discount_tiyn -> BigInt,
    }
}

diesel::table! {
    day_consent_stats (day, month, region) {
        day -> Text,
        month -> Text,
        region -> Text,
        sms_sent -> BigInt,
        reminders -> BigInt,
        yes -> BigInt,
        no -> BigInt,
        no_answer -> BigInt,
        no_phone -> BigInt,
    }
}

diesel::joinable!(cashiers -> shops (shop_id));
diesel::joinable!(basket_lines -> baskets (basket_id));
diesel::joinable!(refunds -> baskets (basket_id));
diesel::joinable!(basket_vouchers -> baskets (basket_id));
diesel::joinable!(basket_vouchers -> vouchers (voucher_id));
diesel::joinable!(products -> catalog_groups (group_code));

diesel::allow_tables_to_appear_in_same_query!(
    notices,
    notice_texts,
    programme,
    server_secrets,
    operators,
    login_attempts,
    localities,
    shops,
    cashiers,
    catalog_groups,
    products,
    rates,
    months,
    family_months,
    members,
    consents,
    vouchers,
    sms_outbox,
    counters,
    job_runs,
    audit_log,
    voucher_keys,
    token_nonces,
    baskets,
    basket_lines,
    basket_vouchers,
    serial_claims,
    idempotency_keys,
    refunds,
    shop_prices,
    feedback,
    complaints,
    deliveries,
    day_region_stats,
    day_shop_stats,
    offline_sales,
    day_goods_stats,
    day_consent_stats,
);

// Issue 15: price limits, recalls, refusals and signals (migration 000008), with the joins they
// need declared pair by pair, apart from the list above.
diesel::table! {
    price_limits (group_code, region) {
        group_code -> Text,
        region -> Text,
        max_shelf_price_tiyn -> Nullable<BigInt>,
        discount_cap_bp -> Nullable<Integer>,
    }
}

diesel::table! {
    recalls (id) {
        id -> BigInt,
        gtin -> Text,
        batch -> Nullable<Text>,
        reason -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        lifted_at -> Nullable<Timestamp>,
        lifted_by -> Nullable<Text>,
    }
}

diesel::table! {
    refusals (id) {
        id -> BigInt,
        at -> Timestamp,
        day -> Text,
        shop_id -> Text,
        code -> Text,
        line -> Integer,
        gtin -> Text,
        recall_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    day_recall_stats (day, recall_id) {
        day -> Text,
        recall_id -> BigInt,
        refusals -> BigInt,
    }
}

diesel::table! {
    day_signal_stats (day, shop_id, code) {
        day -> Text,
        shop_id -> Text,
        code -> Text,
        count -> BigInt,
    }
}

diesel::joinable!(day_recall_stats -> recalls (recall_id));
diesel::allow_tables_to_appear_in_same_query!(day_recall_stats, recalls);
diesel::allow_tables_to_appear_in_same_query!(day_signal_stats, shops);
diesel::allow_tables_to_appear_in_same_query!(price_limits, products);
diesel::allow_tables_to_appear_in_same_query!(price_limits, catalog_groups);
diesel::allow_tables_to_appear_in_same_query!(price_limits, shop_prices);
