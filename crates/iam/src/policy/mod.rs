//! The policy language, one engine for identity policies, trust policies and (next) KMS key policies.
//!
//! A document is parsed once into [`Policy`] and evaluated many times against a [`RequestContext`].

mod condition;
mod document;
mod eval;
pub mod wildcard;

pub use condition::{ConditionKeys, Operator};
pub use document::{Effect, Policy, PolicyError, PrincipalSpec, Statement};
pub use eval::{
    authorize_identity, authorize_with_resource_policy, Denial, PolicyKind, PolicyOutcome, RequestContext,
};
