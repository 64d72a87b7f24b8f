//! The decision procedure: which statements apply to a request, and how AWS combines them.
//!
//! Sources (IAM User Guide): "Policy evaluation logic"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>),
//! "Cross-account policy evaluation logic"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html>),
//! "Permissions boundaries for IAM entities" and "Session policies"; KMS Developer Guide,
//! "Key policies in AWS KMS".
//!
//! The hot path allocates only for the result: matching works on borrowed text, global
//! condition keys are derived on demand, and context keys are lower-cased on the stack.

use std::borrow::Cow;

use crate::decision::{
    Decision, Evaluation, Explanation, ImplicitGrant, MissingAllow, NamedPolicy, PolicyKind,
    PolicySet, StatementRef,
};
use crate::glob::{self, Tok};
use crate::model::{
    ActionClause, Effect, PrincipalClause, PrincipalEntry, Principals, ResourceClause, Statement,
    Version,
};
use crate::request::{ContextValue, Principal, Request, norm_path};

/// Evaluates one request against every policy that applies to it, as AWS does.
///
/// Pure and deterministic. The decision follows AWS's order: an explicit `Deny` in any
/// applicable policy wins; then every SCP level of the principal's account and every RCP level
/// of the resource's account must allow, and the VPC endpoint policy (if any) must allow; then
/// the identity side (identity policies, narrowed by a permissions boundary and session
/// policies) and the resource policy combine: either suffices within one account, both are
/// needed across accounts, and for KMS keys and role trust policies the resource policy is
/// always required (it is the root of trust).
///
/// Principals without identity policies in AWS (anonymous callers, service principals,
/// federated providers) are decided by resource policies alone; identity, boundary and session
/// policies in `policies` are ignored for them, as are SCPs (which bind only principals of
/// member accounts). RCPs apply to every caller, service principals included (AWS's RCP
/// examples for confused-deputy protection target them with `aws:PrincipalIsAWSService`);
/// their exemptions (service-linked roles, AWS managed keys, the management account) are for
/// the caller to model by leaving `rcps` empty. The root user has every
/// permission in its own account on the identity side; only SCPs, resource policies and KMS
/// key policies can restrict it.
pub fn evaluate(request: &Request, policies: &PolicySet) -> Evaluation {
    Evaluator::new(request, policies).run()
}

/// How a resource-policy statement matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PMatch {
    /// Only through the account (`arn:aws:iam::ACCT:root` / `"ACCT"`): delegation to the
    /// account's IAM policies, which must allow too.
    Account,
    /// Through the role's ARN or unique id: a grant to the role, which the session's
    /// permissions boundary and session policies still narrow.
    Role,
    /// The caller itself: its user or session ARN, the root user through its account, `*`,
    /// a service or federated principal.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Identity,
    Boundary,
    Session,
    Scp(usize),
    Rcp(usize),
    Resource,
    Endpoint,
}

#[derive(Debug, Clone, Copy)]
struct Hit<'a> {
    slot: Slot,
    policy: &'a NamedPolicy,
    index: usize,
    effect: Effect,
    pmatch: PMatch,
}

impl Hit<'_> {
    fn to_ref(self) -> StatementRef {
        StatementRef {
            policy: self.policy.id.clone(),
            index: self.index,
            sid: self.policy.policy.statements[self.index].sid.clone(),
            effect: self.effect,
        }
    }
}

/// A condition-key value as the evaluator sees it.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    One(Cow<'a, str>),
    Many(&'a [String]),
}

/// Calls `f` with the ASCII-lower-cased `s`, using a stack buffer for short strings.
fn with_lower<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(s);
    }
    let mut buf = [0u8; 128];
    if s.len() <= buf.len() {
        let out = &mut buf[..s.len()];
        out.copy_from_slice(s.as_bytes());
        out.make_ascii_lowercase();
        match std::str::from_utf8(out) {
            Ok(lower) => f(lower),
            Err(_) => f(&s.to_ascii_lowercase()),
        }
    } else {
        f(&s.to_ascii_lowercase())
    }
}

