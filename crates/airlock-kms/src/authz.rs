//! Authorization: who is calling, the request context KMS adds, and the decision through the
//! policy engine with the key policy as the root of trust.

use std::sync::Arc;

use airlock_policy::{
    Context, ContextValue, Decision, Evaluation, MissingAllow, NamedPolicy, Policy, PolicyId,
    PolicyKind, PolicySet, Principal, Request, Resource, ResourceClause,
};

use crate::KmsError;
use crate::crypto::EncryptionContext;

/// The caller of a KMS operation: the principal, the policies of the identity side, and the
/// request's global context keys.
///
/// The server builds one per request from the authenticated credentials; S3 builds one for the
/// calls it makes on a caller's behalf (see [`Caller::via_service`]).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// The identity side: identity policies, permissions boundary, session policies and SCPs of
    /// the caller. `resource` and `endpoint` are ignored: KMS supplies the key policy itself.
    pub policies: PolicySet,
    /// Global condition keys of the request (`aws:SourceIp`, `aws:SecureTransport`,
    /// `aws:CurrentTime`, `aws:RequestedRegion`, ...). KMS adds its own keys to these.
    pub context: Context,
    /// `kms:ViaService`, when an AWS service calls KMS on the caller's behalf
    /// (`s3.us-east-1.amazonaws.com`).
    pub via_service: Option<String>,
    /// Told of every `GenerateDataKey` and `Decrypt` made with this caller: how the server's
    /// audit trail learns of the KMS calls a service (S3) makes on the caller's behalf.
    pub observer: Option<Arc<dyn KeyUseObserver>>,
}

/// A cryptographic call made with a [`Caller`] that has an observer, as reported to it.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    /// `GenerateDataKey` or `Decrypt`.
    pub operation: &'static str,
    /// The key ARN (of the key used, or of the denied action's resource); `None` when the key
    /// could not be determined.
    pub key_arn: Option<&'a str>,
    /// The encryption context of the call.
    pub encryption_context: &'a EncryptionContext,
    /// `KeySpec` of a `GenerateDataKey`.
    pub key_spec: Option<&'a str>,
    /// The error, if the call failed.
    pub error: Option<&'a KmsError>,
}

/// Receives the [`KeyUse`]s of callers it is attached to ([`Caller::observed_by`]). Must be
/// fast and must not fail.
pub trait KeyUseObserver: Send + Sync + std::fmt::Debug {
    /// One call.
    fn key_used(&self, used: &KeyUse<'_>);
}

/// Context keys that describe the network path of the caller's own request. A service calling
/// KMS on the caller's behalf does so from its own network, so these keys do not describe that
/// call (AWS: "VPC endpoint keys are not present on the KMS calls that S3 makes for you";
/// aws:SourceIp of such a call is an AWS address, never the caller's).
const NETWORK_KEYS: [&str; 4] = [
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpceaccount",
];

impl Caller {
    /// A caller calling KMS directly.
    pub fn new(principal: Principal, policies: PolicySet, context: Context) -> Caller {
        Caller {
            principal,
            policies,
            context,
            via_service: None,
            observer: None,
        }
    }

    /// The same caller, reporting its `GenerateDataKey` and `Decrypt` calls to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn KeyUseObserver>) -> Caller {
        self.observer = Some(observer);
        self
    }

    pub(crate) fn report(
        &self,
        operation: &'static str,
        key_arn: Option<&str>,
        encryption_context: &EncryptionContext,
        key_spec: Option<&str>,
        error: Option<&KmsError>,
    ) {
        if let Some(o) = &self.observer {
            let denied = match error {
                Some(KmsError::AccessDenied { resource, .. }) => Some(resource.as_str()),
                _ => None,
            };
            o.key_used(&KeyUse {
                operation,
                key_arn: key_arn.or(denied),
                encryption_context,
                key_spec,
                error,
            });
        }
    }

    /// The same caller, with the call made on its behalf by `service`
    /// (e.g. `s3.us-east-1.amazonaws.com`): sets `kms:ViaService` and `aws:ViaAWSService`, and
    /// drops the network keys of the caller's own request (`aws:SourceIp`, `aws:SourceVpc`,
    /// `aws:SourceVpce`, `aws:VpceAccount`).
    pub fn via_service(mut self, service: impl Into<String>) -> Caller {
        self.via_service = Some(service.into());
        self
    }

    /// The caller's account.
    pub fn account(&self) -> Option<&str> {
        self.principal.account()
    }

