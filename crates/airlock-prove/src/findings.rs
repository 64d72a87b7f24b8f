//! Findings (lints): concrete weaknesses of a setup, each with an id, a severity, the statement it
//! points at and the fix. Several are decided by the solver (trust wider than its consumers,
//! administrators locked out, missing TLS deny), the rest by inspecting the policies against the
//! action and condition-key catalogue.

use airlock_policy::model::{
    ActionClause, OperatorKind, PrincipalClause, PrincipalEntry, Principals, ResourceClause,
};
use airlock_policy::setup::{SetupPrincipalKind, SetupResourceKind};
use airlock_policy::{
    Context, Decision, Effect, NamedPolicy, PolicyId, Principal, Request, Resource,
};
use serde::Serialize;

use crate::catalog::{self, ResourceType};
use crate::check::{Checker, Counterexample, Outcome, Property, Scope};
use crate::encode::{Fam, KeySrc};
use crate::lang::Re;
use crate::logic::Formula;
use crate::space::{ClassKind, all_policies};

/// How bad a finding is (SARIF levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing.
    Note,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
}

impl Severity {
    /// Parses `note`, `warning`, `error`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "note" => Some(Severity::Note),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
    /// The SARIF level.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where a finding points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    /// The policy.
    pub policy: PolicyId,
    /// The statement index, if the finding is about one statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    /// The statement's Sid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id (`AL001` ...).
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What is wrong, concretely.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// What it points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A request that demonstrates it, replayed through the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Box<Counterexample>>,
}

/// The rules, for SARIF's rule table: (id, name, description).
pub const RULES: &[(&str, &str, &str)] = &[
    (
        "AL001",
        "trust-wider-than-consumers",
        "A role's trust policy lets principals assume it beyond the principals meant to use it.",
    ),
    (
        "AL002",
        "key-grants-unused-account",
        "A KMS key policy grants an account none of whose principals uses the key.",
    ),
    (
        "AL003",
        "missing-tls-deny",
        "The bucket allows requests without TLS: no Deny on aws:SecureTransport=false.",
    ),
    (
        "AL004",
        "admins-locked-out",
        "A VPC-endpoint Deny leaves the bucket owner's administrators unable to change the bucket policy from outside the VPC; only the root user can recover.",
    ),
    (
        "AL005",
        "mixed-bucket-object-resources",
        "A statement grants bucket-level and object-level actions on both bucket and object ARNs.",
    ),
    (
        "AL006",
        "principal-star-unconditioned",
        "An Allow with Principal \"*\" and no condition that fixes the caller or network.",
    ),
    (
        "AL007",
        "notprincipal-allow",
        "NotPrincipal with Allow grants everyone not listed.",
    ),
    (
        "AL008",
        "condition-key-never-present",
        "A condition key that can never be present on the statement's requests.",
    ),
    (
        "AL009",
        "unknown-action",
        "An action (pattern) that matches no action of the service.",
    ),
    (
        "AL010",
        "unknown-condition-key",
        "A condition key AWS does not define.",
    ),
    (
        "AL011",
        "no-deny-other-kms-key",
        "The bucket allows PutObject requests that ask for another KMS key (or SSE-S3).",
    ),
    (
        "AL012",
        "bucket-hardening-undeclared",
        "Object ownership (BucketOwnerEnforced), versioning and a data-event trail are not declared by the setup.",
    ),
];

fn rule(id: &str) -> (&'static str, &'static str) {
    RULES
        .iter()
        .find(|r| r.0 == id)
        .map(|r| (r.0, r.1))
        .unwrap_or(("AL000", "unknown"))
}

fn loc(p: &NamedPolicy, idx: Option<usize>) -> Location {
    Location {
        policy: p.id.clone(),
        statement: idx,
        sid: idx
            .and_then(|i| p.policy.statements.get(i))
            .and_then(|s| s.sid.clone()),
    }
}

fn finding(
    id: &'static str,
    severity: Severity,
    message: String,
    fix: &str,
    location: Option<Location>,
) -> Finding {
    Finding {
        id: rule(id).0,
        name: rule(id).1,
        severity,
        message,
        fix: fix.to_string(),
        location,
        counterexample: None,
    }
}

/// Runs every lint on a setup.
pub fn lint(checker: &mut Checker<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    trust_wider(checker, &mut out);
    key_unused_account(checker, &mut out);
    bucket_rules(checker, &mut out);
    static_rules(checker, &mut out);
    out
}

