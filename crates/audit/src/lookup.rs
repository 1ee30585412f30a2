//! LookupEvents: attribute, time range, newest first, MaxResults and NextToken.

use std::sync::Arc;

use aws_lc_rs::digest;

use crate::store::{StoredEvent, Trail};

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
}

impl LookupError {
    /// CloudTrail's error shape name.
    pub fn code(&self) -> &'static str {
        match self {
            LookupError::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            LookupError::InvalidTimeRange(_) => "InvalidTimeRangeException",
            LookupError::InvalidMaxResults(_) => "InvalidMaxResultsException",
            LookupError::InvalidNextToken(_) => "InvalidNextTokenException",
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
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(max);
        let mut next_token = None;
        for e in events.iter().rev().filter(|e| e.seq < before_seq) {
            if e.account != q.account || e.region != q.region {
                continue;
            }
            if q.start_ms.is_some_and(|s| e.time_ms < s) || q.end_ms.is_some_and(|t| e.time_ms > t) {
                continue;
            }
            if !q.attributes.iter().all(|a| a.matches(e)) {
                continue;
            }
            if out.len() == max {
                next_token = out.last().map(|last: &Arc<StoredEvent>| format!("{}:{fp}", last.seq));
                break;
            }
            out.push(e.clone());
        }
        Ok(LookupResult {
            events: out,
            next_token,
        })
    }
}
