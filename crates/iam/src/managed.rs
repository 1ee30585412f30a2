//! AWS managed policies that exist in every account (`arn:aws:iam::aws:policy/...`).
//!
//! Only the statements for services Strongroom answers are kept; the rest could never apply here.

pub const ADMINISTRATOR_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

pub const BUILTIN: &[(&str, &str, &str)] = &[
    ("AdministratorAccess", "/", ADMINISTRATOR_ACCESS),
    (
        "IAMFullAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "AmazonDynamoDBFullAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["dynamodb:*","kms:DescribeKey","kms:ListAliases"],"Effect":"Allow","Resource":"*"}]}"#,
    ),
    (
        "AmazonDynamoDBReadOnlyAccess",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Action":["dynamodb:BatchGetItem","dynamodb:Describe*","dynamodb:List*","dynamodb:GetAbacStatus","dynamodb:GetItem","dynamodb:GetResourcePolicy","dynamodb:Query","dynamodb:Scan","dynamodb:PartiQLSelect","kms:DescribeKey","kms:ListAliases"],"Effect":"Allow","Resource":"*"}]}"#,
    ),
    (
        "AWSKeyManagementServicePowerUser",
        "/",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:CreateKey","kms:DeleteAlias","kms:Describe*","kms:GenerateRandom","kms:Get*","kms:List*","kms:TagResource","kms:UntagResource","iam:ListGroups","iam:ListRoles","iam:ListUsers"],"Resource":"*"}]}"#,
    ),
];

pub fn arn(name: &str, path: &str) -> String {
    format!("arn:aws:iam::aws:policy{path}{name}")
}