/// The statement of `policy` that decided a replayed request (first deciding statement).
fn deciding(
    checker: &Checker<'_>,
    cx: &Counterexample,
    kind: airlock_policy::PolicyKind,
) -> Option<(NamedPolicy, usize)> {
    let setup = checker.setup();
    let mut set = setup.policy_set(&cx.request);
    if let Some(a) = &cx.assumed_identity_policy
        && let Ok(p) =
            airlock_policy::Policy::parse(&a.to_string(), airlock_policy::PolicyKind::Identity)
    {
        set.identity.push(NamedPolicy {
            id: PolicyId {
                kind: airlock_policy::PolicyKind::Identity,
                name: "assumed".into(),
            },
            policy: std::sync::Arc::new(p),
        });
    }
    let ev = airlock_policy::evaluate(&cx.request, &set);
    let r = ev
        .explanation
        .deciding
        .iter()
        .find(|r| r.policy.kind == kind)?;
    let pol = set.resource.clone().filter(|p| p.id == r.policy)?;
    Some((pol, r.index))
}

fn trust_wider(checker: &mut Checker<'_>, out: &mut Vec<Finding>) {
    let setup = checker.setup();
    for role in setup
        .principals()
        .iter()
        .filter(|p| p.kind == SetupPrincipalKind::Role)
    {
        let Some(trust) = &role.trust else { continue };
        // consumers: listed principals whose own policies grant sts:AssumeRole on this role
        let mut consumers = Vec::new();
        for p in setup.principals() {
            if p.arn == role.arn || p.kind == SetupPrincipalKind::Root {
                continue;
            }
            let Ok(principal) = setup.request_principal(&p.arn, "consumer-check") else {
                continue;
            };
            let req = Request {
                principal,
                action: "sts:AssumeRole".into(),
                // decided as if same-account: only the caller's own policies matter here
                resource: Resource {
                    arn: role.arn.clone(),
                    account: Some(p.account.clone()),
                },
                context: Context::new(),
            };
            let set = airlock_policy::PolicySet {
                identity: p.identity.clone(),
                ..Default::default()
            };
            let names_role = p.identity.iter().any(|ip| {
                ip.policy.statements.iter().any(|s| {
                    s.effect == Effect::Allow
                        && matches!(&s.resource, Some(ResourceClause::Resource(rs)) if rs.iter().any(|r| r.0 != "*"))
                })
            });
            if names_role && airlock_policy::evaluate(&req, &set).decision == Decision::Allow {
                consumers.push(p.arn.clone());
            }
        }
        if consumers.is_empty() {
            continue;
        }
        let prop = Property::OnlyPrincipals {
            principals: consumers.clone(),
            scope: Scope {
                resources: vec![role.arn.clone()],
                actions: vec!["sts:AssumeRole".into()],
                principals: vec![],
            },
        };
        let r = checker.check(&prop);
        if let Outcome::Violated {
            counterexample: Some(cx),
            ..
        } = r.outcome
        {
            let at = deciding(checker, &cx, airlock_policy::PolicyKind::Trust)
                .map(|(p, i)| loc(&p, Some(i)));
            let mut f = finding(
                "AL001",
                Severity::Error,
                format!(
                    "{} can be assumed by {} although only {} is meant to (its own policy allows sts:AssumeRole on it)",
                    role.arn,
                    cx.caller_class,
                    consumers.join(", ")
                ),
                "Pin the trust policy to the consumer: add a condition `ArnEquals aws:PrincipalArn` with the consumer role's ARN (and `sts:ExternalId` for third parties).",
                at.or_else(|| Some(loc(trust, None))),
            );
            f.counterexample = Some(cx);
            out.push(f);
        }
    }
}

