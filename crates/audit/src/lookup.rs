//! LookupEvents: attribute, time range, newest first, MaxResults and NextToken.

use std::sync::Arc;

use aws_lc_rs::digest;

use crate::index::{ChunkSummary, StoredEvent, CHUNK};
use crate::store::{index_entry, walk_frames, ChunkEvents, Trail, WalkFrom};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAttribute {
    EventId(String),
    EventName(String),
    ReadOnly(String),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

impl LookupAttribute {
    pub fn parse(key: &str, value: &str) -> Result<Self, LookupError> {
        if value.is_empty() || value.len() > 2000 {
            return Err(LookupError::InvalidLookupAttributes(
                "AttributeValue must be between 1 and 2000 characters.".into(),
            ));
        }
        let v = value.to_owned();
        Ok(match key {
            "EventId" => Self::EventId(v),
            "EventName" => Self::EventName(v),
            "ReadOnly" => Self::ReadOnly(v),
            "Username" => Self::Username(v),
            "ResourceType" => Self::ResourceType(v),
            "ResourceName" => Self::ResourceName(v),
            "EventSource" => Self::EventSource(v),
            "AccessKeyId" => Self::AccessKeyId(v),
            other => {
                return Err(LookupError::InvalidLookupAttributes(format!(
                    "Invalid attribute key: {other}. Valid keys are: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."
                )))
            }
        })
    }

    fn matches(&self, e: &StoredEvent) -> bool {
        match self {
            Self::EventId(v) => e.event_id == *v,
            Self::EventName(v) => e.event_name == *v,
            Self::ReadOnly(v) => (if e.read_only { "true" } else { "false" }) == v,
            Self::Username(v) => e.username.as_deref() == Some(v),
            Self::ResourceType(v) => e.resources.iter().any(|(t, _)| t == v),
            Self::ResourceName(v) => e.resources.iter().any(|(_, n)| n == v),
            Self::EventSource(v) => e.event_source == *v,
            Self::AccessKeyId(v) => e.access_key_id.as_deref() == Some(v),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    InvalidLookupAttributes(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidMaxResults(String),
    #[error("{0}")]
    InvalidNextToken(String),
    /// The trail file could not be read back (I/O or a failed seal): a server-side failure.
    #[error("the audit trail could not be read: {0}")]
    Unreadable(String),
}

impl LookupError {
    /// CloudTrail's error shape name.
    pub fn code(&self) -> &'static str {
        match self {
            LookupError::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            LookupError::InvalidTimeRange(_) => "InvalidTimeRangeException",
            LookupError::InvalidMaxResults(_) => "InvalidMaxResultsException",
            LookupError::InvalidNextToken(_) => "InvalidNextTokenException",
            LookupError::Unreadable(_) => "InternalFailure",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LookupQuery {
    pub account: String,
    pub region: String,
    pub attributes: Vec<LookupAttribute>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

pub struct LookupResult {
    pub events: Vec<Arc<StoredEvent>>,
    pub next_token: Option<String>,
}

impl LookupQuery {
    /// Binds a token to the query it continues, as CloudTrail requires.
    fn fingerprint(&self) -> String {
        let text = format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}",
            self.account, self.region, self.attributes, self.start_ms, self.end_ms, self.max_results
        );
        hex::encode(&digest::digest(&digest::SHA256, text.as_bytes()).as_ref()[..8])
    }
}

impl Trail {
    pub fn lookup(&self, q: &LookupQuery) -> Result<LookupResult, LookupError> {
        if q.attributes.len() > 1 {
            return Err(LookupError::InvalidLookupAttributes(
                "You can only specify one lookup attribute.".into(),
            ));
        }
        if let (Some(s), Some(e)) = (q.start_ms, q.end_ms) {
            if s > e {
                return Err(LookupError::InvalidTimeRange(
                    "Start time must not be after the end time.".into(),
                ));
            }
        }
        let max = match q.max_results {
            None => 50,
            Some(n) if (1..=50).contains(&n) => n as usize,
            Some(_) => {
                return Err(LookupError::InvalidMaxResults(
                    "MaxResults must be between 1 and 50.".into(),
                ))
            }
        };
        let fp = q.fingerprint();
        let before_seq = match &q.next_token {
            None => u64::MAX,
            Some(t) => {
                let (seq, tfp) = t
                    .split_once(':')
                    .ok_or_else(|| LookupError::InvalidNextToken("Invalid NextToken.".into()))?;
                if tfp != fp {
                    return Err(LookupError::InvalidNextToken(
                        "The NextToken does not match the other parameters of the request.".into(),
                    ));
                }
                seq.parse::<u64>()
                    .map_err(|_| LookupError::InvalidNextToken("Invalid NextToken.".into()))?
            }
        };
        self.barrier().map_err(|e| LookupError::Unreadable(e.to_string()))?;
        let matches = |e: &StoredEvent| {
            e.account == q.account
                && e.region == q.region
                && q.start_ms.is_none_or(|s| e.time_ms >= s)
                && q.end_ms.is_none_or(|t| e.time_ms <= t)
                && q.attributes.iter().all(|a| a.matches(e))
        };
        let mut out: Vec<Arc<StoredEvent>> = Vec::with_capacity(max);
        let mut next_token = None;
        // One more than a page tells whether there is a next page.
        let mut take = |e: &Arc<StoredEvent>| {
            if out.len() == max {
                next_token = out.last().map(|last| format!("{}:{fp}", last.seq));
                return false;
            }
            out.push(e.clone());
            true
        };
        let chunks = {
            let events = self.events.read().unwrap_or_else(|p| p.into_inner());
            let mut more = true;
            for e in events.recent.iter().rev().filter(|e| e.seq < before_seq && matches(e)) {
                if !take(e) {
                    more = false;
                    break;
                }
            }
            if more {
                events.chunks.clone()
            } else {
                Vec::new()
            }
        };
        'chunks: for c in chunks.iter().rev() {
            if c.first_seq >= before_seq || !c.may_match(&q.account, &q.region, q.start_ms, q.end_ms, &q.attributes) {
                continue;
            }
            for e in self.chunk_events(c)?.iter().rev() {
                if e.seq < before_seq && matches(e) && !take(e) {
                    break 'chunks;
                }
            }
        }
        Ok(LookupResult {
            events: out,
            next_token,
        })
    }
}

impl Trail {
    /// The events of a summarized chunk, decrypted from the trail file (the last one is cached).
    fn chunk_events(&self, c: &ChunkSummary) -> Result<ChunkEvents, LookupError> {
        let mut cache = self.chunk_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, events)) = cache.as_ref() {
            if *k == c.index {
                return Ok(events.clone());
            }
        }
        let unreadable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, chunk = c.index, "reading the audit trail back failed");
            LookupError::Unreadable(e.to_string())
        };
        let (start, end) = self
            .progress
            .chunk_range(c.index)
            .ok_or_else(|| unreadable(&"the chunk is not written yet"))?;
        let mut bytes = vec![0u8; (end - start) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&self.reader, &mut bytes, start).map_err(|e| unreadable(&e))?;
        let mut events = Vec::with_capacity(CHUNK as usize);
        let from = WalkFrom {
            seq: c.first_seq,
            offset: start,
            prev_hash: None,
        };
        let walked = walk_frames(&self.path, bytes.as_slice(), &self.key, from, |_, seq, record| {
            events.push(Arc::new(index_entry(seq, &record)))
        })
        .map_err(|e| unreadable(&e))?;
        // A chunk's range holds whole frames only.
        if walked.torn {
            return Err(unreadable(&"a chunk ends inside a frame"));
        }
        let events = Arc::new(events);
        *cache = Some((c.index, events.clone()));
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AuditEvent;
    use base::RootKey;
    use std::path::Path;

    fn event(i: u64) -> AuditEvent {
        let name = if i == 5 {
            "Rare"
        } else {
            ["Encrypt", "Decrypt", "GenerateDataKey"][(i % 3) as usize]
        };
        AuditEvent {
            time_ms: 1_700_000_000_000 + 1000 * i as i64,
            request_parameters: serde_json::json!({ "n": i }),
            event_id: format!("event-{i}"),
            ..AuditEvent::sample(name)
        }
    }

    fn open(dir: &Path) -> Trail {
        Trail::open(dir, Arc::new(RootKey::from_bytes(&[9u8; 32]).unwrap())).unwrap()
    }

    fn query(attributes: Vec<LookupAttribute>) -> LookupQuery {
        LookupQuery {
            account: "111122223333".into(),
            region: "us-west-2".into(),
            attributes,
            ..Default::default()
        }
    }

    fn all(t: &Trail, mut q: LookupQuery) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let r = t.lookup(&q).unwrap();
            seqs.extend(r.events.iter().map(|e| e.seq));
            match r.next_token {
                Some(tok) => q.next_token = Some(tok),
                None => return seqs,
            }
        }
    }

    /// Old events are kept as chunk summaries, not records, and are still found (from the file) by every
    /// kind of lookup, in order, before and after a reopen.
    #[test]
    fn old_events_leave_memory_and_are_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let total = 3 * CHUNK + 100;
        let t = open(dir.path());
        for i in 1..total {
            t.append(event(i)).unwrap();
        }
        t.sync().unwrap();
        t.append(event(total)).unwrap();
        let check = |t: &Trail| {
            {
                let ev = t.events.read().unwrap();
                assert_eq!(ev.chunks.len(), 2, "two chunks summarized");
                assert!((ev.recent.len() as u64) < 2 * CHUNK);
            }
            assert_eq!(all(t, query(vec![LookupAttribute::EventName("Rare".into())])), vec![5]);
            assert_eq!(all(t, query(vec![LookupAttribute::EventId("event-7".into())])), vec![7]);
            let decrypts = all(t, query(vec![LookupAttribute::EventName("Decrypt".into())]));
            let expected: Vec<u64> = (1..=total).rev().filter(|i| i % 3 == 1 && *i != 5).collect();
            assert_eq!(decrypts, expected);
            let mut q = query(vec![]);
            q.start_ms = Some(1_700_000_000_000 + 10_000);
            q.end_ms = Some(1_700_000_000_000 + 12_000);
            assert_eq!(all(t, q), vec![12, 11, 10]);
            let mut other = query(vec![]);
            other.region = "eu-west-1".into();
            assert!(all(t, other).is_empty());
        };
        check(&t);
        drop(t);
        check(&open(dir.path()));
    }
}
