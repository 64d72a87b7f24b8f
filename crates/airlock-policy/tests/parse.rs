//! Parsing: every shape AWS accepts, every rejection with its location.
//!
//! Grammar source: IAM User Guide, "IAM JSON policy element reference" and "Grammar of the IAM
//! JSON policy language"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>).

use airlock_policy::{
    ActionClause, ConditionOperator, OperatorKind, ParseErrorKind as K, Policy, PolicyKind,
    PrincipalClause, PrincipalEntry, Principals, ResourceClause, SetQualifier, Version,
};

fn parse(json: &str, kind: PolicyKind) -> Policy {
    Policy::parse(json, kind).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn reject(json: &str, kind: PolicyKind) -> airlock_policy::ParseError {
    match Policy::parse(json, kind) {
        Ok(p) => panic!("accepted: {p:?}\n{json}"),
        Err(e) => e,
    }
}

fn resource_policy(principal: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": {principal}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}}}"#
    )
}

fn principals(p: &Policy) -> &Principals {
    match &p.statements[0].principal {
        Some(PrincipalClause::Principal(p)) => p,
        other => panic!("no Principal: {other:?}"),
    }
}

#[test]
fn single_statement_and_array_are_equivalent() {
    let one = parse(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    let many = parse(
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}"#,
        PolicyKind::Identity,
    );
    assert_eq!(one, many);
    assert_eq!(one.version, Version::V2012_10_17);
}

