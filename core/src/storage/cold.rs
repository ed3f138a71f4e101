//! The cold store: an ordered key-value store of named trees. sled in production, memory in tests.

use crate::config::{AuroraConfig, ColdStoreMode};
use crate::error::{AuroraError, Result};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};

/// One write of a batch: `None` deletes the key.
pub type BatchOp = (Vec<u8>, Option<Vec<u8>>);

/// Minimal ordered KV interface the engine needs, so another store can replace sled.
pub trait ColdStore: Send + Sync {
    /// Reads one key of a tree.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Applies puts and deletes to one tree.
    fn apply(&self, tree: &str, ops: Vec<BatchOp>) -> Result<()>;
    /// All entries of a tree in key order.
    fn scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Names of the trees that exist.
    fn tree_names(&self) -> Result<Vec<String>>;
    /// Removes a tree and its contents.
    fn drop_tree(&self, tree: &str) -> Result<()>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<()>;
}

/// sled-backed cold store.
pub struct SledStore {
    db: sled::Db,
    trees: RwLock<HashMap<String, sled::Tree>>,
}

impl SledStore {
    /// Opens (or creates) the sled database under `dir/data`.
    pub fn open(config: &AuroraConfig) -> Result<Self> {
        let path = config.db_path.join("data");
        let mode = match config.cold_mode {
            ColdStoreMode::HighThroughput => sled::Mode::HighThroughput,
            ColdStoreMode::LowSpace => sled::Mode::LowSpace,
        };
        let cfg = sled::Config::new()
            .path(&path)
            .cache_capacity((config.cold_cache_capacity_mb as u64).saturating_mul(1024 * 1024))
            .mode(mode)
            .flush_every_ms(None);
        // A handle of this process that is still closing holds the lock for a moment: retry briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match cfg.open() {
                Ok(db) => break db,
                Err(e) if is_lock_error(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(open_error(&path, &e)),
            }
        };
        Ok(SledStore { db, trees: RwLock::new(HashMap::new()) })
    }

    fn tree(&self, name: &str) -> Result<sled::Tree> {
        if let Some(t) = self.trees.read().get(name) {
            return Ok(t.clone());
        }
        let t = self.db.open_tree(name)?;
        self.trees.write().insert(name.to_string(), t.clone());
        Ok(t)
    }
}

/// True when sled could not open because another handle holds the directory's lock. sled
/// reports a held lock as `Other`, with the OS error only in the text.
fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// The error for a failed open: only a held lock gets the hint about another process; damage
/// (sled's "Read corrupted data") and other I/O errors are reported as they are.
fn open_error(path: &std::path::Path, e: &sled::Error) -> AuroraError {
    let hint = if is_lock_error(e) { " (is the database open in another process?)" } else { "" };
    AuroraError::Storage(format!("cannot open cold store at {}{hint}: {e}", path.display()))
}

impl ColdStore for SledStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(tree)?.get(key)?.map(|v| v.to_vec()))
    }

    fn apply(&self, tree: &str, ops: Vec<BatchOp>) -> Result<()> {
        let t = self.tree(tree)?;
        let mut batch = sled::Batch::default();
        for (k, v) in ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        t.apply_batch(batch)?;
        Ok(())
    }

    fn scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.tree(tree)?.iter().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into)).collect()
    }

    fn tree_names(&self) -> Result<Vec<String>> {
        Ok(self
            .db
            .tree_names()
            .into_iter()
            .filter_map(|n| String::from_utf8(n.to_vec()).ok())
            .filter(|n| n != "__sled__default")
            .collect())
    }

    fn drop_tree(&self, tree: &str) -> Result<()> {
        self.trees.write().remove(tree);
        self.db.drop_tree(tree)?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

type MemTree = BTreeMap<Vec<u8>, Vec<u8>>;

/// In-memory cold store for tests and ephemeral databases.
#[derive(Default)]
pub struct MemStore {
    trees: RwLock<HashMap<String, MemTree>>,
}

impl ColdStore for MemStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.trees.read().get(tree).and_then(|t| t.get(key).cloned()))
    }

    fn apply(&self, tree: &str, ops: Vec<BatchOp>) -> Result<()> {
        let mut trees = self.trees.write();
        let t = trees.entry(tree.to_string()).or_default();
        for (k, v) in ops {
            match v {
                Some(v) => t.insert(k, v),
                None => t.remove(&k),
            };
        }
        Ok(())
    }

    fn scan(&self, tree: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self
            .trees
            .read()
            .get(tree)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn tree_names(&self) -> Result<Vec<String>> {
        Ok(self.trees.read().keys().cloned().collect())
    }

    fn drop_tree(&self, tree: &str) -> Result<()> {
        self.trees.write().remove(tree);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_held_lock_gets_the_other_process_hint() {
        let path = std::path::Path::new("/x/data");
        let lock = sled::Error::Io(std::io::Error::other("could not acquire lock on \"/x/data/db\": EWOULDBLOCK"));
        assert!(open_error(path, &lock).to_string().contains("another process"));
        let would_block = sled::Error::Io(std::io::Error::from(std::io::ErrorKind::WouldBlock));
        assert!(open_error(path, &would_block).to_string().contains("another process"));
        for other in [
            sled::Error::Corruption { at: None, bt: () },
            sled::Error::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
            sled::Error::Unsupported("x".into()),
        ] {
            let msg = open_error(path, &other).to_string();
            assert!(!msg.contains("another process"), "{msg}");
            assert!(msg.contains("/x/data"), "{msg}");
        }
    }
}
