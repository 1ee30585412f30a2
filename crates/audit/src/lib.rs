//! The audit trail: CloudTrail event records, kept durable, sealed and hash-chained, and looked up with
//! LookupEvents' rules.
//!
//! File format (`trail/events.log`, version 2): a sequence of frames `u32 BE length || sealed bytes`. A
//! frame holds consecutive records (whatever the writer had in hand, at most 1,024, and a new 4,096-record
//! chunk always starts a new frame). Its plaintext is the JSON `{"seq", "prev", "records": [{"account",
//! "region", "record"}]}` where `seq` numbers the first record and `prev` is the hex SHA-256 of the previous
//! frame's sealed bytes; it is lz4-compressed, then sealed under the root key with AAD
//! `strongroom/trail/v2/<seq>`. `trail/head.sealed` holds the last synced `{seq, hash}`, so a removed tail
//! is noticed too.

mod event;
mod index;
mod json_out;
mod lookup;
mod store;

pub use event::{AuditEvent, ErrorInfo, Identity};
pub use index::StoredEvent;
pub use lookup::{LookupAttribute, LookupError, LookupQuery, LookupResult};
pub use store::{Trail, TrailError, VerifyReport};
