//! What CreateTable asks for, checked in DynamoDB's order with its messages, and the table definition it
//! becomes. The wire layer fills the typed input from the request; nothing here knows JSON.

use std::collections::HashSet;

use crate::key::{KeyAttr, KeySchema, KeyType};
use crate::{coral_validation, DynamoError};

#[derive(Debug, Clone, Default)]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Default)]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throughput {
    pub read: Option<i64>,
    pub write: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectionInput {
    pub projection_type: Option<String>,
    pub non_key_attributes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct IndexInput {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: ProjectionInput,
    pub provisioned_throughput: Option<Throughput>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateTableInput {
    pub table_name: String,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub billing_mode: Option<String>,
    pub provisioned_throughput: Option<Throughput>,
    pub local_secondary_indexes: Option<Vec<IndexInput>>,
    pub global_secondary_indexes: Option<Vec<IndexInput>>,
    pub deletion_protection_enabled: Option<bool>,
    pub table_class: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Billing {
    PayPerRequest,
    Provisioned { read: i64, write: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexSpec {
    pub name: String,
    pub schema: KeySchema,
    pub projection: Projection,
    pub throughput: Option<(i64, i64)>,
    /// A global index added to a table that has items is filled from them in the background; until that
    /// is done it is CREATING and cannot be read.
    #[serde(default)]
    pub backfilling: bool,
}

/// A table's definition, as CreateTable accepted it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub schema: KeySchema,
    /// AttributeDefinitions, in request order.
    pub attributes: Vec<(String, KeyType)>,
    pub billing: Billing,
    pub local_indexes: Vec<IndexSpec>,
    pub global_indexes: Vec<IndexSpec>,
    pub deletion_protection: bool,
    pub table_class: String,
}

const NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";
const MAX_CAPACITY: i64 = 1_000_000_000_000;

fn invalid(detail: impl std::fmt::Display) -> DynamoError {
    DynamoError::Validation(format!("One or more parameter values were invalid: {detail}"))
}

fn plain(message: &str) -> DynamoError {
    DynamoError::Validation(message.to_owned())
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The shape checks DynamoDB's front end makes first, reported together in the coral format.
fn shape_errors(input: &CreateTableInput) -> Vec<(String, &'static str, String)> {
    let mut errors = Vec::new();
    let name = &input.table_name;
    if !name_ok(name) {
        errors.push((
            name.clone(),
            "tableName",
            format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ));
    }
    if name.len() < 3 {
        errors.push((
            name.clone(),
            "tableName",
            "Member must have length greater than or equal to 3".into(),
        ));
    }
    if name.len() > 255 {
        errors.push((
            name.clone(),
            "tableName",
            "Member must have length less than or equal to 255".into(),
        ));
    }
    if let Some(mode) = &input.billing_mode {
        if mode != "PROVISIONED" && mode != "PAY_PER_REQUEST" {
            errors.push((
                mode.clone(),
                "billingMode",
                "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]".into(),
            ));
        }
    }
    if input.key_schema.len() > 2 {
        errors.push((
            "[...]".into(),
            "keySchema",
            "Member must have length less than or equal to 2".into(),
        ));
    }
    for d in &input.attribute_definitions {
        if !matches!(d.attribute_type.as_str(), "S" | "N" | "B") {
            errors.push((
                d.attribute_type.clone(),
                "attributeDefinitions.member.attributeType",
                "Member must satisfy enum value set: [B, N, S]".into(),
            ));
        }
    }
    for k in &input.key_schema {
        if !matches!(k.key_type.as_str(), "HASH" | "RANGE") {
            errors.push((
                k.key_type.clone(),
                "keySchema.member.keyType",
                "Member must satisfy enum value set: [HASH, RANGE]".into(),
            ));
        }
    }
    if let Some(t) = input.provisioned_throughput {
        for (v, path) in [
            (t.read, "provisionedThroughput.readCapacityUnits"),
            (t.write, "provisionedThroughput.writeCapacityUnits"),
        ] {
            if let Some(v) = v.filter(|v| *v < 1) {
                errors.push((
                    v.to_string(),
                    path,
                    "Member must have value greater than or equal to 1".into(),
                ));
            }
        }
    }
    errors
}

/// A key schema checked against the attribute definitions.
fn key_schema(elements: &[KeySchemaElement], defs: &[(String, KeyType)]) -> Result<KeySchema, DynamoError> {
    let names: Vec<&str> = elements.iter().map(|k| k.attribute_name.as_str()).collect();
    let undefined = names.iter().any(|n| !defs.iter().any(|(d, _)| d == n));
    if undefined {
        let defined: Vec<&str> = defs.iter().map(|(d, _)| d.as_str()).collect();
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            names.join(", "),
            defined.join(", ")
        )));
    }
    if names.len() == 2 && names[0] == names[1] {
        return Err(plain(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    let first = elements
        .first()
        .ok_or_else(|| invalid("The number of attributes in key schema must match the number of attributes defined in attribute definitions."))?;
    if first.key_type != "HASH" {
        return Err(plain(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if elements.get(1).is_some_and(|k| k.key_type != "RANGE") {
        return Err(plain(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    let attr = |name: &str| -> KeyAttr {
        let kind = defs.iter().find(|(d, _)| d == name).map_or(KeyType::S, |(_, t)| *t);
        KeyAttr {
            name: name.to_owned(),
            kind,
        }
    };
    Ok(KeySchema {
        partition: attr(names[0]),
        sort: names.get(1).map(|n| attr(n)),
    })
}

fn projection(p: &ProjectionInput) -> Result<Projection, DynamoError> {
    let kind = p
        .projection_type
        .as_deref()
        .ok_or_else(|| invalid("Unknown ProjectionType: null"))?;
    if p.non_key_attributes.is_some() && kind != "INCLUDE" {
        return Err(invalid(format!(
            "ProjectionType is {kind}, but NonKeyAttributes is specified"
        )));
    }
    match kind {
        "ALL" => Ok(Projection::All),
        "KEYS_ONLY" => Ok(Projection::KeysOnly),
        "INCLUDE" => Ok(Projection::Include(p.non_key_attributes.clone().unwrap_or_default())),
        other => Err(invalid(format!("Unknown ProjectionType: {other}"))),
    }
}

fn index_name(name: &str) -> Result<(), DynamoError> {
    if !name_ok(name) || name.len() < 3 || name.len() > 255 {
        return Err(invalid(format!(
            "Index name {name} must be between 3 and 255 characters long and contain only {NAME_PATTERN}"
        )));
    }
    Ok(())
}

/// One global secondary index of a CreateTable or UpdateTable request, checked.
fn global_index(i: &IndexInput, attributes: &[(String, KeyType)], billing: Billing) -> Result<IndexSpec, DynamoError> {
    index_name(&i.index_name)?;
    let s = key_schema(&i.key_schema, attributes)?;
    let projection = projection(&i.projection)?;
    let throughput = match (billing, i.provisioned_throughput) {
        (Billing::PayPerRequest, Some(_)) => {
            return Err(invalid(format!(
                "ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
                i.index_name
            )))
        }
        (Billing::PayPerRequest, None) => None,
        (
            Billing::Provisioned { .. },
            Some(Throughput {
                read: Some(r),
                write: Some(w),
            }),
        ) => Some((r, w)),
        (Billing::Provisioned { .. }, _) => {
            return Err(invalid(format!(
                "ProvisionedThroughput must be specified for index: {}",
                i.index_name
            )))
        }
    };
    Ok(IndexSpec {
        name: i.index_name.clone(),
        schema: s,
        projection,
        throughput,
        backfilling: false,
    })
}

impl TableSpec {
    /// UpdateTable's `GlobalSecondaryIndexUpdates` `Create`: the index added, to be backfilled.
    /// `definitions` are the request's AttributeDefinitions (which must name the new index's key
    /// attributes, and may not retype the table's).
    pub fn add_global_index(
        &mut self,
        definitions: &[AttributeDefinition],
        input: &IndexInput,
    ) -> Result<(), DynamoError> {
        let mut attributes = self.attributes.clone();
        for d in definitions {
            let kind = KeyType::parse(&d.attribute_type).ok_or_else(|| {
                coral_validation(&[(
                    d.attribute_type.clone(),
                    "attributeDefinitions.member.attributeType",
                    "Member must satisfy enum value set: [B, N, S]".into(),
                )])
            })?;
            match attributes.iter().find(|(n, _)| *n == d.attribute_name) {
                Some((_, existing)) if *existing != kind => {
                    return Err(invalid(format!(
                        "Cannot change the type of existing attribute {} from {} to {}",
                        d.attribute_name,
                        existing.as_str(),
                        kind.as_str()
                    )))
                }
                Some(_) => {}
                None => attributes.push((d.attribute_name.clone(), kind)),
            }
        }
        let exists = self
            .local_indexes
            .iter()
            .chain(&self.global_indexes)
            .any(|x| x.name == input.index_name);
        if exists {
            return Err(invalid(format!(
                "Attempting to create an index which already exists: {}",
                input.index_name
            )));
        }
        if self.global_indexes.len() >= 20 {
            return Err(DynamoError::LimitExceeded(
                "GlobalSecondaryIndex count exceeds the per-table limit of 20".into(),
            ));
        }
        let mut index = global_index(input, &attributes, self.billing)?;
        index.backfilling = true;
        self.global_indexes.push(index);
        self.attributes = attributes;
        self.keep_used_definitions();
        Ok(())
    }

    /// UpdateTable's `GlobalSecondaryIndexUpdates` `Delete`.
    pub fn remove_global_index(&mut self, name: &str) -> Result<IndexSpec, DynamoError> {
        let at = self.global_indexes.iter().position(|x| x.name == name).ok_or_else(|| {
            DynamoError::ResourceNotFound(format!("Requested resource not found: Index: {name} not found"))
        })?;
        let removed = self.global_indexes.remove(at);
        self.keep_used_definitions();
        Ok(removed)
    }

    /// The names of every key attribute of the table and its indexes.
    fn key_names(&self) -> HashSet<&str> {
        std::iter::once(&self.schema)
            .chain(self.local_indexes.iter().map(|i| &i.schema))
            .chain(self.global_indexes.iter().map(|i| &i.schema))
            .flat_map(|s| std::iter::once(&s.partition).chain(s.sort.as_ref()))
            .map(|a| a.name.as_str())
            .collect()
    }

    /// AttributeDefinitions hold only attributes some key uses.
    fn keep_used_definitions(&mut self) {
        let used: HashSet<String> = self.key_names().into_iter().map(str::to_owned).collect();
        self.attributes.retain(|(n, _)| used.contains(n));
    }

    /// Checks a CreateTable request as DynamoDB does, first error wins (after the shape checks, which are
    /// reported together).
    pub fn from_create(input: &CreateTableInput) -> Result<TableSpec, DynamoError> {
        let shape = shape_errors(input);
        if !shape.is_empty() {
            return Err(coral_validation(&shape));
        }
        let billing = match input.billing_mode.as_deref() {
            Some("PAY_PER_REQUEST") => {
                if input.provisioned_throughput.is_some() {
                    return Err(invalid(
                        "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                    ));
                }
                Billing::PayPerRequest
            }
            _ => match input.provisioned_throughput {
                Some(Throughput {
                    read: Some(read),
                    write: Some(write),
                }) => {
                    for (v, what) in [(read, "ReadCapacityUnits"), (write, "WriteCapacityUnits")] {
                        if v > MAX_CAPACITY {
                            return Err(plain(&format!("Given value {v} for {what} is out of bounds")));
                        }
                    }
                    Billing::Provisioned { read, write }
                }
                _ => return Err(invalid(
                    "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                )),
            },
        };
        let mut attributes: Vec<(String, KeyType)> = Vec::new();
        for d in &input.attribute_definitions {
            if attributes.iter().any(|(n, _)| *n == d.attribute_name) {
                return Err(invalid("Cannot have two attributes with the same name"));
            }
            let kind = KeyType::parse(&d.attribute_type).unwrap_or(KeyType::S);
            attributes.push((d.attribute_name.clone(), kind));
        }
        let schema = key_schema(&input.key_schema, &attributes)?;

        let mut names = HashSet::new();
        let mut local_indexes = Vec::new();
        if let Some(lsis) = &input.local_secondary_indexes {
            if lsis.is_empty() {
                return Err(invalid("List of LocalSecondaryIndexes is empty"));
            }
            if schema.sort.is_none() {
                return Err(invalid(
                    "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                ));
            }
            for i in lsis {
                index_name(&i.index_name)?;
                let s = key_schema(&i.key_schema, &attributes)?;
                if s.sort.is_none() {
                    return Err(invalid(format!(
                        "Index KeySchema does not have a range key for index: {}",
                        i.index_name
                    )));
                }
                if s.partition.name != schema.partition.name {
                    return Err(invalid(format!(
                        "Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                        i.index_name, s.partition.name, schema.partition.name
                    )));
                }
                let projection = projection(&i.projection)?;
                if !names.insert(i.index_name.clone()) {
                    return Err(invalid(format!("Duplicate index name: {}", i.index_name)));
                }
                local_indexes.push(IndexSpec {
                    name: i.index_name.clone(),
                    schema: s,
                    projection,
                    throughput: None,
                    backfilling: false,
                });
            }
            if lsis.len() > 5 {
                return Err(invalid("Number of LocalSecondaryIndexes exceeds per-table limit of 5"));
            }
        }
        let mut global_indexes = Vec::new();
        if let Some(gsis) = &input.global_secondary_indexes {
            if gsis.is_empty() {
                return Err(invalid("List of GlobalSecondaryIndexes is empty"));
            }
            for i in gsis {
                let index = global_index(i, &attributes, billing)?;
                if !names.insert(i.index_name.clone()) {
                    return Err(invalid(format!("Duplicate index name: {}", i.index_name)));
                }
                global_indexes.push(index);
            }
            if gsis.len() > 20 {
                return Err(invalid("GlobalSecondaryIndex count exceeds the per-table limit of 20"));
            }
        }
        // Every definition must be used by a key somewhere.
        let used: HashSet<&str> = std::iter::once(&schema)
            .chain(local_indexes.iter().map(|i| &i.schema))
            .chain(global_indexes.iter().map(|i| &i.schema))
            .flat_map(|s| std::iter::once(&s.partition).chain(s.sort.as_ref()))
            .map(|a| a.name.as_str())
            .collect();
        if attributes.iter().any(|(n, _)| !used.contains(n.as_str())) {
            return Err(invalid(
                "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let table_class = input.table_class.clone().unwrap_or_else(|| "STANDARD".into());
        if table_class != "STANDARD" && table_class != "STANDARD_INFREQUENT_ACCESS" {
            return Err(coral_validation(&[(
                table_class,
                "tableClass",
                "Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]".into(),
            )]));
        }
        Ok(TableSpec {
            name: input.table_name.clone(),
            schema,
            attributes,
            billing,
            local_indexes,
            global_indexes,
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
            table_class,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CreateTableInput {
        CreateTableInput {
            table_name: "orders".into(),
            attribute_definitions: vec![
                AttributeDefinition {
                    attribute_name: "pk".into(),
                    attribute_type: "S".into(),
                },
                AttributeDefinition {
                    attribute_name: "sk".into(),
                    attribute_type: "N".into(),
                },
            ],
            key_schema: vec![
                KeySchemaElement {
                    attribute_name: "pk".into(),
                    key_type: "HASH".into(),
                },
                KeySchemaElement {
                    attribute_name: "sk".into(),
                    key_type: "RANGE".into(),
                },
            ],
            billing_mode: Some("PAY_PER_REQUEST".into()),
            ..Default::default()
        }
    }

    fn err(input: CreateTableInput) -> String {
        TableSpec::from_create(&input).unwrap_err().to_string()
    }

    #[test]
    fn a_good_request_becomes_a_spec() {
        let spec = TableSpec::from_create(&base()).unwrap();
        assert_eq!(spec.schema.partition.name, "pk");
        assert_eq!(spec.schema.sort.as_ref().map(|s| s.kind), Some(KeyType::N));
        assert_eq!(spec.billing, Billing::PayPerRequest);
        assert_eq!(spec.table_class, "STANDARD");
    }

    #[test]
    fn bad_requests_get_dynamodb_messages() {
        let mut i = base();
        i.table_name = "a!".into();
        assert_eq!(
            err(i),
            "2 validation errors detected: Value 'a!' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a!' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
        let mut i = base();
        i.billing_mode = None;
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        );
        let mut i = base();
        i.provisioned_throughput = Some(Throughput {
            read: Some(5),
            write: Some(5),
        });
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
        );
        let mut i = base();
        i.key_schema.swap(0, 1);
        assert_eq!(
            err(i),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
        );
        let mut i = base();
        i.key_schema[1].attribute_name = "pk".into();
        assert_eq!(
            err(i),
            "Both the Hash Key and the Range Key element in the KeySchema have the same name"
        );
        let mut i = base();
        i.key_schema[1].attribute_name = "other".into();
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [pk, other], AttributeDefinitions: [pk, sk]"
        );
        let mut i = base();
        i.key_schema.pop();
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"
        );
        let mut i = base();
        i.attribute_definitions[1].attribute_type = "X".into();
        assert_eq!(
            err(i),
            "1 validation error detected: Value 'X' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
        );
    }

    #[test]
    fn indexes_are_checked() {
        let lsi = |name: &str, hash: &str| IndexInput {
            index_name: name.into(),
            key_schema: vec![
                KeySchemaElement {
                    attribute_name: hash.into(),
                    key_type: "HASH".into(),
                },
                KeySchemaElement {
                    attribute_name: "sk".into(),
                    key_type: "RANGE".into(),
                },
            ],
            projection: ProjectionInput {
                projection_type: Some("KEYS_ONLY".into()),
                non_key_attributes: None,
            },
            provisioned_throughput: None,
        };
        let mut i = base();
        i.local_secondary_indexes = Some(vec![lsi("by-sk", "pk")]);
        assert_eq!(TableSpec::from_create(&i).unwrap().local_indexes.len(), 1);
        let mut i = base();
        i.local_secondary_indexes = Some(vec![lsi("by-sk", "pk"), lsi("by-sk", "pk")]);
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: Duplicate index name: by-sk"
        );
        let mut i = base();
        let mut other = lsi("by-sk", "sk");
        other.key_schema[1].attribute_name = "pk".into();
        i.local_secondary_indexes = Some(vec![other]);
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: by-sk. index hash key: sk, table hash key: pk"
        );
        let mut i = base();
        let mut g = lsi("gsi", "sk");
        g.key_schema.pop();
        g.projection.non_key_attributes = Some(vec!["x".into()]);
        i.global_secondary_indexes = Some(vec![g]);
        assert_eq!(
            err(i),
            "One or more parameter values were invalid: ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"
        );
    }
}
