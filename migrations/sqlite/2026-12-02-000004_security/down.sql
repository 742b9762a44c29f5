ALTER TABLE cashiers DROP COLUMN removed_at;
ALTER TABLE cashiers DROP COLUMN credential_version;
ALTER TABLE operators DROP COLUMN credential_version;
