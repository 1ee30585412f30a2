//! The policy language, one engine for identity policies, trust policies and (next) KMS key policies.
//!
//! A document is parsed once into [`Policy`] and evaluated many times against a [`RequestContext`].

pub mod condition;
mod document;
mod eval;
pub mod wildcard;

pub use condition::{ConditionKeys, Operator};
pub use document::{is_account_id as document_is_account_id, Effect, Policy, PolicyError, PrincipalSpec, Statement};
pub use eval::{authorize_identity, authorize_with_resource_policy, Denial, PolicyKind, PolicyOutcome, RequestContext};
