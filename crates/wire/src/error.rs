//! API errors and how each protocol renders them. This is the one place where domain errors become AWS
//! error shapes; every `match` here is exhaustive on purpose.

use dynamodb::DynamoError;
use iam::IamError;
use kms::KmsError;

use crate::sigv4::AuthError;

/// Which API answered: it decides the error's spelling (namespaces, codes, JSON or XML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    DynamoDb,
    Streams,
    Kms,
    CloudTrail,
    Sts,
    Iam,
}

impl Api {
    /// The SigV4 service name its credential scope must carry.
    pub fn signing_name(self) -> &'static str {
        match self {
            Api::DynamoDb | Api::Streams => "dynamodb",
            Api::Kms => "kms",
            Api::CloudTrail => "cloudtrail",
            Api::Sts => "sts",
            Api::Iam => "iam",
        }
    }

    pub fn is_query(self) -> bool {
        matches!(self, Api::Sts | Api::Iam)
    }

    pub fn xml_namespace(self) -> &'static str {
        match self {
            Api::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            _ => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    ExpiredToken,
    AccessDenied,
    UnknownOperation,
    Serialization,
    Validation,
    PayloadTooLarge,
    /// A service's own modeled error, by its shape name.
    Modeled {
        code: &'static str,
        status: u16,
    },
    Internal,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// Further members of a JSON error body (ConditionalCheckFailedException's `Item`).
    pub members: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            members: None,
        }
    }

    pub fn modeled(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Modeled { code, status }, message)
    }

    /// This error with `name: value` added to its JSON body (`Item`, `CancellationReasons`, ...).
    pub fn with_member(mut self, name: &str, value: serde_json::Value) -> Self {
        self.members
            .get_or_insert_with(Default::default)
            .insert(name.into(), value);
        self
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Serialization, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// `(type name, HTTP status)` as `api` spells this error.
    pub fn code_and_status(&self, api: Api) -> (String, u16) {
        use ErrorKind::*;
        if api.is_query() {
            let (code, status) = match &self.kind {
                MissingAuthenticationToken => ("MissingAuthenticationToken", 403),
                IncompleteSignature => ("IncompleteSignature", 400),
                InvalidSignature => ("SignatureDoesNotMatch", 403),
                UnrecognizedClient => ("InvalidClientTokenId", 403),
                ExpiredToken => ("ExpiredToken", 400),
                AccessDenied => ("AccessDenied", 403),
                UnknownOperation => ("InvalidAction", 400),
                Serialization => ("MalformedQueryString", 400),
                Validation => ("ValidationError", 400),
                PayloadTooLarge => ("RequestEntityTooLarge", 413),
                Modeled { code, status } => (*code, *status),
                Internal => ("ServiceFailure", 500),
            };
            return (code.to_owned(), status);
        }
        let dynamo = matches!(api, Api::DynamoDb | Api::Streams);
        let coral_service = |name: &str| {
            if dynamo {
                format!("com.amazon.coral.service#{name}")
            } else {
                name.to_owned()
            }
        };
        match &self.kind {
            MissingAuthenticationToken => (coral_service("MissingAuthenticationTokenException"), 400),
            IncompleteSignature => (coral_service("IncompleteSignatureException"), 400),
            InvalidSignature => (coral_service("InvalidSignatureException"), 400),
            UnrecognizedClient => (coral_service("UnrecognizedClientException"), 400),
            ExpiredToken => (coral_service("ExpiredTokenException"), 400),
            AccessDenied => (coral_service("AccessDeniedException"), 400),
            UnknownOperation => (coral_service("UnknownOperationException"), 400),
            Serialization => (coral_service("SerializationException"), 400),
            PayloadTooLarge => (coral_service("RequestEntityTooLarge"), 413),
            Validation if dynamo => ("com.amazon.coral.validate#ValidationException".to_owned(), 400),
            Validation => ("ValidationException".to_owned(), 400),
            Modeled { code, status } if dynamo => (format!("com.amazonaws.dynamodb.v20120810#{code}"), *status),
            Modeled { code, status } => ((*code).to_owned(), *status),
            Internal if dynamo => ("com.amazonaws.dynamodb.v20120810#InternalServerError".to_owned(), 500),
            Internal if api == Api::Kms => ("KMSInternalException".to_owned(), 500),
            Internal => ("InternalFailure".to_owned(), 500),
        }
    }

    /// Whether the JSON body spells the member `Message` (AWS's own inconsistency, kept).
    pub fn capital_message(&self, api: Api) -> bool {
        matches!(self.kind, ErrorKind::AccessDenied) && matches!(api, Api::DynamoDb | Api::Streams | Api::Kms)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::MissingToken => ApiError::new(
                ErrorKind::MissingAuthenticationToken,
                "Request is missing Authentication Token",
            ),
            AuthError::Incomplete(m) => ApiError::new(ErrorKind::IncompleteSignature, m),
            AuthError::Invalid(m) => ApiError::new(ErrorKind::InvalidSignature, m),
            AuthError::UnrecognizedClient => ApiError::new(
                ErrorKind::UnrecognizedClient,
                "The security token included in the request is invalid.",
            ),
            AuthError::ExpiredToken => ApiError::new(
                ErrorKind::ExpiredToken,
                "The security token included in the request is expired",
            ),
        }
    }
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> Self {
        let msg = e.to_string();
        match e {
            IamError::NoSuchEntity(_) => ApiError::modeled("NoSuchEntity", 404, msg),
            IamError::EntityAlreadyExists(_) => ApiError::modeled("EntityAlreadyExists", 409, msg),
            IamError::DeleteConflict(_) => ApiError::modeled("DeleteConflict", 409, msg),
            IamError::MalformedPolicyDocument(_) => ApiError::modeled("MalformedPolicyDocument", 400, msg),
            IamError::InvalidInput(_) => ApiError::modeled("InvalidInput", 400, msg),
            IamError::Validation(_) => ApiError::validation(msg),
            IamError::LimitExceeded(_) => ApiError::modeled("LimitExceeded", 409, msg),
            IamError::AccessDenied(_) => ApiError::new(ErrorKind::AccessDenied, msg),
            IamError::Storage(_) | IamError::Random(_) => {
                tracing::error!(error = %e, "identity store failure");
                ApiError::new(
                    ErrorKind::Internal,
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

impl From<DynamoError> for ApiError {
    fn from(e: DynamoError) -> Self {
        match e {
            DynamoError::Validation(m) => ApiError::validation(m),
            DynamoError::Serialization(m) => ApiError::new(ErrorKind::Serialization, m),
            DynamoError::ResourceNotFound(m) => ApiError::modeled("ResourceNotFoundException", 400, m),
            DynamoError::ResourceInUse(m) => ApiError::modeled("ResourceInUseException", 400, m),
            DynamoError::AccessDenied(m) => ApiError::new(ErrorKind::AccessDenied, m),
            DynamoError::LimitExceeded(m) => ApiError::modeled("LimitExceededException", 400, m),
            DynamoError::TransactionConflict(m) => ApiError::modeled("TransactionConflictException", 400, m),
            DynamoError::Named(code, m) => ApiError::modeled(code, 400, m),
            DynamoError::ThroughputExceeded(t) => {
                let dynamodb::Throttled { message, reasons } = *t;
                let list: Vec<serde_json::Value> = reasons
                    .into_iter()
                    .map(|r| serde_json::json!({ "reason": r.reason, "resource": r.resource }))
                    .collect();
                ApiError::modeled("ProvisionedThroughputExceededException", 400, message)
                    .with_member("ThrottlingReasons", serde_json::Value::Array(list))
            }
            DynamoError::TrimmedDataAccess(m) => ApiError::modeled("TrimmedDataAccessException", 400, m),
            DynamoError::ExpiredIterator(m) => ApiError::modeled("ExpiredIteratorException", 400, m),
            DynamoError::TransactionCanceled(ref reasons) => {
                let list: Vec<serde_json::Value> = reasons
                    .iter()
                    .map(|r| {
                        let mut o = serde_json::Map::new();
                        o.insert("Code".into(), r.code.clone().into());
                        if let Some(m) = &r.message {
                            o.insert("Message".into(), m.clone().into());
                        }
                        if let Some(item) = &r.item {
                            o.insert("Item".into(), dynamodb::attr::item_to_json(item));
                        }
                        serde_json::Value::Object(o)
                    })
                    .collect();
                ApiError::modeled("TransactionCanceledException", 400, e.to_string())
                    .with_member("CancellationReasons", serde_json::Value::Array(list))
            }
            // The item is shown only when the request asked for it (`services::dynamodb` adds it).
            e @ DynamoError::ConditionalCheckFailed(_) => {
                ApiError::modeled("ConditionalCheckFailedException", 400, e.to_string())
            }
            DynamoError::Corrupt(m) | DynamoError::Storage(m) => {
                tracing::error!(error = %m, "DynamoDB storage failure");
                ApiError::new(ErrorKind::Internal, "")
            }
        }
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> Self {
        let msg = e.to_string();
        match e {
            KmsError::AccessDenied(_) => ApiError::new(ErrorKind::AccessDenied, msg),
            KmsError::Validation(_) => ApiError::validation(msg),
            KmsError::Internal(_) => {
                tracing::error!(error = %msg, "KMS internal failure");
                ApiError::new(ErrorKind::Internal, "")
            }
            other => ApiError::modeled(other.code(), other.status(), msg),
        }
    }
}
