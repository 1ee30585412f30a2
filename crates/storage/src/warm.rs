//! Which blocks of a compaction's output start in the block cache.
//!
//! A compaction rewrites its input tables under new file ids, and the block cache, keyed by file, loses
//! every block of them at once: under a steady overwrite load (PutItem reads the item it replaces) the next
//! reads of a hot key range all miss, each paying a read, a decryption and a decompression of a block the
//! compaction had just built in memory. So the output carries over the inputs' residency: an output block
//! goes into the cache as it is written when its keys overlap a block of an input that was cached when the
//! compaction began. Cold ranges stay out, so a compaction of a large, mostly cold table does not push the
//! hot blocks of other tables out of a shared cache.

/// Key ranges, `[first, last]` inclusive, that were hot in a compaction's inputs, merged and sorted.
#[derive(Debug, Default)]
pub struct HotSpans {
    spans: Vec<(Vec<u8>, Vec<u8>)>,
    /// Spans before this one end below every block asked about so far.
    at: usize,
}

impl HotSpans {
    /// From spans in any order, overlapping or not.
    pub fn new(mut spans: Vec<(Vec<u8>, Vec<u8>)>) -> HotSpans {
        spans.sort_unstable();
        let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(spans.len());
        for (first, last) in spans {
            match merged.last_mut() {
                Some(m) if first <= m.1 => {
                    if last > m.1 {
                        m.1 = last;
                    }
                }
                _ => merged.push((first, last)),
            }
        }
        HotSpans { spans: merged, at: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether the block holding keys `first..=last` overlaps a hot span. Blocks are asked about in key
    /// order (as a table is written), so the search only moves forward.
    pub fn overlaps(&mut self, first: &[u8], last: &[u8]) -> bool {
        while self.spans.get(self.at).is_some_and(|s| s.1.as_slice() < first) {
            self.at += 1;
        }
        self.spans.get(self.at).is_some_and(|s| s.0.as_slice() <= last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn span(a: u8, b: u8) -> (Vec<u8>, Vec<u8>) {
        (vec![a.min(b)], vec![a.max(b)])
    }

    proptest! {
        /// Asked in key order, it answers as a check of every span would.
        #[test]
        fn agrees_with_checking_every_span(
            spans in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..20),
            cuts in proptest::collection::btree_set(any::<u8>(), 0..40),
        ) {
            let spans: Vec<_> = spans.into_iter().map(|(a, b)| span(a, b)).collect();
            let mut hot = HotSpans::new(spans.clone());
            // Consecutive blocks: each starts where the one before it ended, as a table's do.
            let cuts: Vec<u8> = cuts.into_iter().collect();
            for w in cuts.windows(2) {
                let (first, last) = (vec![w[0]], vec![w[1]]);
                let expected = spans.iter().any(|(a, b)| *a <= last && *b >= first);
                prop_assert_eq!(hot.overlaps(&first, &last), expected, "block {:?}..={:?}", first, last);
            }
        }
    }

    #[test]
    fn nothing_is_hot_without_spans() {
        let mut hot = HotSpans::new(Vec::new());
        assert!(hot.is_empty());
        assert!(!hot.overlaps(b"a", b"z"));
    }
}
