/// Every way a KMS call fails. [`KmsError::code`] is AWS's error shape name: `wire` and the audit trail
/// both derive from it, so the mapping lives in one place.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidGrantId(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    DryRun(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    InvalidMac(String),
    #[error("{0}")]
    InvalidImportToken(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    Conflict(String),
    /// A request quota of the account was exceeded (see [`crate::quota`]).
    #[error("{0}")]
    Throttling(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl KmsError {
    pub fn code(&self) -> &'static str {
        match self {
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::InvalidState(_) => "KMSInvalidStateException",
            KmsError::InvalidCiphertext(_) => "InvalidCiphertextException",
            KmsError::IncorrectKey(_) => "IncorrectKeyException",
            KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            KmsError::LimitExceeded(_) => "LimitExceededException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::InvalidArn(_) => "InvalidArnException",
            KmsError::InvalidAliasName(_) => "InvalidAliasNameException",
            KmsError::InvalidGrantToken(_) => "InvalidGrantTokenException",
            KmsError::InvalidGrantId(_) => "InvalidGrantIdException",
            KmsError::InvalidMarker(_) => "InvalidMarkerException",
            KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            KmsError::Tag(_) => "TagException",
            KmsError::AccessDenied(_) => "AccessDeniedException",
            KmsError::DryRun(_) => "DryRunOperationException",
            KmsError::InvalidSignature(_) => "KMSInvalidSignatureException",
            KmsError::InvalidMac(_) => "KMSInvalidMacException",
            KmsError::InvalidImportToken(_) => "InvalidImportTokenException",
            KmsError::ExpiredImportToken(_) => "ExpiredImportTokenException",
            KmsError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            KmsError::Conflict(_) => "ConflictException",
            KmsError::Throttling(_) => "ThrottlingException",
            KmsError::Internal(_) => "KMSInternalException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            KmsError::Internal(_) => 500,
            KmsError::DryRun(_) => 412,
            _ => 400,
        }
    }

    pub(crate) fn validation(value: &str, path: &str, constraint: &str) -> KmsError {
        KmsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
        ))
    }
}

impl From<base::sealed::SealedError> for KmsError {
    fn from(e: base::sealed::SealedError) -> Self {
        KmsError::Internal(e.to_string())
    }
}

impl From<base::random::RandomError> for KmsError {
    fn from(e: base::random::RandomError) -> Self {
        KmsError::Internal(e.to_string())
    }
}