/// The global keys AWS derives from the principal and resource, for one already lower-cased key.
fn derive<'a>(req: &'a Request, lower_key: &str) -> Option<Val<'a>> {
    let p = &req.principal;
    let one_b = |s: &'a str| Some(Val::One(Cow::Borrowed(s)));
    match lower_key {
        "aws:principalarn" => p.principal_arn().map(|s| Val::One(Cow::Owned(s))),
        "aws:principalaccount" => p.account().and_then(one_b),
        "aws:userid" => p.userid().map(|s| Val::One(Cow::Owned(s))),
        "aws:username" => match p {
            Principal::User { name, .. } => one_b(name),
            _ => None,
        },
        "aws:principaltype" => p.principal_type().and_then(one_b),
        "aws:principalisawsservice" => match p {
            Principal::Anonymous => None,
            Principal::Service { .. } => one_b("true"),
            _ => one_b("false"),
        },
        "aws:principalservicename" => match p {
            Principal::Service { name } => one_b(name),
            _ => None,
        },
        "aws:resourceaccount" => req.resource.owner().and_then(one_b),
        "aws:sourceidentity" => match p {
            Principal::RoleSession {
                source_identity: Some(s),
                ..
            } => one_b(s),
            _ => None,
        },
        _ => {
            let tag = lower_key.strip_prefix("aws:principaltag/")?;
            p.tags()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| Val::One(Cow::Borrowed(v.as_str())))
        }
    }
}

/// Every derivable global key of a request, for [`Request::effective_context`].
pub(crate) fn derived_keys(req: &Request) -> Vec<(String, ContextValue)> {
    let mut keys: Vec<String> = [
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:userid",
        "aws:username",
        "aws:PrincipalType",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalServiceName",
        "aws:ResourceAccount",
        "aws:SourceIdentity",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(tags) = req.principal.tags() {
        keys.extend(tags.keys().map(|k| format!("aws:PrincipalTag/{k}")));
    }
    keys.into_iter()
        .filter_map(|k| {
            let v = with_lower(&k, |lk| derive(req, lk))?;
            let v = match v {
                Val::One(s) => ContextValue::Single(s.into_owned()),
                Val::Many(m) => ContextValue::Multi(m.to_vec()),
            };
            Some((k, v))
        })
        .collect()
}

pub(crate) struct Env<'a> {
    req: &'a Request,
    /// Condition keys (as written in the policy) that were looked up and absent.
    pub(crate) missing: Vec<&'a str>,
}

impl<'a> Env<'a> {
    /// Looks a condition key up: the request context first, then the derived global keys.
    pub(crate) fn lookup(&self, key: &str) -> Option<Val<'a>> {
        let req = self.req;
        with_lower(key, |lk| match req.context.get_lowercase(lk) {
            Some(ContextValue::Single(s)) => Some(Val::One(Cow::Borrowed(s.as_str()))),
            Some(ContextValue::Multi(v)) => Some(Val::Many(v.as_slice())),
            None => derive(req, lk),
        })
    }

    pub(crate) fn note_missing(&mut self, key: &'a str) {
        if !self.missing.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            self.missing.push(key);
        }
    }

    /// Substitutes policy variables in `s` (2012-10-17 policies only). Returns `None` when a
    /// variable cannot be resolved and has no default; the value (resource pattern or condition
    /// value) that contains it then matches nothing ("If AWS cannot resolve a variable this
    /// might cause the entire statement to be invalid", IAM User Guide, "IAM policy elements:
    /// Variables and tags": it does when the statement has no other value that matches). Plain
    /// `*` and `?` stay wildcards; substituted values and the escapes `${*}`, `${?}`, `${$}` are
    /// literal.
    pub(crate) fn expand(&mut self, s: &'a str) -> Option<Vec<Tok>> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len() + 16);
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$'
                && b.get(i + 1) == Some(&b'{')
                && let Some(close) = s[i + 2..].find('}')
            {
                let inner = &s[i + 2..i + 2 + close];
                i += close + 3;
                match inner {
                    "*" => out.push(Tok::Lit(b'*')),
                    "?" => out.push(Tok::Lit(b'?')),
                    "$" => out.push(Tok::Lit(b'$')),
                    _ => {
                        let (key, default) = match inner.split_once(',') {
                            Some((k, d)) => {
                                let d = d.trim();
                                let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''));
                                (k.trim(), d)
                            }
                            None => (inner.trim(), None),
                        };
                        match self.lookup(key) {
                            Some(Val::One(v)) => out.extend(v.bytes().map(Tok::Lit)),
                            found => {
                                if found.is_none() {
                                    self.note_missing(key);
                                }
                                // Multi-valued keys cannot be substituted either.
                                match default {
                                    Some(d) => out.extend(d.bytes().map(Tok::Lit)),
                                    None => return None,
                                }
                            }
                        }
                    }
                }
                continue;
            }
            out.push(match b[i] {
                b'*' => Tok::Star,
                b'?' => Tok::One,
                c => Tok::Lit(c),
            });
            i += 1;
        }
        Some(out)
    }
}

