//! IAM over awsQuery: users, access keys, roles, inline and managed policies.

use iam::{AccessKey, KeyStatus, ManagedPolicy, Page, Role, Target, User};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::services::query::Params;
use crate::xml::Xml;
use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

/// IAM returns policy documents URL-encoded inside its XML.
const DOC_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn encoded_doc(doc: &str) -> String {
    utf8_percent_encode(doc, DOC_ENCODE).to_string()
}

fn date(ms: i64) -> String {
    base::timefmt::iso8601_millis(ms)
}

fn user_xml(x: &mut Xml, account: &str, u: &User) {
    x.leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.user_id)
        .leaf("Arn", &iam::user_arn(account, u))
        .leaf("CreateDate", &date(u.created_ms));
}

fn role_xml(x: &mut Xml, account: &str, r: &Role) {
    x.leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.role_id)
        .leaf("Arn", &iam::role_arn(account, r))
        .leaf("CreateDate", &date(r.created_ms))
        .leaf("AssumeRolePolicyDocument", &encoded_doc(&r.trust.text))
        .opt_leaf("Description", r.description.as_deref())
        .leaf("MaxSessionDuration", &r.max_session_duration.to_string());
}

fn policy_xml(x: &mut Xml, arn: &str, p: &ManagedPolicy, attachments: usize) {
    x.leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.policy_id)
        .leaf("Arn", arn)
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", "v1")
        .leaf("AttachmentCount", &attachments.to_string())
        .leaf("PermissionsBoundaryUsageCount", "0")
        .leaf("IsAttachable", "true")
        .opt_leaf("Description", p.description.as_deref())
        .leaf("CreateDate", &date(p.created_ms))
        .leaf("UpdateDate", &date(p.created_ms));
}

fn key_meta_xml(x: &mut Xml, owner: &str, k: &AccessKey) {
    if !owner.is_empty() {
        x.leaf("UserName", owner);
    }
    x.leaf("AccessKeyId", &k.id)
        .leaf("Status", k.status.as_str())
        .leaf("CreateDate", &date(k.created_ms));
}

fn page_tail<T>(x: &mut Xml, page: &Page<T>) {
    x.leaf("IsTruncated", if page.marker.is_some() { "true" } else { "false" });
    x.opt_leaf("Marker", page.marker.as_deref());
}