fn key_unused_account(checker: &mut Checker<'_>, out: &mut Vec<Finding>) {
    let setup = checker.setup();
    let uses = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ];
    for key in setup
        .resources()
        .iter()
        .filter(|r| r.kind == SetupResourceKind::KmsKey)
    {
        let Some(kp) = &key.policy else { continue };
        for (i, st) in kp.policy.statements.iter().enumerate() {
            if st.effect != Effect::Allow {
                continue;
            }
            let Some(PrincipalClause::Principal(Principals::Listed(es))) = &st.principal else {
                continue;
            };
            for e in es {
                let acct = match e {
                    PrincipalEntry::Account(a) => a.clone(),
                    _ => continue,
                };
                if acct == key.account {
                    continue;
                }
                // does any listed principal of that account name this key in its own policies?
                let used = setup.principals().iter().filter(|p| p.account == acct).any(|p| {
                    p.identity.iter().any(|ip| {
                        ip.policy.statements.iter().any(|s| {
                            s.effect == Effect::Allow
                                && matches!(&s.action, ActionClause::Action(a) if a.iter().any(|a| uses.iter().any(|u| glob_ci(&a.0, u)) && a.0 != "*"))
                                && matches!(&s.resource, Some(ResourceClause::Resource(rs)) if rs.iter().any(|r| r.0 != "*" && Re::glob(&r.0, false).matches(&key.arn)))
                        })
                    })
                });
                if !used {
                    out.push(finding(
                        "AL002",
                        Severity::Warning,
                        format!(
                            "the key policy of {} grants account {acct} key use, but no principal of {acct} in the setup uses the key",
                            key.arn
                        ),
                        "Remove the grant, or scope it with `kms:ViaService` (s3.REGION.amazonaws.com) and `kms:CallerAccount` to the principals that need it.",
                        Some(loc(kp, Some(i))),
                    ));
                }
            }
        }
    }
}

fn glob_ci(pat: &str, s: &str) -> bool {
    Re::glob(pat, true).matches(s)
}

fn bucket_rules(checker: &mut Checker<'_>, out: &mut Vec<Finding>) {
    let setup = checker.setup();
    let buckets: Vec<_> = setup
        .resources()
        .iter()
        .filter(|r| r.kind == SetupResourceKind::S3Bucket)
        .cloned()
        .collect();
    for b in buckets {
        let scope = Scope {
            resources: vec![b.arn.clone()],
            ..Scope::default()
        };
        // AL003 missing TLS deny (the bucket owner's root may always manage the bucket policy,
        // whatever it denies: those three actions are not held against the policy)
        let targets: Vec<usize> = checker
            .universe
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                matches!(t.kind, ResourceType::Bucket | ResourceType::Object) && t.arn == b.arn
            })
            .map(|(i, _)| i)
            .collect();
        let classes: Vec<usize> = (0..checker.universe.classes.len()).collect();
        let (res, _) = checker.search(&targets, &classes, &|q| {
            let plain = match q
                .key_src("aws:securetransport", Fam::Str)
                .map_err(|e| e.0)?
            {
                KeySrc::Var(v) => q.p.str_in(v, Re::lit("false")),
                _ => Formula::f(),
            };
            let exc = q.action_in(&[
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
            ]);
            Ok(Formula::and([plain, exc.not()]))
        });
        if let Ok(Some(cx)) = res {
            let mut f = finding(
                "AL003",
                Severity::Error,
                format!("{} allows requests without TLS", b.arn),
                "Add a statement `Deny` `s3:*` on the bucket and its objects to `Principal: *` with `Bool aws:SecureTransport false`.",
                b.policy.as_ref().map(|p| loc(p, None)),
            );
            f.counterexample = Some(Box::new(cx));
            out.push(f);
        }
        // AL011 PUTs naming another key
        if let Some(key) = setup
            .resources()
            .iter()
            .find(|k| k.kind == SetupResourceKind::KmsKey && k.account == b.account)
        {
            let r = checker.check(&Property::RequiresKmsKey {
                key: key.arn.clone(),
                scope: scope.clone(),
            });
            if let Outcome::Violated { counterexample, .. } = r.outcome {
                let mut f = finding(
                    "AL011",
                    Severity::Warning,
                    format!(
                        "{} accepts PutObject requests that ask for a KMS key other than {} (or SSE-S3)",
                        b.arn, key.arn
                    ),
                    "Deny `s3:PutObject` when `s3:x-amz-server-side-encryption-aws-kms-key-id` is present and not the bucket's key (StringNotEqualsIfExists), and when `s3:x-amz-server-side-encryption` is not `aws:kms`.",
                    b.policy.as_ref().map(|p| loc(p, None)),
                );
                f.counterexample = counterexample;
                out.push(f);
            }
        }
        // AL004 administrators locked out: no non-root principal of the owner account can change
        // the bucket policy without coming through a VPC endpoint
        let Some(pol) = &b.policy else { continue };
        let vpce_deny: Vec<usize> = pol
            .policy
            .statements
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.effect == Effect::Deny
                    && s.conditions.iter().any(|c| {
                        let k = c.key_lower();
                        (k == "aws:sourcevpce" || k == "aws:sourcevpc")
                            && c.operator.kind.is_negated()
                    })
            })
            .map(|(i, _)| i)
            .collect();
        if vpce_deny.is_empty() {
            continue;
        }
        let owner = b.account.clone();
        let classes: Vec<usize> = checker
            .universe
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| match &c.kind {
                ClassKind::Known(i) => {
                    let p = &setup.principals()[*i];
                    p.account == owner && p.kind != SetupPrincipalKind::Root
                }
                ClassKind::Other {
                    account: Some(a), ..
                } => *a == owner,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let targets: Vec<usize> = checker
            .universe
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == ResourceType::Bucket && t.arn == b.arn)
            .map(|(i, _)| i)
            .collect();
        let (res, _) = checker.search(&targets, &classes, &|q| {
            let a = q.action_in(&["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]);
            let outside = match q.key_src("aws:sourcevpce", Fam::Str).map_err(|e| e.0)? {
                KeySrc::Var(v) => q.p.present(v).not(),
                _ => Formula::t(),
            };
            Ok(Formula::and([a, outside]))
        });
        if let Ok(None) = res {
            // demonstrate with the owner's administrator, if the setup lists one
            let admin = setup.principals().iter().find(|p| {
                p.account == owner && p.kind != SetupPrincipalKind::Root && !p.identity.is_empty()
            });
            let cx = admin.and_then(|a| {
                let principal = setup.request_principal(&a.arn, "console").ok()?;
                let request = Request {
                    principal,
                    action: "s3:PutBucketPolicy".into(),
                    resource: Resource {
                        arn: b.arn.clone(),
                        account: Some(owner.clone()),
                    },
                    context: Context::new().with("aws:SecureTransport", "true"),
                };
                let d = setup.evaluate(&request).decision;
                Some(Box::new(Counterexample {
                    caller_class: a.arn.clone(),
                    request,
                    assumed_identity_policy: None,
                    decision: d,
                    replayed: d,
                }))
            });
            let mut f = finding(
                "AL004",
                Severity::Warning,
                format!(
                    "no principal of {owner} but its root user can change the policy of {} from outside the VPC (console included): the endpoint Deny locks the administrators out",
                    b.arn
                ),
                "Exempt an explicit, audited break-glass role from the Deny (`ArnNotEquals aws:PrincipalArn`), and never deny `s3:PutBucketPolicy` to it.",
                Some(loc(pol, Some(vpce_deny[0]))),
            );
            f.counterexample = cx;
            out.push(f);
        }
        out.push(finding(
            "AL012",
            Severity::Note,
            format!(
                "{}: the setup document does not declare object ownership (BucketOwnerEnforced), versioning or a data-event trail; airlock cannot verify them",
                b.arn
            ),
            "Enforce BucketOwnerEnforced, enable versioning, and record S3 data events with a CloudTrail trail.",
            Some(loc(pol, None)),
        ));
    }
}