#[test]
fn missing_version_means_2008() {
    // "If you do not include a Version element, the value defaults to 2008-10-17" (IAM JSON
    // policy elements: Version).
    let p = parse(
        r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(p.version, Version::V2008_10_17);
    let e = reject(
        r#"{"Version": "2012-10-18", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::InvalidVersion);
    assert_eq!(e.path(), "/Version");
    assert_eq!(
        e.message(),
        "`2012-10-18` is not a policy language version: expected `2012-10-17` or `2008-10-17`"
    );
}

#[test]
fn principal_forms() {
    // IAM JSON policy elements: Principal.
    let p = parse(&resource_policy(r#""*""#), PolicyKind::Resource);
    assert_eq!(principals(&p), &Principals::Any);

    let p = parse(
        &resource_policy(
            r#"{"AWS": ["123456789012", "arn:aws:iam::210987654321:root", "*",
                "arn:aws:iam::123456789012:role/path/R", "arn:aws:sts::123456789012:assumed-role/R/s",
                "arn:aws:iam::123456789012:user/u", "AIDAJQABLZS4A3QDU576Q"],
                "Service": ["ec2.amazonaws.com"], "Federated": "cognito-identity.amazonaws.com",
                "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        ),
        PolicyKind::Resource,
    );
    assert_eq!(
        principals(&p),
        &Principals::Listed(vec![
            PrincipalEntry::Account("123456789012".into()),
            PrincipalEntry::Account("210987654321".into()),
            PrincipalEntry::AwsAny,
            PrincipalEntry::Arn("arn:aws:iam::123456789012:role/path/R".into()),
            PrincipalEntry::Arn("arn:aws:sts::123456789012:assumed-role/R/s".into()),
            PrincipalEntry::Arn("arn:aws:iam::123456789012:user/u".into()),
            PrincipalEntry::UniqueId("AIDAJQABLZS4A3QDU576Q".into()),
            PrincipalEntry::Service("ec2.amazonaws.com".into()),
            PrincipalEntry::Federated("cognito-identity.amazonaws.com".into()),
            PrincipalEntry::CanonicalUser(
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be".into()
            ),
        ])
    );
}

#[test]
fn account_id_and_root_arn_are_the_same_principal() {
    let a = parse(
        &resource_policy(r#"{"AWS": "123456789012"}"#),
        PolicyKind::Resource,
    );
    let b = parse(
        &resource_policy(r#"{"AWS": "arn:aws:iam::123456789012:root"}"#),
        PolicyKind::Resource,
    );
    assert_eq!(a, b);
}

#[test]
fn invalid_principals() {
    for (principal, why) in [
        // "You cannot use a wildcard to match part of a principal name or ARN."
        (
            r#"{"AWS": "arn:aws:iam::123456789012:role/*"}"#,
            "wildcards",
        ),
        (
            r#"{"AWS": "arn:aws:sts::123456789012:assumed-role/R/*"}"#,
            "wildcards",
        ),
        (r#"{"AWS": "12345"}"#, "expected"),
        (r#"{"AWS": "arn:aws:s3:::bucket"}"#, "expected"),
        // "You cannot identify a user group as a principal in a policy"
        (
            r#"{"AWS": "arn:aws:iam::123456789012:group/admins"}"#,
            "groups",
        ),
        (
            r#"{"AWS": "arn:aws:iam:us-east-1:123456789012:user/u"}"#,
            "region",
        ),
        (r#""arn:aws:iam::123456789012:root""#, "map"),
        (r#"{"Aws": "123456789012"}"#, "unknown principal type"),
        (r#"{"Service": ""}"#, "Service"),
    ] {
        let e = reject(&resource_policy(principal), PolicyKind::Resource);
        assert_eq!(e.kind(), K::InvalidPrincipal, "{principal}: {e}");
        assert!(e.message().contains(why), "{principal}: {e}");
    }
    let e = reject(&resource_policy("{}"), PolicyKind::Resource);
    assert_eq!(e.kind(), K::EmptyValue);
}

#[test]
fn conflicting_elements() {
    for (body, both) in [
        (
            r#""Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*""#,
            "`Action` and `NotAction`",
        ),
        (
            r#""Action": "s3:*", "Resource": "*", "NotResource": "arn:aws:s3:::b""#,
            "`Resource` and `NotResource`",
        ),
    ] {
        let json = format!(r#"{{"Statement": {{"Effect": "Allow", {body}}}}}"#);
        let e = reject(&json, PolicyKind::Identity);
        assert_eq!(e.kind(), K::ConflictingElements, "{json}");
        assert_eq!(e.message(), format!("a statement cannot have both {both}"));
    }
    let e = reject(
        r#"{"Statement": {"Effect": "Deny", "Principal": "*", "NotPrincipal": {"AWS": "123456789012"}, "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Resource,
    );
    assert_eq!(e.kind(), K::ConflictingElements);
    assert_eq!(
        e.message(),
        "a statement cannot have both `Principal` and `NotPrincipal`"
    );
}

#[test]
fn action_and_not_action_together_are_rejected_at_the_second_key() {
    let json = "{\n  \"Statement\": {\n    \"Effect\": \"Allow\",\n    \"Action\": \"s3:*\",\n    \"NotAction\": \"s3:Get*\",\n    \"Resource\": \"*\"\n  }\n}";
    let e = reject(json, PolicyKind::Identity);
    assert_eq!(e.kind(), K::ConflictingElements);
    assert_eq!(e.path(), "/Statement");
    assert_eq!((e.line(), e.column()), (5, 5));
}

#[test]
fn missing_and_unknown_elements() {
    let e = reject(r#"{"Version": "2012-10-17"}"#, PolicyKind::Identity);
    assert_eq!(e.kind(), K::MissingElement);
    let e = reject(
        r#"{"Statement": {"Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::MissingElement);
    assert_eq!(e.message(), "the statement has no `Effect`");
    let e = reject(
        r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::MissingElement);
    let e = reject(
        r#"{"Statment": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::UnknownElement);
    assert_eq!(e.message(), "unknown policy element `Statment`");
    let e = reject(
        r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condtion": {}}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::UnknownElement);
    assert_eq!(e.path(), "/Statement");
    let e = reject(r#"{"Statement": []}"#, PolicyKind::Identity);
    assert_eq!(e.kind(), K::EmptyValue);
}

#[test]
fn effect_is_exact() {
    for effect in ["allow", "DENY", "Permit", ""] {
        let json = format!(
            r#"{{"Statement": {{"Effect": "{effect}", "Action": "s3:*", "Resource": "*"}}}}"#
        );
        let e = reject(&json, PolicyKind::Identity);
        assert_eq!(e.kind(), K::InvalidEffect, "{effect}");
    }
    let e = reject(
        r#"{"Statement": {"Effect": true, "Action": "s3:*", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::WrongType);
    assert_eq!(e.message(), "`Effect` must be a string, not a boolean");
}

#[test]
fn actions_and_resources_are_validated() {
    // "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc." (IAM)
    for action in ["GetObject", "s3:", ":GetObject", "s3:Get Object"] {
        let json = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": ["s3:ListBucket", "{action}"], "Resource": "*"}}}}"#
        );
        let e = reject(&json, PolicyKind::Identity);
        assert_eq!(e.kind(), K::InvalidAction, "{action}");
        assert_eq!(e.path(), "/Statement/Action/1");
    }
    for resource in ["bucket", "arn:aws:s3::bucket", ""] {
        let json = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "s3:*", "Resource": "{resource}"}}}}"#
        );
        let e = reject(&json, PolicyKind::Identity);
        assert_eq!(e.kind(), K::InvalidResource, "{resource}");
    }
    let e = reject(
        r#"{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::EmptyValue);
    let p = parse(
        r#"{"Statement": {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:iam::*:role/admin"}}"#,
        PolicyKind::Identity,
    );
    assert!(matches!(p.statements[0].action, ActionClause::NotAction(_)));
    assert!(matches!(
        p.statements[0].resource,
        Some(ResourceClause::NotResource(_))
    ));
}

#[test]
fn every_operator_with_every_modifier() {
    // IAM JSON policy elements: Condition operators.
    for kind in OperatorKind::ALL {
        for qualifier in ["", "ForAllValues:", "ForAnyValue:"] {
            for suffix in ["", "IfExists"] {
                let name = format!("{qualifier}{}{suffix}", kind.name());
                let json = format!(
                    r#"{{"Statement": {{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                        "Condition": {{"{name}": {{"aws:SomeKey": ["a", 1, true]}}}}}}}}"#
                );
                let result = Policy::parse(&json, PolicyKind::Identity);
                if kind == OperatorKind::Null && suffix == "IfExists" {
                    let e = result.unwrap_err();
                    assert_eq!(e.kind(), K::UnknownOperator, "{name}");
                    continue;
                }
                let p = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let c = &p.statements[0].conditions[0];
                assert_eq!(c.operator.kind, kind);
                assert_eq!(c.operator.if_exists, suffix == "IfExists");
                assert_eq!(
                    c.operator.qualifier,
                    match qualifier {
                        "ForAllValues:" => Some(SetQualifier::ForAllValues),
                        "ForAnyValue:" => Some(SetQualifier::ForAnyValue),
                        _ => None,
                    }
                );
                assert_eq!(c.values, ["a", "1", "true"]);
                assert_eq!(c.operator.to_string(), name);
                assert_eq!(ConditionOperator::parse(&name), Some(c.operator));
            }
        }
    }
}

#[test]
fn condition_errors_point_into_the_block() {
    let json = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": "*",
      "Condition": {
        "StringEquals": {"aws:SourceVpce": "vpce-1"},
        "StringEqualz": {"aws:SourceVpce": "vpce-1"}
      }
    }
  ]
}"#;
    let e = reject(json, PolicyKind::Identity);
    assert_eq!(e.kind(), K::UnknownOperator);
    assert_eq!(e.path(), "/Statement/1/Condition");
    assert_eq!((e.line(), e.column()), (11, 9));
    assert_eq!(
        e.to_string(),
        "unknown condition operator `StringEqualz` (at /Statement/1/Condition, line 11, column 9)"
    );

    let json = r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
  "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["a", null]}}}}"#;
    let e = reject(json, PolicyKind::Identity);
    assert_eq!(e.kind(), K::InvalidConditionValue);
    assert_eq!(
        e.path(),
        "/Statement/Condition/StringEquals/aws:PrincipalTag~1team/1"
    );
    assert_eq!((e.line(), e.column()), (2, 65));

    for bad in [
        r#"{"StringEquals": {"aws:k": {"nested": 1}}}"#,
        r#"{"StringEquals": {"aws:k": []}}"#,
        r#"{"StringEquals": {"nokey": "v"}}"#,
        r#"{"StringEquals": "v"}"#,
        r#"[]"#,
    ] {
        let json = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {bad}}}}}"#
        );
        assert!(Policy::parse(&json, PolicyKind::Identity).is_err(), "{bad}");
    }
}

#[test]
fn per_kind_rules() {
    let with_principal = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}}"#;
    let without_principal =
        r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#;
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Boundary,
        PolicyKind::Session,
        PolicyKind::ServiceControl,
    ] {
        assert_eq!(
            reject(with_principal, kind).kind(),
            K::PrincipalNotAllowed,
            "{kind:?}"
        );
        parse(without_principal, kind);
    }
    for kind in [
        PolicyKind::Resource,
        PolicyKind::Key,
        PolicyKind::Endpoint,
        PolicyKind::ResourceControl,
    ] {
        assert_eq!(
            reject(without_principal, kind).kind(),
            K::PrincipalRequired,
            "{kind:?}"
        );
        parse(with_principal, kind);
    }
    // Trust policies: Principal required, Resource prohibited ("Has prohibited field Resource"),
    // NotPrincipal not allowed (IAM JSON policy elements: NotPrincipal).
    parse(
        r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}}"#,
        PolicyKind::Trust,
    );
    assert_eq!(
        reject(with_principal, PolicyKind::Trust).kind(),
        K::ResourceNotAllowed
    );
    assert_eq!(
        reject(
            r#"{"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}}"#,
            PolicyKind::Trust
        )
        .kind(),
        K::NotSupported
    );
    // Resource is required everywhere else.
    assert_eq!(
        reject(
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:*"}}"#,
            PolicyKind::Identity
        )
        .kind(),
        K::ResourceRequired
    );
    // RCPs: Principal must be "*".
    assert_eq!(
        reject(
            r#"{"Statement": {"Effect": "Deny", "Principal": {"AWS": "123456789012"}, "Action": "s3:*", "Resource": "*"}}"#,
            PolicyKind::ResourceControl
        )
        .kind(),
        K::NotSupported
    );
}

