//! Storage layers: cold store (sled), write-ahead log, write buffer and hot cache.

pub mod buffer;
pub mod cache;
pub mod chunk;
pub mod codec;
pub mod doc_codec;
pub mod cold;
pub mod faults;
pub mod keys;
pub mod kv;
pub mod memtable;
pub mod wal;

pub use cold::{ColdStore, MemStore, SledStore};
