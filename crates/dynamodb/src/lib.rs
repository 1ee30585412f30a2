//! The DynamoDB data model and operations: attribute values ([`attr`]), numbers, primary keys ([`key`]),
//! table definitions ([`table`]) and the table store ([`tables`]), which keeps each table in its own
//! encrypted storage engine under a table key from the [`tables::KeyService`].

pub mod attr;
pub mod capacity;
pub mod expr;
pub mod index;
pub mod items;
pub mod key;
pub mod legacy;
pub mod number;
pub mod stream;
pub mod table;
pub mod tables;

/// Why one action of a cancelled transaction failed (`None` for actions that did not).
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationReason {
    pub code: String,
    pub message: Option<String>,
    pub item: Option<attr::Item>,
}

/// One entry of `ThrottlingReasons`: `Table|Index` + `Read|Write` + `ProvisionedThroughputExceeded`, and the
/// ARN of the table or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlingReason {
    pub reason: String,
    pub resource: String,
}

/// What ran out, for [`DynamoError::ThroughputExceeded`] (boxed: errors stay small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub message: String,
    pub reasons: Vec<ThrottlingReason>,
}

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// Shape validation in the coral format.
    #[error("{0}")]
    Validation(String),
    /// The request body does not match the API's shapes (a value of the wrong JSON type, bad base64).
    #[error("{0}")]
    Serialization(String),
    /// Stored data that does not decode: a server-side failure, never shown to the caller in detail.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    /// A service quota, such as the key switches a table may make in a day.
    #[error("{0}")]
    LimitExceeded(String),
    /// KMS refused the caller the table's key (`KMS key access denied error: ...`).
    #[error("{0}")]
    AccessDenied(String),
    /// A transaction was cancelled: one reason per action, in request order.
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", .0.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(", "))]
    TransactionCanceled(Vec<CancellationReason>),
    /// ProvisionedThroughputExceededException, with which table or index ran out of which capacity
    /// (`ThrottlingReasons`).
    #[error("{}", .0.message)]
    ThroughputExceeded(Box<Throttled>),
    /// One of DynamoDB's other modeled errors, by its name (`BackupNotFoundException`, ...).
    #[error("{1}")]
    Named(&'static str, String),
    /// A stream position older than the oldest record kept.
    #[error("{0}")]
    TrimmedDataAccess(String),
    /// A shard iterator older than 15 minutes.
    #[error("{0}")]
    ExpiredIterator(String),
    /// A single-item write to an item that a transaction is writing at the same moment.
    #[error("{0}")]
    TransactionConflict(String),
    /// A ConditionExpression was false; carries the item it was evaluated against, if there was one.
    #[error("The conditional request failed")]
    ConditionalCheckFailed(Option<Box<attr::Item>>),
    /// The storage engine failed (I/O, corruption): a server-side failure.
    #[error("storage: {0}")]
    Storage(String),
}

/// The validation error DynamoDB's front end writes (`1 validation error detected: ...`).
pub fn coral_validation(errors: &[(String, &str, String)]) -> DynamoError {
    let parts: Vec<String> = errors
        .iter()
        .map(|(value, path, constraint)| {
            format!("Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")
        })
        .collect();
    let n = parts.len();
    DynamoError::Validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        parts.join("; ")
    ))
}

#[derive(Debug, Default)]
pub struct ListTablesInput {
    pub exclusive_start_table_name: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ListTablesOutput {
    pub table_names: Vec<String>,
    pub last_evaluated_table_name: Option<String>,
}

/// A page of ListTables over `names` (one account and region's table names, in any order).
pub fn list_tables(mut names: Vec<String>, input: &ListTablesInput) -> Result<ListTablesOutput, DynamoError> {
    let mut errors = Vec::new();
    if let Some(l) = input.limit {
        if l < 1 {
            errors.push((
                l.to_string(),
                "limit",
                "Member must have value greater than or equal to 1".to_owned(),
            ));
        } else if l > 100 {
            errors.push((
                l.to_string(),
                "limit",
                "Member must have value less than or equal to 100".to_owned(),
            ));
        }
    }
    if let Some(start) = &input.exclusive_start_table_name {
        if start.len() < 3 {
            errors.push((
                start.clone(),
                "exclusiveStartTableName",
                "Member must have length greater than or equal to 3".to_owned(),
            ));
        } else if start.len() > 255 {
            errors.push((
                start.clone(),
                "exclusiveStartTableName",
                "Member must have length less than or equal to 255".to_owned(),
            ));
        }
        if !start
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            errors.push((
                start.clone(),
                "exclusiveStartTableName",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".to_owned(),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(coral_validation(&errors));
    }
    let limit = input.limit.unwrap_or(100) as usize;
    names.sort();
    let after: Vec<String> = names
        .into_iter()
        .filter(|n| {
            input
                .exclusive_start_table_name
                .as_ref()
                .is_none_or(|s| n.as_str() > s.as_str())
        })
        .take(limit + 1)
        .collect();
    let more = after.len() > limit;
    let table_names: Vec<String> = after.into_iter().take(limit).collect();
    let last_evaluated_table_name = if more { table_names.last().cloned() } else { None };
    Ok(ListTablesOutput {
        table_names,
        last_evaluated_table_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_in_name_order() {
        let all = names(&["gamma", "alpha", "beta", "delta"]);
        let first = list_tables(
            all.clone(),
            &ListTablesInput {
                limit: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(first.table_names, vec!["alpha", "beta"]);
        assert_eq!(first.last_evaluated_table_name.as_deref(), Some("beta"));
        let second = list_tables(
            all,
            &ListTablesInput {
                limit: Some(2),
                exclusive_start_table_name: Some("beta".into()),
            },
        )
        .unwrap();
        assert_eq!(second.table_names, vec!["delta", "gamma"]);
        assert_eq!(second.last_evaluated_table_name, None);
        assert!(list_tables(Vec::new(), &ListTablesInput::default())
            .unwrap()
            .table_names
            .is_empty());
    }

    #[test]
    fn bad_limits_and_start_names_get_coral_messages() {
        let e = list_tables(
            Vec::new(),
            &ListTablesInput {
                limit: Some(0),
                exclusive_start_table_name: Some("a".into()),
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; Value 'a' at 'exclusiveStartTableName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
    }
}