#[test]
fn sid_rules() {
    let two = |a: &str, b: &str, principal: &str| {
        format!(
            r#"{{"Statement": [
            {{"Sid": "{a}", "Effect": "Allow", {principal} "Action": "s3:*", "Resource": "*"}},
            {{"Sid": "{b}", "Effect": "Allow", {principal} "Action": "s3:*", "Resource": "*"}}]}}"#
        )
    };
    // "In IAM, the Sid value must be unique within a JSON policy." (IAM JSON policy elements: Sid)
    let e = reject(&two("A1", "A1", ""), PolicyKind::Identity);
    assert_eq!(e.kind(), K::DuplicateSid);
    assert_eq!(e.path(), "/Statement/1/Sid");
    assert_eq!(e.line(), 3);
    // S3: "Statement IDs (SID) in a single policy must be unique".
    assert_eq!(
        reject(&two("A", "A", r#""Principal": "*","#), PolicyKind::Resource).kind(),
        K::DuplicateSid
    );
    // Key policies are not checked.
    parse(&two("A", "A", r#""Principal": "*","#), PolicyKind::Key);
    // IAM Sids are alphanumeric; S3 and KMS accept spaces (the seed's key policy has them).
    assert_eq!(
        reject(&two("Allow reads", "B", ""), PolicyKind::Identity).kind(),
        K::InvalidSid
    );
    parse(
        &two("Allow reads", "B", r#""Principal": "*","#),
        PolicyKind::Resource,
    );
}

#[test]
fn syntax_errors_have_positions() {
    let e = reject(
        "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",}\n  ]\n}",
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::Syntax);
    assert_eq!((e.line(), e.column()), (3, 24));
    assert_eq!(e.path(), "/Statement/0");
    let e = reject("", PolicyKind::Identity);
    assert_eq!(e.kind(), K::Syntax);
    assert_eq!((e.line(), e.column()), (1, 1));
    let e = reject(r#"{"Statement": 1} x"#, PolicyKind::Identity);
    assert_eq!(e.kind(), K::Syntax);
    let e = reject(
        r#"{"Statement": {}, "Statement": {}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(e.kind(), K::DuplicateKey);
    assert_eq!(e.column(), 19);
    let e = reject(&"[".repeat(100_000), PolicyKind::Identity);
    assert_eq!(e.kind(), K::TooDeep);
}

#[test]
fn to_json_is_canonical_and_round_trips() {
    let json = r#"{
      "Id": "example",
      "Statement": {
        "Effect": "Deny",
        "NotPrincipal": {"Service": "s3.amazonaws.com", "AWS": ["123456789012", "arn:aws:iam::123456789012:user/a"]},
        "Action": "s3:*",
        "NotResource": ["arn:aws:s3:::b/*"],
        "Condition": {"NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": false},
                      "ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b?"]}}
      }
    }"#;
    let p = parse(json, PolicyKind::Resource);
    let canonical = p.to_json();
    assert_eq!(
        canonical,
        serde_json::json!({
            "Version": "2008-10-17",
            "Id": "example",
            "Statement": [{
                "Effect": "Deny",
                "NotPrincipal": {
                    "AWS": ["arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/a"],
                    "Service": "s3.amazonaws.com"
                },
                "Action": "s3:*",
                "NotResource": "arn:aws:s3:::b/*",
                "Condition": {
                    "NumericLessThan": {"s3:max-keys": "10"},
                    "Bool": {"aws:SecureTransport": "false"},
                    "ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b?"]}
                }
            }]
        })
    );
    let again = parse(&canonical.to_string(), PolicyKind::Resource);
    assert_eq!(again, p);
}

