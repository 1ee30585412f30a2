//! DynamoDB Streams' model: a table's streams (one open shard each), the change records they hold and the
//! record codec. Records live in a structure of the table's own engine (`stream/<label>`), keyed by their
//! sequence number, so they are sealed under the table's key hierarchy and written in the batch of the
//! change they record.

use serde::{Deserialize, Serialize};

use crate::attr::{decode_item, encode_item, item_size, Item};
use crate::DynamoError;

/// How long records are kept.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl ViewType {
    pub fn parse(s: &str) -> Option<ViewType> {
        Some(match s {
            "KEYS_ONLY" => ViewType::KeysOnly,
            "NEW_IMAGE" => ViewType::NewImage,
            "OLD_IMAGE" => ViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => ViewType::NewAndOldImages,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ViewType::KeysOnly => "KEYS_ONLY",
            ViewType::NewImage => "NEW_IMAGE",
            ViewType::OldImage => "OLD_IMAGE",
            ViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    fn new_image(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    fn old_image(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

/// One stream of a table: enabled until `disabled_ms`, then readable for [`RETENTION_MS`] more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The creation time, `YYYY-MM-DDTHH:MM:SS.mmm`: the stream's name within its table.
    pub label: String,
    pub view: ViewType,
    pub created_ms: i64,
    /// Its one shard.
    pub shard_id: String,
    /// The first sequence number the shard may hold.
    pub starting_seq: u64,
    pub disabled_ms: Option<i64>,
    /// The last sequence number of the closed shard (none if the shard closed empty).
    pub ending_seq: Option<u64>,
}

impl StreamInfo {
    pub fn enabled(&self) -> bool {
        self.disabled_ms.is_none()
    }

    /// The storage structure holding its records.
    pub fn structure(&self) -> String {
        format!("stream/{}", self.label)
    }
}

/// The label of a stream created at `ms` (UTC, no zone, as DynamoDB writes it).
pub fn label_at(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Sequence numbers as DynamoDB shows them: decimal strings of 21 digits or more.
pub fn seq_text(seq: u64) -> String {
    format!("{}", 100_000_000_000_000_000_000u128 + u128::from(seq))
}

/// A sequence number back from its text; none if it is not one of ours.
pub fn seq_parse(text: &str) -> Option<u64> {
    if !(21..=40).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u128 = text.parse().ok()?;
    u64::try_from(n.checked_sub(100_000_000_000_000_000_000u128)?).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// One change of one item, as its stream keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub event: EventName,
    pub keys: Item,
    pub old: Option<Item>,
    pub new: Option<Item>,
    pub created_ms: i64,
    pub event_id: [u8; 16],
    /// Deleted by time to live (the record names DynamoDB itself as the principal).
    pub by_ttl: bool,
    pub size_bytes: u64,
}

impl ChangeRecord {
    /// The record of an item going from `old` to `new`, with the images `view` keeps; none when nothing
    /// changed (DynamoDB writes no record for a write that leaves the item as it was).
    pub fn of(
        view: ViewType,
        keys: Item,
        old: Option<&Item>,
        new: Option<&Item>,
        created_ms: i64,
        event_id: [u8; 16],
        by_ttl: bool,
    ) -> Option<ChangeRecord> {
        let event = match (old, new) {
            (None, None) => return None,
            (Some(o), Some(n)) if o == n => return None,
            (None, Some(_)) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        let old = old.filter(|_| view.old_image()).cloned();
        let new = new.filter(|_| view.new_image()).cloned();
        let size = |i: &Option<Item>| i.as_ref().map_or(0, item_size) as u64;
        let size_bytes = item_size(&keys) as u64 + size(&old) + size(&new);
        Some(ChangeRecord {
            event,
            keys,
            old,
            new,
            created_ms,
            event_id,
            by_ttl,
            size_bytes,
        })
    }

    /// Format: version 1, event, TTL flag, creation time (i64), event id (16), size (u64), then keys, old
    /// and new image, each as presence byte, length (u32) and encoded item.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            1,
            match self.event {
                EventName::Insert => 0,
                EventName::Modify => 1,
                EventName::Remove => 2,
            },
            u8::from(self.by_ttl),
        ];
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out.extend_from_slice(&self.event_id);
        out.extend_from_slice(&self.size_bytes.to_be_bytes());
        for item in [Some(&self.keys), self.old.as_ref(), self.new.as_ref()] {
            match item {
                None => out.push(0),
                Some(i) => {
                    let e = encode_item(i);
                    out.push(1);
                    out.extend_from_slice(&(e.len() as u32).to_be_bytes());
                    out.extend_from_slice(&e);
                }
            }
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Result<ChangeRecord, DynamoError> {
        let corrupt = || DynamoError::Corrupt("a stream record does not decode".into());
        let mut r = raw;
        let mut take = |n: usize| -> Result<&[u8], DynamoError> {
            if r.len() < n {
                return Err(corrupt());
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Ok(head)
        };
        let head = take(3)?;
        if head[0] != 1 {
            return Err(corrupt());
        }
        let event = match head[1] {
            0 => EventName::Insert,
            1 => EventName::Modify,
            2 => EventName::Remove,
            _ => return Err(corrupt()),
        };
        let by_ttl = head[2] == 1;
        let created_ms = i64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
        let event_id: [u8; 16] = take(16)?.try_into().map_err(|_| corrupt())?;
        let size_bytes = u64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
        let mut images = Vec::with_capacity(3);
        for _ in 0..3 {
            let present = take(1)?[0];
            images.push(match present {
                0 => None,
                1 => {
                    let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| corrupt())?) as usize;
                    Some(decode_item(take(n)?)?)
                }
                _ => return Err(corrupt()),
            });
        }
        let new = images.pop().flatten();
        let old = images.pop().flatten();
        let keys = images.pop().flatten().ok_or_else(corrupt)?;
        Ok(ChangeRecord {
            event,
            keys,
            old,
            new,
            created_ms,
            event_id,
            by_ttl,
            size_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::AttributeValue;
    use proptest::prelude::*;

    fn item(v: &str) -> Item {
        Item::from([
            ("pk".to_string(), AttributeValue::S("k".into())),
            ("v".to_string(), AttributeValue::S(v.into())),
        ])
    }

    #[test]
    fn labels_and_sequence_numbers_look_like_dynamodbs() {
        assert_eq!(label_at(1_431_379_293_291), "2015-05-11T21:21:33.291");
        assert_eq!(label_at(0), "1970-01-01T00:00:00.000");
        assert_eq!(seq_text(7), "100000000000000000007");
        assert_eq!(seq_parse(&seq_text(u64::MAX)), Some(u64::MAX));
        assert_eq!(seq_parse("12"), None);
        assert_eq!(seq_parse("0000000000000000000001"), None);
    }

    #[test]
    fn records_keep_the_images_their_view_asks_for() {
        let keys = Item::from([("pk".to_string(), AttributeValue::S("k".into()))]);
        let (a, b) = (item("a"), item("b"));
        let r = |view, old, new| ChangeRecord::of(view, keys.clone(), old, new, 0, [0; 16], false);
        assert_eq!(r(ViewType::KeysOnly, None, Some(&a)).unwrap().event, EventName::Insert);
        assert!(r(ViewType::KeysOnly, None, Some(&a)).unwrap().new.is_none());
        let m = r(ViewType::NewAndOldImages, Some(&a), Some(&b)).unwrap();
        assert_eq!(
            (m.event, m.old, m.new),
            (EventName::Modify, Some(a.clone()), Some(b.clone()))
        );
        let d = r(ViewType::NewImage, Some(&a), None).unwrap();
        assert_eq!((d.event, d.old, d.new), (EventName::Remove, None, None));
        assert!(
            r(ViewType::OldImage, Some(&a), Some(&a)).is_none(),
            "no change, no record"
        );
    }

    proptest! {
        #[test]
        fn records_round_trip_and_junk_never_panics(v in "[a-z]{0,12}", ttl in any::<bool>(), at in any::<i64>(), junk in proptest::collection::vec(any::<u8>(), 0..80)) {
            let keys = Item::from([("pk".to_string(), AttributeValue::S("k".into()))]);
            let rec = ChangeRecord::of(ViewType::NewAndOldImages, keys, Some(&item(&v)), None, at, [7; 16], ttl).unwrap();
            prop_assert_eq!(ChangeRecord::decode(&rec.encode()).unwrap(), rec);
            let _ = ChangeRecord::decode(&junk);
        }
    }
}