/// True if `s` may contain a policy variable.
pub(crate) fn has_variable(version: Version, s: &str) -> bool {
    version == Version::V2012_10_17 && s.contains("${")
}

/// Tokens back to text, every token literal (for equality operators).
pub(crate) fn toks_to_string(toks: &[Tok]) -> String {
    let bytes: Vec<u8> = toks
        .iter()
        .map(|t| match t {
            Tok::Lit(b) => *b,
            Tok::Star => b'*',
            Tok::One => b'?',
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Evaluator<'a> {
    req: &'a Request,
    set: &'a PolicySet,
    env: Env<'a>,
    hits: Vec<Hit<'a>>,
    /// The caller has a permissions boundary (for the NotPrincipal rule).
    boundary_present: bool,
}

/// What kind of caller this is, for the decision logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Anonymous, service principal or federated provider: only resource policies can allow.
    ResourceOnly,
    /// The root user: all permissions on the identity side.
    Root,
    /// An IAM user or role session: identity policies, boundary, session policies.
    Iam,
}

impl<'a> Evaluator<'a> {
    fn new(req: &'a Request, set: &'a PolicySet) -> Self {
        let boundary_present = set.boundary.is_some()
            && matches!(
                req.principal,
                Principal::User { .. } | Principal::RoleSession { .. }
            );
        Evaluator {
            req,
            set,
            env: Env {
                req,
                missing: Vec::new(),
            },
            hits: Vec::with_capacity(8),
            boundary_present,
        }
    }

    fn caller(&self) -> Caller {
        match self.req.principal {
            Principal::Root { .. } => Caller::Root,
            Principal::User { .. } | Principal::RoleSession { .. } => Caller::Iam,
            Principal::Anonymous | Principal::Service { .. } | Principal::Federated { .. } => {
                Caller::ResourceOnly
            }
        }
    }

    fn scan(&mut self, slot: Slot, policy: &'a NamedPolicy) {
        let version = policy.policy.version;
        for (index, st) in policy.policy.statements.iter().enumerate() {
            if let Some(pmatch) = self.applies(st, version) {
                self.hits.push(Hit {
                    slot,
                    policy,
                    index,
                    effect: st.effect,
                    pmatch,
                });
            }
        }
    }

    /// Whether a statement applies to the request, and how its principal clause matched.
    fn applies(&mut self, st: &'a Statement, version: Version) -> Option<PMatch> {
        let action = self.req.action.as_str();
        let action_hit = |pats: &[crate::model::ActionPattern]| {
            pats.iter().any(|p| glob::wild_match(&p.0, action, true))
        };
        let ok = match &st.action {
            ActionClause::Action(p) => action_hit(p),
            ActionClause::NotAction(p) => !action_hit(p),
        };
        if !ok {
            return None;
        }
        let resource_ok = match &st.resource {
            None => true,
            Some(ResourceClause::Resource(p)) => self.resources_hit(p, version) == Some(true),
            // An unresolvable pattern cannot be "not matched" either.
            Some(ResourceClause::NotResource(p)) => self.resources_hit(p, version) == Some(false),
        };
        if !resource_ok {
            return None;
        }
        let pmatch = match &st.principal {
            None => PMatch::Direct,
            Some(PrincipalClause::Principal(p)) => principal_match(p, &self.req.principal)?,
            Some(PrincipalClause::NotPrincipal(p)) => {
                // "The NotPrincipal element with a Deny effect will always deny any IAM
                // principal that has a permissions boundary policy attached, regardless of the
                // values specified in the NotPrincipal element." (IAM User Guide,
                // "Permissions boundaries for IAM entities")
                let forced = st.effect == Effect::Deny && self.boundary_present;
                if !forced && not_principal_excludes(p, &self.req.principal) {
                    return None;
                }
                PMatch::Direct
            }
        };
        for c in &st.conditions {
            if !crate::condition::holds(c, version, &mut self.env) {
                return None;
            }
        }
        Some(pmatch)
    }

    /// Whether any resource pattern matches: `Some(true)` if one does, `Some(false)` if none
    /// does, `None` if none does but one has an unresolvable policy variable.
    fn resources_hit(
        &mut self,
        pats: &'a [crate::model::ResourcePattern],
        version: Version,
    ) -> Option<bool> {
        let mut unresolved = false;
        let arn = self.req.resource.arn.as_str();
        for p in pats {
            let pb = p.0.as_bytes();
            let special = glob::first_special(pb);
            let hit = if special == pb.len() {
                // No wildcard, no variable: the common literal ARN.
                p.0 == arn
            } else if has_variable(version, &p.0[special..]) {
                // Every `${` lies at or after the first special byte (`$` is one).
                match self.env.expand(&p.0) {
                    Some(toks) => glob::arn_match(toks.as_slice(), arn),
                    None => {
                        unresolved = true;
                        false
                    }
                }
            } else if pb == b"*" {
                true
            } else {
                glob::arn_match_from(&p.0, arn, special)
            };
            if hit {
                return Some(true);
            }
        }
        (!unresolved).then_some(false)
    }

    fn any_allow(&self, slot: Slot) -> bool {
        self.hits
            .iter()
            .any(|h| h.slot == slot && h.effect == Effect::Allow)
    }

    fn best_resource_match(&self) -> Option<PMatch> {
        self.hits
            .iter()
            .filter(|h| h.slot == Slot::Resource && h.effect == Effect::Allow)
            .map(|h| h.pmatch)
            .max()
    }

    fn refs(&self, keep: impl Fn(&Hit<'a>) -> bool) -> Vec<StatementRef> {
        self.hits
            .iter()
            .filter(|h| keep(h))
            .map(|h| h.to_ref())
            .collect()
    }

    fn run(mut self) -> Evaluation {
        let req = self.req;
        let set = self.set;
        let caller = self.caller();
        let principal_account = req.principal.account();
        let resource_account = req.resource.owner();
        let cross_account = matches!(
            (principal_account, resource_account),
            (Some(p), Some(r)) if p != r
        );

        // "GetCallerIdentity: No permissions are required to perform this operation. If an
        // administrator attaches a policy to your identity that explicitly denies access to the
        // sts:GetCallerIdentity action, you can still perform this operation." (AWS STS API
        // Reference, GetCallerIdentity)
        if req.action.eq_ignore_ascii_case("sts:GetCallerIdentity")
            && !matches!(req.principal, Principal::Anonymous)
        {
            return Evaluation {
                decision: Decision::Allow,
                explanation: Explanation {
                    cross_account,
                    implicit_grant: Some(ImplicitGrant::NoPermissionRequired),
                    ..Explanation::default()
                },
            };
        }

        let scps_apply = caller != Caller::ResourceOnly;
        let session_present =
            !set.session.is_empty() && matches!(req.principal, Principal::RoleSession { .. });

        if caller == Caller::Iam {
            for p in &set.identity {
                self.scan(Slot::Identity, p);
            }
            if let Some(b) = &set.boundary {
                self.scan(Slot::Boundary, b);
            }
            if session_present {
                for p in &set.session {
                    self.scan(Slot::Session, p);
                }
            }
        }
        if scps_apply {
            for (level, pols) in set.scps.iter().enumerate() {
                for p in pols {
                    self.scan(Slot::Scp(level), p);
                }
            }
        }
        for (level, pols) in set.rcps.iter().enumerate() {
            for p in pols {
                self.scan(Slot::Rcp(level), p);
            }
        }
        if let Some(r) = &set.resource {
            self.scan(Slot::Resource, r);
        }
        if let Some(e) = &set.endpoint {
            self.scan(Slot::Endpoint, e);
        }

        let mut missing_context_keys: Vec<String> =
            self.env.missing.iter().map(|k| k.to_string()).collect();
        missing_context_keys.sort_by_key(|k| k.to_ascii_lowercase());

        // 1. Explicit deny anywhere.
        let root_policy_exception = self.root_bucket_policy_exception(cross_account);
        let denied = |h: &Hit<'_>| {
            h.effect == Effect::Deny && !(root_policy_exception && h.slot == Slot::Resource)
        };
        if self.hits.iter().any(denied) {
            return Evaluation {
                decision: Decision::ExplicitDeny,
                explanation: Explanation {
                    deciding: self.refs(denied),
                    missing_context_keys,
                    cross_account,
                    ..Explanation::default()
                },
            };
        }

        let mut missing = Vec::new();

        // 2. Every SCP level of the principal's account and every RCP level of the resource's
        //    account must allow.
        if scps_apply {
            for level in 0..set.scps.len() {
                if !self.any_allow(Slot::Scp(level)) {
                    missing.push(MissingAllow::ServiceControl { level });
                }
            }
        }
        for level in 0..set.rcps.len() {
            if !self.any_allow(Slot::Rcp(level)) {
                missing.push(MissingAllow::ResourceControl { level });
            }
        }
        // 3. A VPC endpoint policy must allow.
        if set.endpoint.is_some() && !self.any_allow(Slot::Endpoint) {
            missing.push(MissingAllow::Endpoint);
        }

        // 4. Identity side and resource policy.
        let resource_kind = set.resource.as_ref().map(|p| p.id.kind);
        let root_of_trust = matches!(resource_kind, Some(PolicyKind::Key | PolicyKind::Trust));
        let resource_missing = || match resource_kind {
            Some(PolicyKind::Key) => MissingAllow::KeyPolicy,
            _ => MissingAllow::Resource {
                account: resource_account.map(str::to_string),
            },
        };
        let identity_allows = match caller {
            Caller::Root => true,
            Caller::Iam => self.any_allow(Slot::Identity),
            Caller::ResourceOnly => false,
        };
        let boundary_ok = !self.boundary_present || self.any_allow(Slot::Boundary);
        let session_ok = !session_present || self.any_allow(Slot::Session);
        let identity_side = identity_allows && boundary_ok && session_ok;
        let res = self.best_resource_match();
        // A grant to the caller itself is not narrowed by boundary or session policies; a grant
        // to the role is (IAM User Guide, "Permissions boundaries for IAM entities" and
        // "Session policies").
        let res_direct_ok = match res {
            Some(PMatch::Direct) => true,
            Some(PMatch::Role) => boundary_ok && session_ok,
            Some(PMatch::Account) | None => false,
        };
        let identity_missing = |missing: &mut Vec<MissingAllow>| {
            if !identity_allows {
                missing.push(MissingAllow::Identity {
                    account: principal_account.map(str::to_string),
                });
            }
            if !boundary_ok {
                missing.push(MissingAllow::Boundary);
            }
            if !session_ok {
                missing.push(MissingAllow::Session);
            }
        };

        let (use_identity, use_resource) = match caller {
            Caller::ResourceOnly => {
                if res.is_none() {
                    missing.push(resource_missing());
                }
                (false, true)
            }
            _ if cross_account => {
                // "the identity-based policy in the trusted account AND the resource-based policy
                // in the trusting account must both allow" (Cross-account policy evaluation logic)
                if res.is_none() {
                    missing.push(resource_missing());
                }
                if !identity_side {
                    identity_missing(&mut missing);
                }
                (true, true)
            }
            _ if root_of_trust => {
                // The key policy (or trust policy) must allow: directly, or by naming the
                // account, which then needs the identity side too.
                match res {
                    None => {
                        missing.push(resource_missing());
                        (false, true)
                    }
                    Some(_) if res_direct_ok => (false, true),
                    Some(_) => {
                        if !identity_side {
                            identity_missing(&mut missing);
                        }
                        (true, true)
                    }
                }
            }
            _ => {
                // Same account: an allow on the identity side OR a resource-policy grant.
                if !identity_side && !res_direct_ok {
                    identity_missing(&mut missing);
                }
                (identity_side, res_direct_ok)
            }
        };

        if missing.is_empty() {
            let deciding = self.refs(|h| {
                h.effect == Effect::Allow
                    && match h.slot {
                        Slot::Identity | Slot::Boundary | Slot::Session => use_identity,
                        Slot::Resource => use_resource,
                        Slot::Scp(_) | Slot::Rcp(_) | Slot::Endpoint => true,
                    }
            });
            Evaluation {
                decision: Decision::Allow,
                explanation: Explanation {
                    deciding,
                    missing_context_keys,
                    cross_account,
                    implicit_grant: (caller == Caller::Root && use_identity)
                        .then_some(ImplicitGrant::RootUser),
                    ..Explanation::default()
                },
            }
        } else {
            Evaluation {
                decision: Decision::ImplicitDeny,
                explanation: Explanation {
                    insufficient_allows: self.refs(|h| h.effect == Effect::Allow),
                    missing,
                    missing_context_keys,
                    cross_account,
                    ..Explanation::default()
                },
            }
        }
    }

    /// The root user of the bucket owner can always get, put and delete the bucket policy,
    /// whatever the bucket policy denies: "As a security precaution, the root user of the AWS
    /// account that owns a bucket can always use this operation, even if the policy explicitly
    /// denies the root user the ability to perform this action." (Amazon S3 API Reference,
    /// GetBucketPolicy, PutBucketPolicy and DeleteBucketPolicy). SCPs still apply.
    fn root_bucket_policy_exception(&self, cross_account: bool) -> bool {
        matches!(self.req.principal, Principal::Root { .. })
            && !cross_account
            && matches!(
                self.set.resource.as_ref().map(|p| p.id.kind),
                Some(PolicyKind::Resource)
            )
            && [
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
            ]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&self.req.action))
    }
}

