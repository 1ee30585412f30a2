//! STS: GetCallerIdentity and AssumeRole.

use crate::services::query::Params;
use crate::xml::Xml;
use crate::{unknown_operation, Api, ApiError, App, Caller, Reply};

pub fn dispatch(app: &App, caller: &Caller, action: &str, p: &Params) -> Result<Reply, ApiError> {
    let principal = &caller.entry.principal;
    let mut x = Xml::new();
    match action {
        "GetCallerIdentity" => {
            // Needs no permission: AWS answers it even under an explicit deny.
            x.leaf("Arn", &principal.arn())
                .leaf("UserId", &principal.principal_id())
                .leaf("Account", principal.account().unwrap_or_default());
        }
        "AssumeRole" => {
            let role_arn = p.required("RoleArn")?;
            let session = p.required("RoleSessionName")?;
            let issued = app
                .iam
                .assume_role(&caller.entry, role_arn, session, p.int("DurationSeconds")?)?;
            x.node("Credentials", |c| {
                c.leaf("AccessKeyId", &issued.access_key_id)
                    .leaf("SecretAccessKey", issued.secret.expose())
                    .leaf("SessionToken", issued.token.expose())
                    .leaf("Expiration", &base::timefmt::iso8601_millis(issued.expires_ms));
            })
            .node("AssumedRoleUser", |u| {
                u.leaf("AssumedRoleId", &issued.principal.principal_id())
                    .leaf("Arn", &issued.principal.arn());
            });
        }
        _ => return Err(unknown_operation(Api::Sts, action)),
    }
    Ok(Reply::Xml {
        action: action.to_owned(),
        result: Some(x.into_string()),
    })
}