    /// The ARN named in `AccessDeniedException` messages.
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Service { name } => name.clone(),
            Principal::Federated { provider } => provider.clone(),
            Principal::Anonymous => "anonymous".to_string(),
            p => p.arn().unwrap_or_default(),
        }
    }

    /// Every policy of the identity side.
    fn identity_side(&self) -> impl Iterator<Item = &Policy> {
        let p = &self.policies;
        p.identity
            .iter()
            .chain(p.boundary.iter())
            .chain(p.session.iter())
            .chain(p.scps.iter().flatten())
            .chain(p.rcps.iter().flatten())
            .map(|n| n.policy.as_ref())
    }
}

/// The condition keys a policy can look up: those named in its conditions, or every key when a
/// policy variable (`${...}`) could name any key. Keys no policy looks up need not be in the
/// request context: leaving them out changes no decision and no explanation, and saves the
/// hot path most of its allocations.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRefs {
    all: bool,
    keys: Vec<String>,
}

impl KeyRefs {
    /// The keys `policy` may look up.
    pub(crate) fn of(policy: &Policy) -> KeyRefs {
        let mut refs = KeyRefs::default();
        let mut keys: Vec<&str> = Vec::new();
        refs.all = scan_policy(policy, &mut keys);
        refs.keys = keys.into_iter().map(str::to_ascii_lowercase).collect();
        refs
    }
}

/// Adds the condition keys of `policy` to `keys`; true if it uses policy variables.
fn scan_policy<'p>(policy: &'p Policy, keys: &mut Vec<&'p str>) -> bool {
    let mut vars = false;
    for st in &policy.statements {
        for c in &st.conditions {
            keys.push(c.key.as_str());
            vars |= c.values.iter().any(|v| v.contains("${"));
        }
        if let Some(ResourceClause::Resource(r) | ResourceClause::NotResource(r)) = &st.resource {
            vars |= r.iter().any(|p| p.0.contains("${"));
        }
    }
    vars
}

/// Builds the request context of one evaluation, with only the keys some policy may look up.
pub(crate) struct ContextBuilder<'a> {
    ctx: Context,
    all: bool,
    caller_keys: Vec<&'a str>,
    key_keys: &'a [String],
}

impl<'a> ContextBuilder<'a> {
    /// A context for `caller`, with the keys of its identity side and (for key operations) of
    /// the key policy, holding the caller's global keys (minus network keys for calls via a
    /// service), `kms:CallerAccount`, and `kms:ViaService`/`aws:ViaAWSService` when set.
    pub(crate) fn new(caller: &'a Caller, key_policy: Option<&'a KeyRefs>) -> ContextBuilder<'a> {
        let mut caller_keys = Vec::new();
        let mut all = key_policy.is_some_and(|k| k.all);
        for p in caller.identity_side() {
            all |= scan_policy(p, &mut caller_keys);
        }
        let mut b = ContextBuilder {
            ctx: Context::new(),
            all,
            caller_keys,
            key_keys: key_policy.map(|k| k.keys.as_slice()).unwrap_or(&[]),
        };
        let via = caller.via_service.is_some();
        for (k, v) in caller.context.iter() {
            if !(via && NETWORK_KEYS.contains(&k)) {
                b.put(k, || v.clone());
            }
        }
        if let Some(service) = &caller.via_service {
            b.put("kms:ViaService", || ContextValue::Single(service.clone()));
            b.put("aws:ViaAWSService", || ContextValue::Single("true".into()));
        }
        if let Some(account) = caller.account() {
            b.put("kms:CallerAccount", || {
                ContextValue::Single(account.to_string())
            });
        }
        b
    }

    /// True if some policy may look `key` up.
    pub(crate) fn wants(&self, key: &str) -> bool {
        self.all
            || self.key_keys.iter().any(|k| k.eq_ignore_ascii_case(key))
            || self.caller_keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// True if some policy may look up a key that starts with `prefix` (lower case).
    pub(crate) fn wants_prefix(&self, prefix: &str) -> bool {
        let starts = |k: &str| {
            k.len() >= prefix.len()
                && k.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        };
        self.all
            || self.key_keys.iter().any(|k| starts(k))
            || self.caller_keys.iter().any(|k| starts(k))
    }

    /// Sets `key` if some policy may look it up.
    pub(crate) fn put(&mut self, key: &str, value: impl FnOnce() -> ContextValue) {
        if self.wants(key) {
            self.ctx.insert(key, value());
        }
    }

    /// Adds `kms:EncryptionContext:<k>` for every pair and `kms:EncryptionContextKeys`.
    pub(crate) fn encryption_context(&mut self, ec: &EncryptionContext) {
        if ec.is_empty() {
            return;
        }
        if self.wants_prefix("kms:encryptioncontext:") {
            for (k, v) in ec {
                let key = format!("kms:EncryptionContext:{k}");
                self.put(&key, || ContextValue::Single(v.clone()));
            }
        }
        self.put("kms:EncryptionContextKeys", || {
            ContextValue::Multi(ec.keys().cloned().collect())
        });
    }

    /// The context.
    pub(crate) fn build(self) -> Context {
        self.ctx
    }
}

