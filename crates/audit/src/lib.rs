//! The audit trail: CloudTrail event records, kept durable, sealed and hash-chained, and looked up with
//! LookupEvents' rules.
//!
//! File format (`trail/events.log`): a sequence of frames `u32 BE length || sealed bytes`. Each sealed
//! plaintext is the JSON `{"seq", "prev", "record"}` where `prev` is the hex SHA-256 of the previous
//! frame's sealed bytes, and the AAD names the trail and the sequence number. `trail/head.sealed` holds the
//! last synced `{seq, hash}`, so a removed tail is noticed too.

mod event;
mod index;
mod lookup;
mod store;

pub use event::{AuditEvent, ErrorInfo, Identity};
pub use index::StoredEvent;
pub use lookup::{LookupAttribute, LookupError, LookupQuery, LookupResult};
pub use store::{Trail, TrailError, VerifyReport};
