DROP INDEX baskets_shop_month;
DROP TABLE day_consent_stats;
DROP TABLE day_goods_stats;
DROP TABLE day_shop_stats;
DROP TABLE day_region_stats;