/// `arn:aws:iam::ACCT:<kind><PATH><NAME>` compared without building it.
fn is_iam_arn(
    entry: &str,
    service: &str,
    account: &str,
    kind: &str,
    path: &str,
    name: &str,
) -> bool {
    let Some(rest) = entry.strip_prefix("arn:aws:") else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(service) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("::") else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(account) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(kind) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(path) else {
        return false;
    };
    rest == name
}

fn is_session_arn(entry: &str, account: &str, role: &str, session: &str) -> bool {
    let Some(rest) = entry.strip_prefix("arn:aws:sts::") else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(account) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(":assumed-role/") else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(role) else {
        return false;
    };
    rest.strip_prefix('/') == Some(session)
}

/// How one `Principal` entry matches the caller.
fn entry_match(e: &PrincipalEntry, p: &Principal) -> Option<PMatch> {
    match (e, p) {
        (PrincipalEntry::AwsAny, _) => Some(PMatch::Direct),
        (PrincipalEntry::Account(a), Principal::Root { account }) if a == account => {
            Some(PMatch::Direct)
        }
        (
            PrincipalEntry::Account(a),
            Principal::User { account, .. } | Principal::RoleSession { account, .. },
        ) if a == account => Some(PMatch::Account),
        (
            PrincipalEntry::Arn(arn),
            Principal::User {
                account,
                name,
                path,
                ..
            },
        ) => is_iam_arn(arn, "iam", account, "user", &norm_path(path), name)
            .then_some(PMatch::Direct),
        (
            PrincipalEntry::Arn(arn),
            Principal::RoleSession {
                account,
                role_name,
                role_path,
                session_name,
                ..
            },
        ) => {
            if is_session_arn(arn, account, role_name, session_name) {
                Some(PMatch::Direct)
            } else if is_iam_arn(
                arn,
                "iam",
                account,
                "role",
                &norm_path(role_path),
                role_name,
            ) {
                Some(PMatch::Role)
            } else {
                None
            }
        }
        (PrincipalEntry::UniqueId(u), Principal::User { id, .. }) if u == id => {
            Some(PMatch::Direct)
        }
        (PrincipalEntry::UniqueId(u), Principal::RoleSession { role_id, .. }) if u == role_id => {
            Some(PMatch::Role)
        }
        (PrincipalEntry::Service(s), Principal::Service { name }) if s == name => {
            Some(PMatch::Direct)
        }
        (PrincipalEntry::Federated(f), Principal::Federated { provider }) if f == provider => {
            Some(PMatch::Direct)
        }
        _ => None,
    }
}

