//! Storage layers: the cold store (redb or sled behind one ordered-KV trait), the key layout,
//! the document codec, the write-ahead log, the memtable with its snapshots, and the caches.

pub mod cache;
pub mod chunk;
pub mod doc_codec;
pub mod faults;
pub mod index_cache;
pub mod keys;
pub mod kv;
pub mod memtable;
pub mod wal;

pub use kv::{ColdStore, ColdView, KvOp, MemStore, RedbStore, SledStore};