fn static_rules(checker: &Checker<'_>, out: &mut Vec<Finding>) {
    let setup = checker.setup();
    let actions: Vec<&str> = catalog::all_actions().collect();
    for pol in all_policies(setup) {
        if pol.id.name.starts_with("vpc-endpoint/") && pol.policy.statements.len() == 1 {
            // the default full-access endpoint policy
            continue;
        }
        for (i, st) in pol.policy.statements.iter().enumerate() {
            // AL005 mixed bucket/object resources
            if st.effect == Effect::Allow
                && let (ActionClause::Action(acts), Some(ResourceClause::Resource(res))) =
                    (&st.action, &st.resource)
            {
                let matched: Vec<&str> = actions
                    .iter()
                    .copied()
                    .filter(|a| acts.iter().any(|p| glob_ci(&p.0, a)))
                    .collect();
                let bucket_acts = matched.iter().any(|a| catalog::S3_BUCKET.contains(a));
                let object_acts = matched.iter().any(|a| catalog::S3_OBJECT.contains(a));
                let s3res: Vec<&str> = res
                    .iter()
                    .map(|r| r.0.as_str())
                    .filter(|r| r.starts_with("arn:aws:s3:::"))
                    .collect();
                let bucket_res = s3res
                    .iter()
                    .any(|r| !r["arn:aws:s3:::".len()..].contains('/'));
                let object_res = s3res
                    .iter()
                    .any(|r| r["arn:aws:s3:::".len()..].contains('/'));
                if bucket_acts
                    && object_acts
                    && bucket_res
                    && object_res
                    && acts.iter().all(|a| a.0 != "*" && a.0 != "s3:*")
                {
                    out.push(finding(
                            "AL005",
                            Severity::Note,
                            format!(
                                "statement grants bucket actions and object actions on both bucket and object ARNs ({})",
                                acts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                            "Split it: bucket actions (e.g. s3:ListBucket) on `arn:aws:s3:::BUCKET`, object actions (s3:GetObject, s3:PutObject) on `arn:aws:s3:::BUCKET/*`.",
                            Some(loc(&pol, Some(i))),
                        ));
                }
            }
            // AL006 / AL007
            if st.effect == Effect::Allow {
                match &st.principal {
                    Some(PrincipalClause::NotPrincipal(_)) => out.push(finding(
                        "AL007",
                        Severity::Error,
                        "`NotPrincipal` with `Allow` grants every principal not listed, anonymous callers included".into(),
                        "Use `Principal` with the principals to allow instead.",
                        Some(loc(&pol, Some(i))),
                    )),
                    Some(PrincipalClause::Principal(p)) => {
                        let star = matches!(p, Principals::Any)
                            || matches!(p, Principals::Listed(es) if es.contains(&PrincipalEntry::AwsAny));
                        let single = airlock_policy::Policy { version: pol.policy.version, id: None, statements: vec![st.clone()] };
                        if star && airlock_policy::public::is_public(&single) {
                            out.push(finding(
                                "AL006",
                                Severity::Error,
                                "`Principal: *` without a condition that limits the caller or network".into(),
                                "Name the principals, or add a condition on aws:PrincipalArn, aws:PrincipalOrgID, aws:SourceVpce or aws:SourceAccount.",
                                Some(loc(&pol, Some(i))),
                            ));
                        }
                    }
                    None => {}
                }
            }
            // AL009 unknown actions
            let pats = match &st.action {
                ActionClause::Action(p) | ActionClause::NotAction(p) => p,
            };
            for p in pats {
                let svc = p.0.split(':').next().unwrap_or("").to_ascii_lowercase();
                if p.0 == "*" || !["s3", "kms", "sts"].contains(&svc.as_str()) {
                    continue;
                }
                if !actions.iter().any(|a| glob_ci(&p.0, a)) {
                    out.push(finding(
                        "AL009",
                        Severity::Warning,
                        format!("`{}` matches no {svc} action", p.0),
                        "Fix the action name (see the Service Authorization Reference).",
                        Some(loc(&pol, Some(i))),
                    ));
                }
            }
            // AL010 unknown keys, AL008 keys never present
            let acts_matched: Vec<&str> = match &st.action {
                ActionClause::Action(p) => actions
                    .iter()
                    .copied()
                    .filter(|a| p.iter().any(|x| glob_ci(&x.0, a)))
                    .collect(),
                ActionClause::NotAction(p) => actions
                    .iter()
                    .copied()
                    .filter(|a| !p.iter().any(|x| glob_ci(&x.0, a)))
                    .collect(),
            };
            let via_service = st.conditions.iter().any(|c| {
                c.key_lower() == "kms:viaservice"
                    && matches!(
                        c.operator.kind,
                        OperatorKind::StringEquals | OperatorKind::StringLike
                    )
                    && !c.operator.if_exists
            });
            for c in &st.conditions {
                let k = c.key_lower();
                if catalog::key_type(&k).is_none() {
                    out.push(finding(
                        "AL010",
                        Severity::Warning,
                        format!("condition key `{}` is not defined by AWS", c.key),
                        "Fix the key name (see \"AWS global condition context keys\" and the service's condition keys).",
                        Some(loc(&pol, Some(i))),
                    ));
                    continue;
                }
                if c.operator.kind == OperatorKind::Null || c.operator.if_exists {
                    continue;
                }
                let never = if let Some(svc) = catalog::key_service(&k) {
                    !acts_matched.is_empty()
                        && !acts_matched
                            .iter()
                            .any(|a| a.to_ascii_lowercase().starts_with(&format!("{svc}:")))
                } else {
                    matches!(
                        k.as_str(),
                        "aws:sourcevpce" | "aws:sourcevpc" | "aws:vpceaccount"
                    ) && via_service
                };
                if never {
                    out.push(finding(
                        "AL008",
                        Severity::Warning,
                        format!("condition key `{}` is never present on the requests this statement covers", c.key),
                        "Remove the condition or use a key the request carries (for S3-made KMS calls: kms:ViaService and kms:CallerAccount, not aws:SourceVpce).",
                        Some(loc(&pol, Some(i))),
                    ));
                }
            }
        }
    }
    let _ = Principal::Anonymous;
}
