DROP TABLE voucher_days;
DROP TABLE used_nonces;
DROP TABLE offline_sale_vouchers;
DROP TABLE offline_sales;
DROP TABLE pack;
DROP TABLE session;
