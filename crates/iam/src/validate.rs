//! IAM's input rules and the coral validation message format.

use crate::IamError;

pub fn coral(value: &str, path: &str, constraint: &str) -> String {
    format!("1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")
}

/// `[\w+=,.@-]`
pub fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

pub fn check_name(name: &str, path: &str, max: usize) -> Result<(), IamError> {
    if name.is_empty() {
        return Err(IamError::Validation(coral(
            name,
            path,
            "Member must have length greater than or equal to 1",
        )));
    }
    if name.chars().count() > max {
        return Err(IamError::Validation(coral(
            name,
            path,
            &format!("Member must have length less than or equal to {max}"),
        )));
    }
    if !name.chars().all(name_char) {
        return Err(IamError::Validation(coral(
            name,
            path,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        )));
    }
    Ok(())
}

pub fn check_path(path: Option<&str>) -> Result<String, IamError> {
    let p = path.unwrap_or("/");
    let ok = p.len() <= 512
        && p.starts_with('/')
        && p.ends_with('/')
        && p.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if ok {
        Ok(p.to_owned())
    } else {
        Err(IamError::Validation(coral(
            p,
            "path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        )))
    }
}

/// IAM counts a policy's size without white space.
pub fn check_policy_size(doc: &str, limit: usize) -> Result<(), IamError> {
    let size = doc.chars().filter(|c| !c.is_whitespace()).count();
    if size > limit {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {limit}"
        )));
    }
    Ok(())
}
