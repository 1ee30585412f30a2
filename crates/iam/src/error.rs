use crate::policy::PolicyError;

/// Every way an IAM or STS operation can fail. `wire` maps each kind to AWS's code and status.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    InvalidInput(String),
    /// Shape validation in the coral format (`1 validation error detected: ...`).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("the identity store could not be written: {0}")]
    Storage(#[from] base::sealed::SealedError),
    #[error("the system random number generator failed")]
    Random(#[from] base::random::RandomError),
}

impl From<PolicyError> for IamError {
    fn from(e: PolicyError) -> Self {
        IamError::MalformedPolicyDocument(e.0)
    }
}
