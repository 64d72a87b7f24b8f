//! Property tests: the parser never panics and round-trips; evaluation is monotone (adding a
//! Deny or removing an Allow never widens access).

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_policy::{
    ActionClause, ActionPattern, Condition, ConditionOperator, Context, ContextValue, Effect,
    NamedPolicy, OperatorKind, Policy, PolicyId, PolicyKind, PolicySet, Principal, PrincipalClause,
    PrincipalEntry, Principals, Request, Resource, ResourceClause, ResourcePattern, SetQualifier,
    Statement, Version, evaluate,
};
use proptest::prelude::*;

// ----------------------------------------------------------------------------------------------
// Parser robustness
// ----------------------------------------------------------------------------------------------

const SEEDS: [&str; 4] = [
    include_str!("fixtures/seed/key-policy.json"),
    include_str!("fixtures/seed/bucket-policy.json"),
    include_str!("fixtures/seed/cross-account-role-inline-policy.json"),
    include_str!("fixtures/seed/cross-account-role-trust-policy.json"),
];

const KINDS: [PolicyKind; 9] = [
    PolicyKind::Identity,
    PolicyKind::Boundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::ResourceControl,
    PolicyKind::Resource,
    PolicyKind::Key,
    PolicyKind::Trust,
    PolicyKind::Endpoint,
];

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        prop::sample::select(vec![
            "Version",
            "2012-10-17",
            "Statement",
            "Effect",
            "Allow",
            "Deny",
            "Principal",
            "*",
            "AWS",
            "Action",
            "s3:*",
            "Resource",
            "arn:aws:s3:::b/*",
            "Condition",
            "StringEquals",
            "aws:SourceVpce",
            "NotAction",
            "Sid",
            "${aws:username}",
            "ForAnyValue:StringLikeIfExists",
            "123456789012",
            "arn:aws:iam::123456789012:root",
        ])
        .prop_map(|s| serde_json::Value::String(s.to_string())),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "Version",
                        "Statement",
                        "Effect",
                        "Principal",
                        "NotPrincipal",
                        "Action",
                        "NotAction",
                        "Resource",
                        "NotResource",
                        "Condition",
                        "Sid",
                        "Id",
                        "AWS",
                        "Service",
                        "StringEquals",
                        "Null",
                        "aws:k",
                        "x",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in ".{0,400}", k in 0usize..9) {
        let _ = Policy::parse(&s, KINDS[k]);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), k in 0usize..9) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Policy::parse(&text, KINDS[k]);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_json(v in arb_json(), k in 0usize..9) {
        let text = v.to_string();
        match Policy::parse(&text, KINDS[k]) {
            Ok(p) => {
                // Whatever it accepts round-trips.
                let again = Policy::parse(&p.to_json().to_string(), KINDS[k]);
                prop_assert_eq!(again.as_ref(), Ok(&p));
            }
            Err(e) => {
                prop_assert!(e.line() >= 1 && e.column() >= 1);
                prop_assert!(e.path().is_empty() || e.path().starts_with('/'));
            }
        }
    }

    /// Mutations of real policies (the closest thing to a fuzzer without cargo-fuzz):
    /// deletions, insertions and replacements of bytes at random positions.
    #[test]
    fn parser_never_panics_on_mutated_policies(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..8),
        k in 0usize..9,
    ) {
        let mut chars: Vec<char> = SEEDS[which].chars().collect();
        for (at, op, c) in edits {
            if chars.is_empty() { break; }
            let i = at.index(chars.len());
            match op {
                0 => { chars.remove(i); }
                1 => chars.insert(i, c),
                _ => chars[i] = c,
            }
        }
        let text: String = chars.into_iter().collect();
        if let Ok(p) = Policy::parse(&text, KINDS[k]) {
            prop_assert_eq!(Policy::parse(&p.to_json().to_string(), KINDS[k]), Ok(p));
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Generators of valid policies and requests (small vocabularies so that statements match)
// ----------------------------------------------------------------------------------------------

const A: &str = "111111111111";
const B: &str = "222222222222";

fn arb_actions() -> impl Strategy<Value = Vec<ActionPattern>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "s3:GetObject",
            "s3:PutObject",
            "s3:*",
            "s3:Get*",
            "s3:?etObject",
            "kms:Decrypt",
            "kms:*",
            "sts:AssumeRole",
            "*",
            "S3:getobject",
        ]),
        1..3,
    )
    .prop_map(|v| v.into_iter().map(|s| ActionPattern(s.into())).collect())
}

