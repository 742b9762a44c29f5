//! A JSON-lines file that senders deliver to (the SMS file sender and the deliveries' `file:`
//! destinations): one JSON object a line, each with the outbox `id` it delivers, synced to disk
//! before the outbox records it delivered, and searchable by that id to resolve an attempt whose
//! outcome was lost.
//!
//! A line is written whole or not at all as far as a reader can tell: a crash part way through a
//! write leaves a tail without its newline, and the next append cuts that tail off first (that
//! item was never recorded delivered, so it is written again whole). Appends take an exclusive
//! lock on the file, so processes sharing it (replicas on one host) never interleave their lines.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One JSON-lines file; `what` names it in errors ("the SMS file").
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    what: &'static str,
}

impl JsonLines {
    pub fn new(path: PathBuf, what: &'static str) -> JsonLines {
        JsonLines { path, what }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (one JSON object, no newline in it) and syncs it to disk. The error says
    /// which step failed and the I/O error's kind, never the line.
    pub fn append(&self, line: &[u8]) -> Result<(), String> {
        let what = self.what;
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("opening {what}: {}", e.kind()))?;
        f.lock().map_err(|e| format!("locking {what}: {}", e.kind()))?;
        cut_torn_tail(&mut f).map_err(|e| format!("mending {what}: {}", e.kind()))?;
        let mut record = Vec::with_capacity(line.len() + 1);
        record.extend_from_slice(line);
        record.push(b'\n');
        f.write_all(&record).map_err(|e| format!("writing {what}: {}", e.kind()))?;
        f.sync_data().map_err(|e| format!("syncing {what}: {}", e.kind()))
    }

    /// Whether a whole line of the file carries `"id": id`. A missing file holds nothing.
    pub fn holds_id(&self, id: i64) -> bool {
        #[derive(serde::Deserialize)]
        struct Id {
            id: Option<i64>,
        }
        let Ok(f) = File::open(&self.path) else { return false };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .any(|line| serde_json::from_str::<Id>(&line).is_ok_and(|l| l.id == Some(id)))
    }
}

/// Cuts the file back to its last newline when it does not end with one (a write a crash cut
/// short). Reads backwards in blocks, so a long file costs a few reads.
fn cut_torn_tail(f: &mut File) -> std::io::Result<()> {
    const BLOCK: u64 = 64 * 1024;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(());
        }
        if let Some(pos) = chunk.iter().rposition(|b| *b == b'\n') {
            return f.set_len(start + pos as u64 + 1);
        }
        end = start;
    }
    f.set_len(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_and_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonLines::new(dir.path().join("out.jsonl"), "the test file");
        assert!(!file.holds_id(1));
        file.append(br#"{"id":1,"text":"a"}"#).unwrap();
        file.append(br#"{"id":2,"text":"b"}"#).unwrap();
        assert!(file.holds_id(1) && file.holds_id(2) && !file.holds_id(3));

        // A crash part way through the third line: it is not found, and the next append cuts it.
        let mut f = OpenOptions::new().append(true).open(file.path()).unwrap();
        f.write_all(br#"{"id":3,"te"#).unwrap();
        assert!(!file.holds_id(3));
        file.append(br#"{"id":3,"text":"c"}"#).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(text, "{\"id\":1,\"text\":\"a\"}\n{\"id\":2,\"text\":\"b\"}\n{\"id\":3,\"text\":\"c\"}\n");
    }

    #[test]
    fn a_torn_first_line_longer_than_a_block_is_cut_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonLines::new(dir.path().join("out.jsonl"), "the test file");
        std::fs::write(file.path(), vec![b'x'; 200 * 1024]).unwrap();
        file.append(br#"{"id":7}"#).unwrap();
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "{\"id\":7}\n");
        assert!(file.holds_id(7));
    }
}
