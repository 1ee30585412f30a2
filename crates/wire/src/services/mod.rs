//! One module per API: decode the request, authorize, call the domain, encode the answer.

pub mod cloudtrail;
pub mod dynamodb;
pub mod iam;
pub mod input;
pub mod kms;
pub mod query;
pub mod sts;