pub fn dispatch(app: &App, caller: &Caller, action: &str, p: &Params) -> Result<Reply, ApiError> {
    let account = caller.account().to_owned();
    let a = account.as_str();
    let user_res = |name: &str| format!("arn:aws:iam::{a}:user/{name}");
    let role_res = |name: &str| format!("arn:aws:iam::{a}:role/{name}");
    // The user a self-service call (no UserName) acts on: the caller itself, or the root user.
    let self_name = match &caller.entry.principal {
        iam::Principal::User { name, .. } => Some(name.clone()),
        _ => None,
    };
    let resource = match action {
        "CreateUser"
        | "GetUser"
        | "DeleteUser"
        | "PutUserPolicy"
        | "GetUserPolicy"
        | "ListUserPolicies"
        | "DeleteUserPolicy"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "ListAttachedUserPolicies"
        | "CreateAccessKey"
        | "ListAccessKeys"
        | "DeleteAccessKey"
        | "UpdateAccessKey" => match p.get("UserName").map(str::to_owned).or(self_name.clone()) {
            Some(n) => user_res(&n),
            None => format!("arn:aws:iam::{a}:root"),
        },
        "CreateRole"
        | "GetRole"
        | "DeleteRole"
        | "PutRolePolicy"
        | "GetRolePolicy"
        | "ListRolePolicies"
        | "DeleteRolePolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "ListAttachedRolePolicies" => role_res(p.required("RoleName")?),
        "CreatePolicy" => format!(
            "arn:aws:iam::{a}:policy{}{}",
            p.get("Path").unwrap_or("/"),
            p.required("PolicyName")?
        ),
        "GetPolicy" | "DeletePolicy" => p.required("PolicyArn")?.to_owned(),
        "ListUsers" => format!("arn:aws:iam::{a}:user/"),
        "ListRoles" => format!("arn:aws:iam::{a}:role/"),
        "ListPolicies" => format!("arn:aws:iam::{a}:policy/"),
        _ => return Err(unknown_operation(Api::Iam, action)),
    };
    app.iam
        .authorize(&caller.entry, &format!("iam:{action}"), &resource, &Default::default())?;

    let iam = &app.iam;
    let marker = p.get("Marker");
    let max_items = p.int("MaxItems")?;
    let mut x = Xml::new();
    let mut result = true;
    match action {
        "CreateUser" => {
            let u = iam.create_user(a, p.required("UserName")?, p.get("Path"))?;
            x.node("User", |n| user_xml(n, a, &u));
        }
        "GetUser" => match p.get("UserName").map(str::to_owned).or(self_name) {
            Some(name) => {
                let u = iam.get_user(a, &name)?;
                x.node("User", |n| user_xml(n, a, &u));
            }
            None => {
                let principal = &caller.entry.principal;
                x.node("User", |n| {
                    n.leaf("UserId", &principal.principal_id())
                        .leaf("Arn", &principal.arn())
                        .leaf("CreateDate", &date(0));
                });
            }
        },
        "ListUsers" => {
            let page = iam.list_users(a, p.get("PathPrefix"), marker, max_items)?;
            x.members("Users", &page.items, |m, u| user_xml(m, a, u));
            page_tail(&mut x, &page);
        }
        "DeleteUser" => {
            iam.delete_user(a, p.required("UserName")?)?;
            result = false;
        }
        "CreateAccessKey" => {
            let user = p.get("UserName").map(str::to_owned).or(self_name);
            let (owner, k) = iam.create_access_key(a, user.as_deref())?;
            x.node("AccessKey", |n| {
                key_meta_xml(n, &owner, &k);
                n.leaf("SecretAccessKey", k.secret.expose());
            });
        }
        "ListAccessKeys" => {
            let user = p.get("UserName").map(str::to_owned).or(self_name);
            let keys = iam.list_access_keys(a, user.as_deref())?;
            let owner = user.unwrap_or_default();
            x.members("AccessKeyMetadata", &keys, |m, k| key_meta_xml(m, &owner, k));
            x.leaf("IsTruncated", "false");
        }
        "DeleteAccessKey" | "UpdateAccessKey" => {
            let user = p.get("UserName").map(str::to_owned).or(self_name);
            let id = p.required("AccessKeyId")?;
            if action == "DeleteAccessKey" {
                iam.delete_access_key(a, user.as_deref(), id)?;
            } else {
                let status = match p.required("Status")? {
                    "Active" => KeyStatus::Active,
                    "Inactive" => KeyStatus::Inactive,
                    other => {
                        return Err(ApiError::validation(format!(
                            "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                        )))
                    }
                };
                iam.update_access_key(a, user.as_deref(), id, status)?;
            }
            app.forget_signing_keys(id);
            result = false;
        }
        "PutUserPolicy" | "PutRolePolicy" => {
            iam.put_inline_policy(
                a,
                target(action, p)?,
                p.required("PolicyName")?,
                p.required("PolicyDocument")?,
            )?;
            result = false;
        }
        "GetUserPolicy" | "GetRolePolicy" => {
            let t = target(action, p)?;
            let name = p.required("PolicyName")?;
            let doc = iam.get_inline_policy(a, t, name)?;
            match t {
                Target::User(u) => x.leaf("UserName", u),
                Target::Role(r) => x.leaf("RoleName", r),
            };
            x.leaf("PolicyName", name).leaf("PolicyDocument", &encoded_doc(&doc));
        }
        "ListUserPolicies" | "ListRolePolicies" => {
            let page = iam.list_inline_policies(a, target(action, p)?, marker, max_items)?;
            x.node("PolicyNames", |n| {
                for name in &page.items {
                    n.leaf("member", name);
                }
            });
            page_tail(&mut x, &page);
        }
        "DeleteUserPolicy" | "DeleteRolePolicy" => {
            iam.delete_inline_policy(a, target(action, p)?, p.required("PolicyName")?)?;
            result = false;
        }
        "AttachUserPolicy" | "AttachRolePolicy" => {
            iam.attach_policy(a, target(action, p)?, p.required("PolicyArn")?)?;
            result = false;
        }
        "DetachUserPolicy" | "DetachRolePolicy" => {
            iam.detach_policy(a, target(action, p)?, p.required("PolicyArn")?)?;
            result = false;
        }
        "ListAttachedUserPolicies" | "ListAttachedRolePolicies" => {
            let page = iam.list_attached(a, target(action, p)?, marker, max_items)?;
            x.members("AttachedPolicies", &page.items, |m, (name, arn)| {
                m.leaf("PolicyName", name).leaf("PolicyArn", arn);
            });
            page_tail(&mut x, &page);
        }
        "CreateRole" => {
            let r = iam.create_role(
                a,
                p.required("RoleName")?,
                p.get("Path"),
                p.required("AssumeRolePolicyDocument")?,
                p.get("Description"),
                p.int("MaxSessionDuration")?,
            )?;
            x.node("Role", |n| role_xml(n, a, &r));
        }
        "GetRole" => {
            let r = iam.get_role(a, p.required("RoleName")?)?;
            x.node("Role", |n| role_xml(n, a, &r));
        }
        "ListRoles" => {
            let page = iam.list_roles(a, p.get("PathPrefix"), marker, max_items)?;
            x.members("Roles", &page.items, |m, r| role_xml(m, a, r));
            page_tail(&mut x, &page);
        }
        "DeleteRole" => {
            iam.delete_role(a, p.required("RoleName")?)?;
            result = false;
        }
        "CreatePolicy" => {
            let pol = iam.create_policy(
                a,
                p.required("PolicyName")?,
                p.get("Path"),
                p.required("PolicyDocument")?,
                p.get("Description"),
            )?;
            x.node("Policy", |n| policy_xml(n, &iam::policy_arn(a, &pol), &pol, 0));
        }
        "GetPolicy" => {
            let arn = p.required("PolicyArn")?;
            let (pol, count) = iam.get_policy(a, arn)?;
            x.node("Policy", |n| policy_xml(n, arn, &pol, count));
        }
        "ListPolicies" => {
            let scope = p.get("Scope").unwrap_or("All");
            let page = iam.list_policies(a, scope, p.bool("OnlyAttached"), marker, max_items)?;
            x.members("Policies", &page.items, |m, (arn, pol, count)| {
                policy_xml(m, arn, pol, *count)
            });
            page_tail(&mut x, &page);
        }
        "DeletePolicy" => {
            iam.delete_policy(a, p.required("PolicyArn")?)?;
            result = false;
        }
        _ => return Err(unknown_operation(Api::Iam, action)),
    }
    Ok(Reply::Xml {
        action: action.to_owned(),
        result: result.then(|| x.into_string()),
    })
}

fn target<'p>(action: &str, p: &'p Params) -> Result<Target<'p>, ApiError> {
    if action.contains("User") {
        Ok(Target::User(p.required("UserName")?))
    } else {
        Ok(Target::Role(p.required("RoleName")?))
    }
}
