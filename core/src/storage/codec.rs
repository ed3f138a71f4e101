//! Compact binary encoding of document fields (postcard): keeps Int and Float distinct.

use crate::error::Result;
use crate::types::DocData;

/// Encodes a document's fields for the WAL and the cold store.
pub fn encode_doc(data: &DocData) -> Result<Vec<u8>> {
    Ok(postcard::to_stdvec(data)?)
}

/// Decodes fields written by [`encode_doc`].
pub fn decode_doc(bytes: &[u8]) -> Result<DocData> {
    Ok(postcard::from_bytes(bytes)?)
}

/// Approximate heap footprint of a decoded document, used to bound the hot cache in bytes.
pub fn approx_size(data: &DocData) -> usize {
    fn value_size(v: &crate::Value) -> usize {
        use crate::Value::*;
        match v {
            String(s) => 32 + s.len(),
            Array(a) => 32 + a.iter().map(value_size).sum::<usize>(),
            Object(m) => 64 + m.iter().map(|(k, v)| 40 + k.len() + value_size(v)).sum::<usize>(),
            _ => 32,
        }
    }
    128 + data.iter().map(|(k, v)| 48 + k.len() + value_size(v)).sum::<usize>()
}
