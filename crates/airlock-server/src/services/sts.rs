//! STS over the query protocol: `GetCallerIdentity` and `AssumeRole`.

use std::sync::Arc;

use airlock_iam::Iam;
use airlock_policy::{NamedPolicy, PolicyId, PolicyKind};
use airlock_sts::{AssumeRoleInput, SessionCaller, Sts, packed_policy_size};

use super::{query_response, query_version_is};
use crate::error::AwsError;
use crate::service::{Call, CallerKind, Check, Params, Prepared, Protocol, Service};
use crate::xml::iso8601;

/// The STS XML namespace.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";

/// The STS service.
pub struct StsService {
    iam: Arc<Iam>,
    sts: Arc<Sts>,
}

impl StsService {
    /// STS over the IAM state and the session sealer.
    pub fn new(iam: Arc<Iam>, sts: Arc<Sts>) -> Self {
        StsService { iam, sts }
    }
}

fn assume_role_input(p: &Params) -> Result<AssumeRoleInput, AwsError> {
    let tags = p
        .structs("Tags")
        .into_iter()
        .map(|m| {
            (
                m.get("Key").cloned().unwrap_or_default(),
                m.get("Value").cloned().unwrap_or_default(),
            )
        })
        .collect();
    let policy_arns = p
        .structs("PolicyArns")
        .into_iter()
        .filter_map(|m| m.get("arn").cloned())
        .collect();
    Ok(AssumeRoleInput {
        role_arn: p.required("RoleArn", "roleArn")?.to_string(),
        role_session_name: p
            .required("RoleSessionName", "roleSessionName")?
            .to_string(),
        duration_seconds: p.int("DurationSeconds", "durationSeconds")?,
        external_id: p.get("ExternalId").map(str::to_string),
        policy: p.get("Policy").map(str::to_string),
        policy_arns,
        tags,
        transitive_tag_keys: p.list("TransitiveTagKeys"),
        source_identity: p.get("SourceIdentity").map(str::to_string),
    })
}

impl Service for StsService {
    fn signing_name(&self) -> &'static str {
        "sts"
    }

    fn protocol(&self) -> Protocol {
        Protocol::Query { xmlns: XMLNS }
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        params: &Params,
        _h: &http::HeaderMap,
    ) -> bool {
        query_version_is(params, VERSION)
    }

    fn operation_name(&self, params: &Params, _h: &http::HeaderMap) -> Option<String> {
        params.get("Action").map(str::to_string)
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        let action = call.params.get("Action").unwrap_or_default().to_string();
        match action.as_str() {
            "GetCallerIdentity" => Ok(Prepared::sync("GetCallerIdentity", Vec::new(), |call| {
                let c = &call.caller;
                Ok(query_response(
                    "GetCallerIdentity",
                    XMLNS,
                    &call.request_id,
                    |x| {
                        x.leaf("UserId", &c.user_id)
                            .leaf("Account", &c.account)
                            .leaf("Arn", &c.arn);
                    },
                ))
            })),
            "AssumeRole" => self.prepare_assume_role(call),
            "" => Err(AwsError::missing("action")),
            other => Err(AwsError::new(
                400,
                "InvalidAction",
                format!("Could not find operation {other} for version {VERSION}"),
            )),
        }
    }
}

impl StsService {
    fn prepare_assume_role(&self, call: &Call) -> Result<Prepared, AwsError> {
        let input = assume_role_input(&call.params)?;
        input.validate()?;
        // The role-chaining limit depends only on the caller and the input: checked before
        // authorization, like the other parameter validations.
        if matches!(call.caller.kind, CallerKind::Session(_))
            && input.duration_seconds.unwrap_or(3600) > 3600
        {
            return Err(AwsError::new(
                400,
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        let (account, name) = input.role_account_and_name().ok_or_else(|| {
            AwsError::new(
                400,
                "ValidationError",
                format!("{} is invalid", input.role_arn),
            )
        })?;
        let role = self.iam.find_role(&account, &name)?;
        let trust = match &role {
            Some(r) => Some(NamedPolicy {
                id: PolicyId {
                    kind: PolicyKind::Trust,
                    name: r.arn.clone(),
                },
                policy: self
                    .iam
                    .policy_cache()
                    .get(&r.assume_role_policy, PolicyKind::Trust)?,
            }),
            None => None,
        };
        let resource_arn = role
            .as_ref()
            .map(|r| r.arn.clone())
            .unwrap_or_else(|| input.role_arn.clone());
        let context = input.context();
        let checks = input
            .required_actions()
            .into_iter()
            .map(|action| {
                let mut c = Check::new(action, &resource_arn, &account);
                c.resource_policy = trust.clone();
                c.context = context.clone();
                c
            })
            .collect();
        let sts = self.sts.clone();
        Ok(Prepared::sync("AssumeRole", checks, move |call| {
            // The engine allowed sts:AssumeRole, which needs a trust policy: the role exists.
            let role = role.ok_or_else(|| AwsError::internal("role vanished during AssumeRole"))?;
            let caller = SessionCaller {
                is_root: matches!(call.caller.kind, CallerKind::Root),
                session: match &call.caller.kind {
                    CallerKind::Session(s) => Some((**s).clone()),
                    _ => None,
                },
            };
            let (session, creds) = sts.issue(&role, &input, &caller, airlock_iam::now())?;
            let packed = packed_policy_size(&input);
            Ok(query_response("AssumeRole", XMLNS, &call.request_id, |x| {
                x.open("Credentials")
                    .leaf("AccessKeyId", &creds.access_key_id)
                    .leaf("SecretAccessKey", &creds.secret_access_key)
                    .leaf("SessionToken", &creds.session_token)
                    .leaf("Expiration", &iso8601(creds.expiration))
                    .close("Credentials");
                x.open("AssumedRoleUser")
                    .leaf("AssumedRoleId", &session.assumed_role_id())
                    .leaf("Arn", &session.arn())
                    .close("AssumedRoleUser");
                if let Some(p) = packed {
                    x.leaf("PackedPolicySize", &p.to_string());
                }
                x.opt("SourceIdentity", session.source_identity.as_deref());
            }))
        }))
    }
}
