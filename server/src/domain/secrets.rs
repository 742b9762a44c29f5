//! Where the service's secrets live: the session-signing secret, the report-signing key and the
//! private halves of the voucher keys. By default in the database (`server_secrets`), so that every
//! replica on one database shares them with nothing else to set up; with `AZYQ_KEY_DIR`, in files
//! of that folder, readable by the service's user only, so that a backup of the database does not
//! carry them (the folder is then shared by the replicas, e.g. one secret volume mounted on each).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use diesel::prelude::*;

use crate::db::schema::{server_secrets, voucher_keys};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Where secrets are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    Database,
    Directory(PathBuf),
}

static STORE: OnceLock<Store> = OnceLock::new();

/// Chooses the store, once, at start; the database is the default.
pub fn init(dir: Option<&Path>) -> anyhow::Result<()> {
    let store = match dir {
        None => Store::Database,
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| anyhow::anyhow!("AZYQ_KEY_DIR {}: {e}", d.display()))?;
            restrict(d, 0o700)?;
            Store::Directory(d.to_path_buf())
        }
    };
    if let Err(existing) = STORE.set(store.clone()) {
        if existing != store {
            anyhow::bail!("the secret store was chosen twice, differently");
        }
    }
    Ok(())
}

fn store() -> &'static Store {
    STORE.get_or_init(|| Store::Database)
}

/// Whether private keys are kept out of the database.
pub fn in_files() -> bool {
    matches!(store(), Store::Directory(_))
}

/// Sets a file's or folder's permissions (owner only).
pub fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("making {} private: {e}", path.display()))
}

fn file_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.secret"))
}

fn io(path: &Path, e: std::io::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("secret file {}: {e}", path.display()))
}

/// Writes a new secret file whole (0600, synced), unless one is there: answers what the file holds.
fn create_file(path: &Path, value: &str) -> AppResult<String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut f) => {
            f.write_all(value.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(path, e))?;
            Ok(value.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_file(path),
        Err(e) => Err(io(path, e)),
    }
}

fn read_file(path: &Path) -> AppResult<String> {
    // A file being created by another process may be empty for a moment.
    for _ in 0..50 {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        if !text.trim().is_empty() {
            return Ok(text.trim().to_owned());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(AppError::internal(anyhow::anyhow!("secret file {} is empty", path.display())))
}

/// Replaces a secret file atomically (a temporary file renamed over it).
fn replace_file(path: &Path, value: &str) -> AppResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("secret.new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(value.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The secret `name`, made with `make` the first time (by whichever replica comes first).
pub fn get_or_make(conn: &mut Conn, name: &str, make: impl FnOnce() -> String) -> AppResult<String> {
    match store() {
        Store::Database => {
            let fresh = make();
            with_conn!(conn, c => diesel::insert_into(server_secrets::table)
                .values((server_secrets::name.eq(name), server_secrets::value.eq(&fresh)))
                .on_conflict_do_nothing()
                .execute(c))?;
            Ok(with_conn!(conn, c => server_secrets::table.find(name).select(server_secrets::value).first(c))?)
        }
        Store::Directory(dir) => {
            let path = file_of(dir, name);
            if path.exists() {
                return read_file(&path);
            }
            create_file(&path, &make())
        }
    }
}

/// The secret `name` as it is now, if there is one.
pub fn get(conn: &mut Conn, name: &str) -> AppResult<Option<String>> {
    match store() {
        Store::Database => Ok(
            with_conn!(conn, c => server_secrets::table.find(name).select(server_secrets::value).first(c).optional())?,
        ),
        Store::Directory(dir) => {
            let path = file_of(dir, name);
            if path.exists() {
                read_file(&path).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

/// Sets (or replaces) the secret `name`.
pub fn put(conn: &mut Conn, name: &str, value: &str) -> AppResult<()> {
    match store() {
        Store::Database => {
            with_conn!(conn, c => diesel::insert_into(server_secrets::table)
                .values((server_secrets::name.eq(name), server_secrets::value.eq(value)))
                .on_conflict(server_secrets::name)
                .do_update()
                .set(server_secrets::value.eq(value))
                .execute(c))?;
            Ok(())
        }
        Store::Directory(dir) => replace_file(&file_of(dir, name), value),
    }
}

/// With a key folder: moves every secret still in the database (from before the folder was set)
/// into it, and answers how many moved. The database then holds none.
pub fn move_out_of_database(conn: &mut Conn) -> AppResult<usize> {
    let Store::Directory(dir) = store() else { return Ok(0) };
    let rows: Vec<(String, String)> =
        with_conn!(conn, c => server_secrets::table.select((server_secrets::name, server_secrets::value)).load(c))?;
    let keys: Vec<(i32, String)> = with_conn!(conn, c => voucher_keys::table
        .filter(voucher_keys::secret_key.ne(""))
        .select((voucher_keys::kid, voucher_keys::secret_key))
        .load(c))?;
    for (name, value) in &rows {
        create_file(&file_of(dir, name), value)?;
    }
    for (kid, value) in &keys {
        create_file(&file_of(dir, &voucher_key_name(*kid)), value)?;
    }
    with_conn!(conn, c => diesel::delete(server_secrets::table).execute(c))?;
    with_conn!(conn, c => diesel::update(voucher_keys::table).set(voucher_keys::secret_key.eq("")).execute(c))?;
    Ok(rows.len() + keys.len())
}

/// The name under which a voucher key's private half is kept in a key folder.
pub fn voucher_key_name(kid: i32) -> String {
    format!("voucher_key_{kid}")
}

/// How the audit log names a recipient: by a keyed hash of the IIN (HMAC-SHA-256 with a secret of
/// the service, 16 hex digits), never the IIN itself, so the journal can follow one person's
/// actions without holding who they are, and the hash cannot be reversed by trying every IIN
/// without the key.
pub fn recipient_actor(conn: &mut Conn, iin: &azyq_shared::Iin) -> AppResult<String> {
    use hmac::{Mac, SimpleHmac};
    let key = get_or_make(conn, "audit_hash_key", || {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    })?;
    let mut mac = <SimpleHmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes()).map_err(AppError::internal)?;
    mac.update(iin.as_ref().as_bytes());
    let digest = mac.finalize().into_bytes();
    Ok(format!("recipient:{}", hex::encode(&digest[..8])))
}