#[test]
fn seed_policies_round_trip() {
    for (kind, json) in [
        (
            PolicyKind::Key,
            include_str!("fixtures/seed/key-policy.json"),
        ),
        (
            PolicyKind::Resource,
            include_str!("fixtures/seed/bucket-policy.json"),
        ),
        (
            PolicyKind::Identity,
            include_str!("fixtures/seed/cross-account-role-inline-policy.json"),
        ),
        (
            PolicyKind::Trust,
            include_str!("fixtures/seed/cross-account-role-trust-policy.json"),
        ),
    ] {
        let p = parse(json, kind);
        assert_eq!(parse(&p.to_json().to_string(), kind), p);
    }
}

#[test]
fn messages_are_lowercase_with_input_in_backticks() {
    let e = reject(
        r#"{"Statement": {"Effect": "Allow", "Action": "s3GetObject", "Resource": "*"}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(
        e.message(),
        "`s3GetObject` is not a valid action: expected `*` or `service:action` (e.g. `s3:GetObject`)"
    );
    let e = reject(
        &resource_policy(r#"{"AWS": "arn:aws:iam::123456789012:role/*"}"#),
        PolicyKind::Resource,
    );
    assert_eq!(
        e.message(),
        "`arn:aws:iam::123456789012:role/*` is not a valid AWS principal: wildcards are not allowed inside principal names or ARNs"
    );
}