/// The best match of a `Principal` element, or `None`.
pub(crate) fn principal_match(p: &Principals, caller: &Principal) -> Option<PMatch> {
    match p {
        Principals::Any => Some(PMatch::Direct),
        Principals::Listed(entries) => entries.iter().filter_map(|e| entry_match(e, caller)).max(),
    }
}

/// Whether a `NotPrincipal` element excludes the caller. AWS checks the caller's whole chain
/// (the account, then the role, then the session; or the account, then the user), and the
/// caller escapes the statement only if every link is named: "When you use NotPrincipal with
/// Deny, you must also specify the account ARN of the not-denied principal. Otherwise, the
/// policy might deny access to the entire account containing the principal ... include both
/// the ARN for a role and the ARN for the account containing that role." (IAM JSON policy
/// elements: NotPrincipal)
fn not_principal_excludes(p: &Principals, caller: &Principal) -> bool {
    let entries = match p {
        Principals::Any => return true,
        Principals::Listed(e) => e,
    };
    if entries.contains(&PrincipalEntry::AwsAny) {
        return true;
    }
    let named = |pred: &dyn Fn(&PrincipalEntry) -> bool| entries.iter().any(pred);
    let account_named =
        |acct: &str| named(&|e| matches!(e, PrincipalEntry::Account(a) if a == acct));
    match caller {
        Principal::Anonymous => false,
        Principal::Root { account } => account_named(account),
        Principal::User { account, .. } => {
            account_named(account) && named(&|e| entry_match(e, caller) == Some(PMatch::Direct))
        }
        Principal::RoleSession {
            account,
            role_name,
            session_name,
            ..
        } => {
            account_named(account)
                && named(&|e| entry_match(e, caller) == Some(PMatch::Role))
                && named(
                    &|e| matches!(e, PrincipalEntry::Arn(arn) if is_session_arn(arn, account, role_name, session_name)),
                )
        }
        Principal::Service { .. } | Principal::Federated { .. } => {
            named(&|e| entry_match(e, caller).is_some())
        }
    }
}
