//! Write batches: what a WAL record holds and what a write applies atomically across structures.
//!
//! ```text
//! seq u64 | count u32 | count x ( op u8 (1 put, 0 delete) | structure u32 | klen u32 | key | [vlen u32 | value] )
//! ```

use crate::error::{Result, StorageError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub structure: u32,
    pub key: Vec<u8>,
    /// `None` deletes.
    pub value: Option<Vec<u8>>,
}

/// Operations applied together, at one sequence number, or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, structure: u32, key: &[u8], value: &[u8]) -> &mut Self {
        self.ops.push(Op {
            structure,
            key: key.to_vec(),
            value: Some(value.to_vec()),
        });
        self
    }

    pub fn delete(&mut self, structure: u32, key: &[u8]) -> &mut Self {
        self.ops.push(Op {
            structure,
            key: key.to_vec(),
            value: None,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Bytes of keys and values, for memtable accounting.
    pub fn payload_size(&self) -> usize {
        self.ops
            .iter()
            .map(|o| o.key.len() + o.value.as_ref().map_or(0, Vec::len) + 16)
            .sum()
    }
}

pub fn encode(seq: u64, batch: &WriteBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + batch.payload_size());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(batch.ops.len() as u32).to_be_bytes());
    for op in &batch.ops {
        out.push(u8::from(op.value.is_some()));
        out.extend_from_slice(&op.structure.to_be_bytes());
        out.extend_from_slice(&(op.key.len() as u32).to_be_bytes());
        out.extend_from_slice(&op.key);
        if let Some(v) = &op.value {
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
    out
}

pub(crate) struct Reader<'a> {
    raw: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(raw: &'a [u8], file: &'a str) -> Self {
        Self { raw, pos: 0, file }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.raw.len())
            .ok_or_else(|| StorageError::corrupt(self.file, format!("byte {}", self.pos), "truncated structure"))?;
        let s = &self.raw[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn done(&self) -> bool {
        self.pos == self.raw.len()
    }
}

pub fn decode(raw: &[u8], file: &str) -> Result<(u64, WriteBatch)> {
    let mut r = Reader::new(raw, file);
    let seq = r.u64()?;
    let count = r.u32()?;
    let mut batch = WriteBatch::new();
    for _ in 0..count {
        let op = r.u8()?;
        let structure = r.u32()?;
        let klen = r.u32()? as usize;
        let key = r.take(klen)?.to_vec();
        let value = match op {
            1 => {
                let vlen = r.u32()? as usize;
                Some(r.take(vlen)?.to_vec())
            }
            0 => None,
            other => return Err(StorageError::corrupt(file, "batch", format!("unknown op {other}"))),
        };
        batch.ops.push(Op { structure, key, value });
    }
    if !r.done() {
        return Err(StorageError::corrupt(file, "batch", "trailing bytes"));
    }
    Ok((seq, batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn batches_round_trip(seq in any::<u64>(), ops in proptest::collection::vec(
            (0u32..4, proptest::collection::vec(any::<u8>(), 0..40), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100))), 0..20)) {
            let mut b = WriteBatch::new();
            for (s, k, v) in ops {
                match v { Some(v) => b.put(s, &k, &v), None => b.delete(s, &k) };
            }
            let (seq2, b2) = decode(&encode(seq, &b), "t").unwrap();
            prop_assert_eq!(seq2, seq);
            prop_assert_eq!(b2, b);
        }

        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&raw, "t");
        }
    }
}