fn arb_resources() -> impl Strategy<Value = Vec<ResourcePattern>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "*",
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/${aws:username}/*",
            "arn:aws:s3:::b/${aws:PrincipalTag/team, 'x'}*",
            "arn:aws:kms:*:222222222222:key/*",
            "arn:aws:kms:*:222222222222:key/${aws:PrincipalTag/team, 'k'}",
            "arn:aws:iam::222222222222:role/R",
            "arn:aws:s3:::?/*",
        ]),
        1..3,
    )
    .prop_map(|v| v.into_iter().map(|s| ResourcePattern(s.into())).collect())
}

fn arb_entry() -> impl Strategy<Value = PrincipalEntry> {
    prop_oneof![
        Just(PrincipalEntry::AwsAny),
        prop::sample::select(vec![A, B]).prop_map(|a| PrincipalEntry::Account(a.into())),
        prop::sample::select(vec![
            "arn:aws:iam::111111111111:role/R",
            "arn:aws:iam::222222222222:role/R",
            "arn:aws:sts::222222222222:assumed-role/R/s",
            "arn:aws:iam::111111111111:user/u",
            "arn:aws:iam::222222222222:user/u",
        ])
        .prop_map(|a| PrincipalEntry::Arn(a.into())),
        Just(PrincipalEntry::Service("ec2.amazonaws.com".into())),
    ]
}

fn arb_principals() -> impl Strategy<Value = Principals> {
    prop_oneof![
        1 => Just(Principals::Any),
        4 => prop::collection::vec(arb_entry(), 1..4).prop_map(Principals::Listed),
    ]
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    (
        prop::sample::select(vec![
            (OperatorKind::StringEquals, "aws:SourceVpce", "vpce-1"),
            (OperatorKind::StringNotEquals, "aws:SourceVpce", "vpce-1"),
            (OperatorKind::StringLike, "s3:prefix", "${aws:username}/*"),
            (OperatorKind::IpAddress, "aws:SourceIp", "10.0.0.0/8"),
            (OperatorKind::NotIpAddress, "aws:SourceIp", "10.0.0.0/8"),
            (OperatorKind::Bool, "aws:SecureTransport", "true"),
            (OperatorKind::Null, "aws:SourceVpce", "true"),
            (
                OperatorKind::ArnLike,
                "aws:PrincipalArn",
                "arn:aws:iam::*:role/R",
            ),
            (OperatorKind::NumericLessThan, "s3:max-keys", "10"),
            (OperatorKind::StringEquals, "aws:TagKeys", "a"),
        ]),
        prop::option::of(prop::sample::select(vec![
            SetQualifier::ForAllValues,
            SetQualifier::ForAnyValue,
        ])),
        any::<bool>(),
    )
        .prop_map(|((kind, key, value), qualifier, if_exists)| Condition {
            operator: ConditionOperator {
                qualifier,
                kind,
                if_exists: if_exists && kind != OperatorKind::Null,
            },
            key: key.into(),
            values: vec![value.into()],
        })
}

fn arb_statement(kind: PolicyKind) -> impl Strategy<Value = Statement> {
    let with_principal = matches!(
        kind,
        PolicyKind::Resource | PolicyKind::Key | PolicyKind::Trust | PolicyKind::Endpoint
    );
    (
        prop_oneof![3 => Just(Effect::Allow), 1 => Just(Effect::Deny)],
        arb_principals(),
        any::<bool>(),
        arb_actions(),
        any::<bool>(),
        arb_resources(),
        any::<bool>(),
        prop::collection::vec(arb_condition(), 0..3),
    )
        .prop_map(
            move |(effect, principals, not_p, actions, not_a, resources, not_r, conditions)| {
                Statement {
                    sid: None,
                    effect,
                    principal: with_principal.then(|| {
                        // NotPrincipal is not allowed in trust policies.
                        if not_p && kind != PolicyKind::Trust {
                            PrincipalClause::NotPrincipal(principals)
                        } else {
                            PrincipalClause::Principal(principals)
                        }
                    }),
                    action: if not_a {
                        ActionClause::NotAction(actions)
                    } else {
                        ActionClause::Action(actions)
                    },
                    resource: (kind != PolicyKind::Trust).then_some(if not_r {
                        ResourceClause::NotResource(resources)
                    } else {
                        ResourceClause::Resource(resources)
                    }),
                    conditions,
                }
            },
        )
}

fn arb_policy(kind: PolicyKind) -> impl Strategy<Value = Policy> {
    (
        prop::collection::vec(arb_statement(kind), 1..4),
        any::<bool>(),
        prop::option::of("[a-z]{1,6}"),
    )
        .prop_map(|(mut statements, v2012, id)| {
            for (i, s) in statements.iter_mut().enumerate() {
                if i % 2 == 0 {
                    s.sid = Some(format!("S{i}"));
                }
            }
            Policy {
                version: if v2012 {
                    Version::V2012_10_17
                } else {
                    Version::V2008_10_17
                },
                id,
                statements,
            }
        })
}

fn named(kind: PolicyKind, name: &str, policy: Policy) -> NamedPolicy {
    NamedPolicy {
        id: PolicyId {
            kind,
            name: name.into(),
        },
        policy: Arc::new(policy),
    }
}

fn arb_set() -> impl Strategy<Value = PolicySet> {
    (
        prop::collection::vec(arb_policy(PolicyKind::Identity), 0..3),
        prop::option::of(arb_policy(PolicyKind::Boundary)),
        prop::collection::vec(arb_policy(PolicyKind::Session), 0..2),
        prop::collection::vec(
            prop::collection::vec(arb_policy(PolicyKind::ServiceControl), 1..2),
            0..2,
        ),
        prop::sample::select(vec![
            PolicyKind::Resource,
            PolicyKind::Key,
            PolicyKind::Trust,
        ]),
        prop::option::of(arb_policy(PolicyKind::Resource)),
        prop::option::of(arb_policy(PolicyKind::Endpoint)),
    )
        .prop_map(
            |(identity, boundary, session, scps, rkind, resource, endpoint)| PolicySet {
                identity: identity
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| named(PolicyKind::Identity, &format!("identity-{i}"), p))
                    .collect(),
                boundary: boundary.map(|p| named(PolicyKind::Boundary, "boundary", p)),
                session: session
                    .into_iter()
                    .map(|p| named(PolicyKind::Session, "session", p))
                    .collect(),
                scps: scps
                    .into_iter()
                    .map(|level| {
                        level
                            .into_iter()
                            .map(|p| named(PolicyKind::ServiceControl, "scp", p))
                            .collect()
                    })
                    .collect(),
                rcps: Vec::new(),
                resource: resource.map(|mut p| {
                    if rkind == PolicyKind::Trust {
                        for s in &mut p.statements {
                            s.resource = None;
                            if let Some(PrincipalClause::NotPrincipal(x)) = s.principal.take() {
                                s.principal = Some(PrincipalClause::Principal(x));
                            }
                        }
                    }
                    named(rkind, "resource", p)
                }),
                endpoint: endpoint.map(|p| named(PolicyKind::Endpoint, "vpce-1", p)),
            },
        )
}

fn arb_principal() -> impl Strategy<Value = Principal> {
    let tags = || {
        prop::option::of(prop::sample::select(vec!["red", "x"])).prop_map(|t| {
            t.map(|t| BTreeMap::from([("team".to_string(), t.to_string())]))
                .unwrap_or_default()
        })
    };
    prop_oneof![
        Just(Principal::Anonymous),
        prop::sample::select(vec![A, B]).prop_map(|a| Principal::Root { account: a.into() }),
        (prop::sample::select(vec![A, B]), tags()).prop_map(|(a, tags)| Principal::User {
            account: a.into(),
            name: "u".into(),
            path: "/".into(),
            id: "AIDAEXAMPLEUSER00001".into(),
            tags,
        }),
        (
            prop::sample::select(vec![A, B]),
            prop::sample::select(vec!["s", "t"]),
            tags()
        )
            .prop_map(|(a, s, tags)| Principal::RoleSession {
                account: a.into(),
                role_name: "R".into(),
                role_path: "/".into(),
                role_id: "AROAEXAMPLEROLE00001".into(),
                session_name: s.into(),
                tags,
                source_identity: None,
            }),
        Just(Principal::Service {
            name: "ec2.amazonaws.com".into()
        }),
    ]
}

fn arb_request() -> impl Strategy<Value = Request> {
    (
        arb_principal(),
        prop::sample::select(vec![
            "s3:GetObject",
            "s3:PutObject",
            "kms:Decrypt",
            "sts:AssumeRole",
            "s3:DeleteBucket",
        ]),
        prop::sample::select(vec![
            ("arn:aws:s3:::b", Some(B)),
            ("arn:aws:s3:::b/u/x", Some(B)),
            ("arn:aws:s3:::b/red", Some(A)),
            ("arn:aws:kms:us-east-1:222222222222:key/k", None),
            ("arn:aws:iam::222222222222:role/R", None),
            ("*", None),
        ]),
        prop::option::of(prop::sample::select(vec!["vpce-1", "vpce-2"])),
        prop::option::of(prop::sample::select(vec!["10.1.2.3", "192.0.2.1"])),
        prop::option::of(prop::sample::select(vec!["u/", "v/"])),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["a", "b"]),
            0..3,
        )),
    )
        .prop_map(
            |(principal, action, (arn, account), vpce, ip, prefix, tag_keys)| {
                let mut context = Context::new();
                if let Some(v) = vpce {
                    context.insert("aws:SourceVpce", ContextValue::Single(v.into()));
                }
                if let Some(v) = ip {
                    context.insert("aws:SourceIp", ContextValue::Single(v.into()));
                }
                if let Some(v) = prefix {
                    context.insert("s3:prefix", ContextValue::Single(v.into()));
                }
                if let Some(v) = tag_keys {
                    context.insert(
                        "aws:TagKeys",
                        ContextValue::Multi(v.into_iter().map(String::from).collect()),
                    );
                }
                Request {
                    principal,
                    action: action.into(),
                    resource: Resource {
                        arn: arn.into(),
                        account: account.map(String::from),
                    },
                    context,
                }
            },
        )
}

// ----------------------------------------------------------------------------------------------
// Round trip
// ----------------------------------------------------------------------------------------------

/// The form `Policy::parse` produces: principal entries grouped by type in a fixed order
/// without duplicates, conditions grouped by operator in first-appearance order.
fn normalize(mut p: Policy) -> Policy {
    for s in &mut p.statements {
        if let Some(
            PrincipalClause::Principal(Principals::Listed(e))
            | PrincipalClause::NotPrincipal(Principals::Listed(e)),
        ) = &mut s.principal
        {
            let rank = |x: &PrincipalEntry| match x {
                PrincipalEntry::Service(_) => 1,
                PrincipalEntry::Federated(_) => 2,
                PrincipalEntry::CanonicalUser(_) => 3,
                _ => 0,
            };
            e.sort_by_key(rank);
            let mut seen = Vec::new();
            e.retain(|x| {
                if seen.contains(x) {
                    false
                } else {
                    seen.push(x.clone());
                    true
                }
            });
        }
        let mut order: Vec<ConditionOperator> = Vec::new();
        for c in &s.conditions {
            if !order.contains(&c.operator) {
                order.push(c.operator);
            }
        }
        let mut grouped: Vec<Condition> = Vec::new();
        for op in order {
            for c in s.conditions.iter().filter(|c| c.operator == op) {
                if !grouped
                    .iter()
                    .any(|g| g.operator == op && g.key.eq_ignore_ascii_case(&c.key))
                {
                    grouped.push(c.clone());
                }
            }
        }
        s.conditions = grouped;
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn to_json_round_trips(k in prop::sample::select(vec![
        PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Key, PolicyKind::Endpoint,
        PolicyKind::ServiceControl, PolicyKind::Boundary, PolicyKind::Session,
    ]).prop_flat_map(|k| (Just(k), arb_policy(k)))) {
        let (kind, policy) = k;
        let expected = normalize(policy);
        let json = expected.to_json().to_string();
        let parsed = Policy::parse(&json, kind).map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        prop_assert_eq!(&parsed, &expected);
        // And pretty-printed text parses to the same policy.
        let pretty = serde_json::to_string_pretty(&expected.to_json()).unwrap();
        prop_assert_eq!(Policy::parse(&pretty, kind), Ok(expected));
    }
}

// ----------------------------------------------------------------------------------------------
// Monotonicity of evaluation
// ----------------------------------------------------------------------------------------------

/// Every (slot, policy index) of a set that holds a mutable policy, for edits.
fn policies_mut(set: &mut PolicySet) -> Vec<&mut NamedPolicy> {
    let mut out: Vec<&mut NamedPolicy> = Vec::new();
    out.extend(set.identity.iter_mut());
    out.extend(set.boundary.iter_mut());
    out.extend(set.session.iter_mut());
    for level in &mut set.scps {
        out.extend(level.iter_mut());
    }
    out.extend(set.resource.iter_mut());
    out.extend(set.endpoint.iter_mut());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, max_global_rejects: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn adding_a_deny_never_widens_access(
        set in arb_set(),
        request in arb_request(),
        which in any::<prop::sample::Index>(),
        deny in arb_statement(PolicyKind::Resource),
    ) {
        let before = evaluate(&request, &set);
        let mut after_set = set.clone();
        let mut targets = policies_mut(&mut after_set);
        prop_assume!(!targets.is_empty());
        let i = which.index(targets.len());
        let target = &mut targets[i];
        let mut policy = (*target.policy).clone();
        let mut st = deny;
        st.effect = Effect::Deny;
        if !matches!(target.id.kind, PolicyKind::Resource | PolicyKind::Key | PolicyKind::Trust | PolicyKind::Endpoint) {
            st.principal = None;
        }
        if target.id.kind == PolicyKind::Trust {
            st.resource = None;
        }
        policy.statements.push(st);
        target.policy = Arc::new(policy);
        let after = evaluate(&request, &after_set);
        prop_assert!(
            !after.decision.is_allowed() || before.decision.is_allowed(),
            "adding a deny allowed: before {:?}, after {:?}", before, after
        );
    }

    #[test]
    fn removing_an_allow_never_widens_access(
        set in arb_set(),
        request in arb_request(),
        which in any::<prop::sample::Index>(),
        stmt in any::<prop::sample::Index>(),
    ) {
        let before = evaluate(&request, &set);
        let mut after_set = set.clone();
        let mut targets = policies_mut(&mut after_set);
        prop_assume!(!targets.is_empty());
        let i = which.index(targets.len());
        let target = &mut targets[i];
        let mut policy = (*target.policy).clone();
        let allows: Vec<usize> = policy
            .statements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.effect == Effect::Allow)
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!allows.is_empty());
        policy.statements.remove(allows[stmt.index(allows.len())]);
        target.policy = Arc::new(policy);
        let after = evaluate(&request, &after_set);
        prop_assert!(
            !after.decision.is_allowed() || before.decision.is_allowed(),
            "removing an allow allowed: before {:?}, after {:?}", before, after
        );
    }

    /// Evaluation is deterministic and its explanation is consistent with its decision.
    #[test]
    fn explanations_match_decisions(set in arb_set(), request in arb_request()) {
        let e = evaluate(&request, &set);
        prop_assert_eq!(&e, &evaluate(&request, &set));
        prop_assert_eq!(e.explanation.decision(), e.decision);
        match e.decision {
            airlock_policy::Decision::ExplicitDeny => {
                prop_assert!(!e.explanation.deciding.is_empty());
                prop_assert!(e.explanation.deciding.iter().all(|d| d.effect == Effect::Deny));
            }
            airlock_policy::Decision::ImplicitDeny => {
                prop_assert!(e.explanation.deciding.is_empty());
                prop_assert!(!e.explanation.missing.is_empty());
            }
            airlock_policy::Decision::Allow => {
                prop_assert!(e.explanation.missing.is_empty());
                prop_assert!(e.explanation.deciding.iter().all(|d| d.effect == Effect::Allow));
            }
        }
        let _ = e.to_string();
    }
}
