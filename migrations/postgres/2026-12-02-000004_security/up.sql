-- Sessions end when a password, a role or a cashier's existence changes (SPEC §7): each login
-- carries a version its session tokens repeat, and a removed cashier stays as a row (removed_at)
-- so that the same login made again later never revives an old token.
ALTER TABLE operators ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cashiers ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cashiers ADD COLUMN removed_at TIMESTAMP;
