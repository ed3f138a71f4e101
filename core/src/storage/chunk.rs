//! Roaring chunks: the row ids of one posting (or of the live rows) that share their high 16
//! bits, stored as a roaring bitmap of whole row ids (one container), so combining chunks is a
//! container-level union.

use roaring::RoaringBitmap;

/// The chunk (high 16 bits) of a row id.
pub fn high(rowid: u32) -> u16 {
    (rowid >> 16) as u16
}

/// A chunk's stored bytes (roaring's portable format).
pub fn serialize(c: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.serialized_size());
    // Writing into a Vec cannot fail.
    let _ = c.serialize_into(&mut out);
    out
}

/// Chunk `high` from its stored bytes; `None` means damage (a row outside the chunk too).
pub fn deserialize(bytes: &[u8], high_bits: u16) -> Option<RoaringBitmap> {
    let c = RoaringBitmap::deserialize_from(bytes).ok()?;
    let inside = |r: Option<u32>| r.is_none_or(|r| high(r) == high_bits);
    (inside(c.min()) && inside(c.max())).then_some(c)
}
