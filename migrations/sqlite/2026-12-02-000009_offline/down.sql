DROP TABLE offline_sales;