/// Parses a key policy as the engine does; the error names the problem and where.
pub(crate) fn parse_key_policy(text: &str, key_arn: &str) -> Result<NamedPolicy, KmsError> {
    let policy = Policy::parse(text, PolicyKind::Key)
        .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
    Ok(NamedPolicy {
        id: PolicyId {
            kind: PolicyKind::Key,
            name: key_arn.to_string(),
        },
        policy: Arc::new(policy),
    })
}

/// What a request acts on.
pub(crate) struct Target<'a> {
    /// The resource ARN (`*` for account-level actions such as `kms:CreateKey`).
    pub arn: &'a str,
    /// The account that owns it.
    pub account: &'a str,
    /// The key policy, for actions on a key. `None` for actions that IAM policies alone decide.
    pub key_policy: Option<&'a NamedPolicy>,
}

/// Evaluates `action` on `target`; `Err(AccessDenied)` with AWS's message unless allowed.
pub(crate) fn authorize(
    caller: &Caller,
    action: &str,
    target: &Target<'_>,
    context: Context,
) -> Result<(), KmsError> {
    let evaluation = evaluate(caller, action, target, context);
    if evaluation.decision.is_allowed() {
        Ok(())
    } else {
        Err(access_denied(caller, action, target.arn, evaluation))
    }
}

/// The engine's evaluation of `action` on `target`.
pub(crate) fn evaluate(
    caller: &Caller,
    action: &str,
    target: &Target<'_>,
    context: Context,
) -> Evaluation {
    let request = Request {
        principal: caller.principal.clone(),
        action: action.to_string(),
        resource: Resource {
            arn: target.arn.to_string(),
            account: Some(target.account.to_string()),
        },
        context,
    };
    let set = PolicySet {
        resource: target.key_policy.cloned(),
        endpoint: None,
        ..caller.policies.clone()
    };
    airlock_policy::evaluate(&request, &set)
}

/// `AccessDeniedException` with AWS's message shape:
/// `User: ARN is not authorized to perform: ACTION on resource: ARN because no resource-based
/// policy allows the ACTION action` (or `with an explicit deny in a ...`).
pub(crate) fn access_denied(
    caller: &Caller,
    action: &str,
    resource_arn: &str,
    evaluation: Evaluation,
) -> KmsError {
    let reason = match evaluation.decision {
        Decision::ExplicitDeny => {
            let kind = evaluation
                .explanation
                .deciding
                .first()
                .map(|s| s.policy.kind)
                .unwrap_or(PolicyKind::Identity);
            format!("with an explicit deny in {}", kind_phrase(kind))
        }
        _ => {
            let what = evaluation
                .explanation
                .missing
                .first()
                .map(missing_phrase)
                .unwrap_or("identity-based policy");
            format!("because no {what} allows the {action} action")
        }
    };
    KmsError::AccessDenied {
        message: format!(
            "User: {} is not authorized to perform: {action} on resource: {resource_arn} {reason}",
            caller.arn()
        ),
        action: action.to_string(),
        resource: resource_arn.to_string(),
        evaluation: Some(Box::new(evaluation)),
    }
}

fn kind_phrase(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "an identity-based policy",
        PolicyKind::Boundary => "a permissions boundary",
        PolicyKind::Session => "a session policy",
        PolicyKind::ServiceControl => "a service control policy",
        PolicyKind::ResourceControl => "a resource control policy",
        PolicyKind::Endpoint => "a VPC endpoint policy",
        PolicyKind::Resource | PolicyKind::Key | PolicyKind::Trust => "a resource-based policy",
    }
}

fn missing_phrase(m: &MissingAllow) -> &'static str {
    match m {
        MissingAllow::Identity { .. } => "identity-based policy",
        MissingAllow::Resource { .. } | MissingAllow::KeyPolicy => "resource-based policy",
        MissingAllow::Boundary => "permissions boundary",
        MissingAllow::Session => "session policy",
        MissingAllow::ServiceControl { .. } => "service control policy",
        MissingAllow::ResourceControl { .. } => "resource control policy",
        MissingAllow::Endpoint => "VPC endpoint policy",
    }
}

/// AWS's default key policy: the account root may do everything, which delegates the key's use
/// to the account's IAM policies (KMS Developer Guide, "Default key policy").
pub fn default_key_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}
