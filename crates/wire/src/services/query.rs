//! awsQuery parameters (form-encoded body, or the query string).

use std::collections::HashMap;

use crate::ApiError;

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8], query: &str) -> Params {
        let mut map: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        map.extend(form_urlencoded::parse(body).into_owned());
        Params(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required member, or coral's `Member must not be null` under its lower-camel path.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| {
            let mut path = name.to_owned();
            if let Some(first) = path.get_mut(0..1) {
                first.make_ascii_lowercase();
            }
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::validation(format!("Value '{v}' for parameter {name} is invalid.")))
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}
