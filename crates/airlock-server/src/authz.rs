//! Authorization: one [`Check`] of one [`Caller`], decided by the policy engine.

use airlock_policy::{
    Context, ContextValue, Decision, Evaluation, MissingAllow, PolicyKind, PolicySet, Request,
    evaluate,
};

use crate::service::{Call, Caller, CallerKind, Check};
use crate::xml::iso8601;

/// Evaluates `check` for the call's caller with the request's global context keys.
pub fn authorize(call: &Call, check: &Check) -> Evaluation {
    let caller = &call.caller;
    let mut context = check.context.clone();
    add_global_context(call, &mut context);
    let request = Request {
        principal: caller.principal.clone(),
        action: check.action.clone(),
        resource: check.resource.clone(),
        context,
    };
    let policies = PolicySet {
        identity: caller.identity.clone(),
        boundary: caller.boundary.clone(),
        session: caller.session_policies.clone(),
        resource: check.resource_policy.clone(),
        endpoint: call.origin.network.as_ref().map(|n| n.policy.clone()),
        ..PolicySet::default()
    };
    evaluate(&request, &policies)
}

/// The global condition keys of a request (see [`add_global_context`]) as a fresh context:
/// what a service starts from when it authorizes on the caller's behalf elsewhere (S3 calling
/// KMS), so keys the listener adds reach those decisions too.
pub fn request_context(call: &Call) -> Context {
    let mut context = Context::new();
    add_global_context(call, &mut context);
    context
}

/// Adds the request's global condition keys (`aws:SourceIp`, `aws:SecureTransport`, time,
/// region, ...) to `context`, keeping keys it already has. For services that authorize inside
/// their operation (KMS) with the same keys the pipeline's checks get.
pub fn add_global_context(call: &Call, context: &mut airlock_policy::Context) {
    let caller = &call.caller;
    let set = |ctx: &mut airlock_policy::Context, k: &str, v: String| {
        if ctx.get(k).is_none() {
            ctx.insert(k, ContextValue::Single(v));
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Network origin: through a VPC endpoint the VPC keys replace aws:SourceIp (EC2 branch).
    match &call.origin.network {
        Some(n) => {
            set(context, "aws:SourceVpce", n.vpce_id.clone());
            set(context, "aws:SourceVpc", n.vpc_id.clone());
            set(context, "aws:VpceAccount", n.vpce_account.clone());
        }
        None => set(context, "aws:SourceIp", call.origin.peer.ip().to_string()),
    }
    set(context, "aws:SecureTransport", call.origin.tls.to_string());
    set(context, "aws:CurrentTime", iso8601(now));
    set(context, "aws:EpochTime", now.to_string());
    set(context, "aws:RequestedRegion", call.region.clone());
    set(context, "aws:ViaAWSService", "false".to_string());
    if let CallerKind::Session(s) = &caller.kind {
        set(context, "aws:TokenIssueTime", iso8601(s.issued));
        set(context, "aws:MultiFactorAuthPresent", "false".to_string());
    }
    if let Some(ua) = call.headers.get("user-agent").and_then(|v| v.to_str().ok()) {
        set(context, "aws:UserAgent", ua.to_string());
    }
}

fn kind_phrase(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "an identity-based policy",
        PolicyKind::Boundary => "a permissions boundary",
        PolicyKind::Session => "a session policy",
        PolicyKind::ServiceControl => "a service control policy",
        PolicyKind::ResourceControl => "a resource control policy",
        PolicyKind::Resource | PolicyKind::Key | PolicyKind::Trust => "a resource-based policy",
        PolicyKind::Endpoint => "a VPC endpoint policy",
    }
}

/// AWS's `AccessDenied` message: `User: ARN is not authorized to perform: ACTION on resource:
/// RESOURCE because ...` (the reason clause as AWS's newer messages give it; STS messages
/// carry none, as on AWS).
///
/// S3 answers a plain `Access Denied` to anonymous and cross-account callers, and quotes the
/// resource for callers of the bucket owner's account, as S3 does.
pub fn denial_message(caller: &Caller, check: &Check, eval: &Evaluation) -> String {
    let s3 = check.action.to_ascii_lowercase().starts_with("s3:");
    if s3
        && (caller.is_anonymous()
            || check.resource.account.as_deref() != Some(caller.account.as_str()))
    {
        return "Access Denied".to_string();
    }
    let base = if s3 {
        format!(
            "User: {} is not authorized to perform: {} on resource: \"{}\"",
            caller.arn, check.action, check.resource.arn
        )
    } else {
        format!(
            "User: {} is not authorized to perform: {} on resource: {}",
            caller.arn, check.action, check.resource.arn
        )
    };
    if check.action.to_ascii_lowercase().starts_with("sts:") {
        return base;
    }
    let action = &check.action;
    let reason = match eval.decision {
        Decision::ExplicitDeny => {
            let kind = eval
                .explanation
                .deciding
                .first()
                .map(|s| s.policy.kind)
                .unwrap_or(PolicyKind::Identity);
            format!("with an explicit deny in {}", kind_phrase(kind))
        }
        _ => {
            let what = match eval.explanation.missing.first() {
                Some(MissingAllow::Resource { .. }) | Some(MissingAllow::KeyPolicy) => {
                    "resource-based policy"
                }
                Some(MissingAllow::Boundary) => "permissions boundary",
                Some(MissingAllow::Session) => "session policy",
                Some(MissingAllow::ServiceControl { .. }) => "service control policy",
                Some(MissingAllow::ResourceControl { .. }) => "resource control policy",
                Some(MissingAllow::Endpoint) => "VPC endpoint policy",
                Some(MissingAllow::Identity { .. }) | None => "identity-based policy",
            };
            format!("because no {what} allows the {action} action")
        }
    };
    format!("{base} {reason}")
}
