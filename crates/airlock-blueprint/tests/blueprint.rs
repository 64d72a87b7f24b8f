//! The blueprint format (errors with line and column, validation) and the hardening switches:
//! each switch, turned off alone from `hardened`, changes exactly its part of the plan.

use airlock_blueprint::plan::{Hardening, RolePurpose};
use airlock_blueprint::{Bindings, Blueprint, BlueprintError, Plan, Profile};
use proptest::prelude::*;
use serde_json::{Value, json};

fn seed_toml() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.toml"
    ))
    .expect("examples/seed.toml")
}

fn syntax(text: &str) -> (usize, usize, String) {
    match Blueprint::from_toml(text) {
        Err(BlueprintError::Syntax {
            line,
            column,
            message,
        }) => (line, column, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn invalid(text: &str) -> (String, String) {
    match Plan::from_toml(text, None) {
        Err(BlueprintError::Invalid { location, message })
        | Err(BlueprintError::Placed {
            location, message, ..
        }) => (location, message),
        Err(other) => panic!("expected an invalid blueprint, got {other}"),
        Ok(_) => panic!("expected an invalid blueprint, it plans"),
    }
}

#[test]
fn unknown_field_names_it_with_line_and_column() {
    let text = seed_toml().replace(
        "instance_type = \"t2.micro\"",
        "instance_type = \"t2.micro\"\n  ami = \"x\"",
    );
    let line = text.lines().position(|l| l.contains("ami = ")).unwrap() + 1;
    let (l, c, m) = syntax(&text);
    assert_eq!((l, c), (line, 3), "{m}");
    assert!(m.contains("unknown field `ami`"), "{m}");
    assert!(m.contains("image_id"), "lists the expected fields: {m}");
    // at top level and in [hardening]
    let (l, _, m) = syntax("regoin = \"x\"\n");
    assert_eq!(l, 1);
    assert!(m.contains("regoin"), "{m}");
    let text = seed_toml().replace("[hardening]\n", "[hardening]\ndeny_everything = true\n");
    let line = text
        .lines()
        .position(|l| l.starts_with("deny_everything"))
        .unwrap()
        + 1;
    let (l, c, m) = syntax(&text);
    assert_eq!((l, c), (line, 1));
    assert!(m.contains("deny_everything"), "{m}");
}

#[test]
fn type_errors_name_the_place() {
    let text = seed_toml().replace("bucket_key = true", "bucket_key = \"yes\"");
    let line = text
        .lines()
        .position(|l| l.starts_with("bucket_key"))
        .unwrap()
        + 1;
    let (l, c, m) = syntax(&text);
    assert_eq!((l, c), (line, 14), "{m}");
    assert!(m.contains("bool"), "{m}");
    let text = seed_toml().replace(
        "access = [\"read\", \"write\", \"list\"]",
        "access = [\"read\", \"delete\"]",
    );
    let line = text.lines().position(|l| l.starts_with("access")).unwrap() + 1;
    let (l, _, m) = syntax(&text);
    assert_eq!(l, line);
    assert!(m.contains("delete"), "{m}");
    let text = seed_toml().replace("profile = \"hardened\"", "profile = \"hard\"");
    let (l, _, m) = syntax(&text);
    assert_eq!(l, 6);
    assert!(m.contains("hard"), "{m}");
    // a missing field
    let text = seed_toml().replace("name = \"cross-account-secure-bucket-demo\"\n", "");
    let (_, _, m) = syntax(&text);
    assert!(m.contains("missing field `name`"), "{m}");
    // not TOML at all
    let (l, c, _) = syntax("a = [1,\n");
    assert!(l >= 1 && c >= 1);
}

#[test]
fn inconsistent_blueprints_are_invalid_with_their_location() {
    let s = seed_toml();
    let cases = [
        (s.replace("account = \"111111111111\"", "account = \"1111\""), "consumer[0].account"),
        (s.replace("account = \"111111111111\"", "account = \"222222222222\""), "consumer[0].account"),
        (s.replace("name = \"cross-account-secure-bucket-demo\"", "name = \"Bad_Bucket\""), "storage.bucket.name"),
        (s.replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0.0\""), "consumer[0].endpoint[0].vpc_cidr"),
        (s.replace("\nrole = \"EC2CrossAccountAssumeRole\"", "\nrole = \"Nope\""), "consumer[0].endpoint[0].instance.role"),
        (s.replace("alias = \"cross-account-s3-key\"", "alias = \"aws/s3\""), "storage.key.alias"),
        (s.replace("instance_role = \"EC2CrossAccountAssumeRole\"", "instance_role = \"EC2CrossAccountAssumeRole\"\narn = \"arn:aws:iam::111111111111:role/X\""), "consumer[0].principal[0]"),
        (s.replace("role = \"BreakGlass\"", "role = \"CrossAccountS3AccessRole\""), "break_glass.role"),
        (s.replace("instance_profile = \"EC2CrossAccountAssumeRole\"", "instance_profile = \"EC2CrossAccountAssumeRole\"\nassumes = [\"Other\"]"), "consumer[0].principal[0].assumes"),
    ];
    for (text, location) in cases {
        let (l, m) = invalid(&text);
        assert_eq!(l, location, "{m}");
    }
}

/// The line and column of the first line of `text` starting with `prefix`, at its value.
fn value_position(text: &str, prefix: &str) -> (usize, usize) {
    let (i, l) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with(prefix))
        .unwrap();
    (i + 1, l.find('"').unwrap() + 1)
}

fn placed(text: &str) -> (usize, usize, String, String) {
    match Plan::from_toml(text, None) {
        Err(BlueprintError::Placed {
            line,
            column,
            location,
            message,
        }) => (line, column, location, message),
        Err(other) => panic!("expected a placed error, got {other:?}"),
        Ok(_) => panic!("expected an invalid blueprint, it plans"),
    }
}

#[test]
fn a_subnet_outside_its_vpc_is_refused_with_its_place_and_both_cidrs() {
    let s = seed_toml();
    let text = s.replace(
        "subnet_cidr = \"10.0.1.0/24\"",
        "subnet_cidr = \"10.9.1.0/24\"",
    );
    let (l, c, loc, m) = placed(&text);
    assert_eq!((l, c), value_position(&text, "subnet_cidr"), "{m}");
    assert_eq!(loc, "consumer[0].endpoint[0].subnet_cidr");
    assert!(
        m.contains("10.9.1.0/24") && m.contains("10.0.0.0/16"),
        "{m}"
    );
    assert!(
        m.contains("not inside") && m.contains("give a subnet_cidr within"),
        "{m}"
    );
    let shown = Plan::from_toml(&text, None).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!("blueprint, line {l}, column {c}, `{loc}`: ")),
        "{shown}"
    );
    // a subnet wider than its VPC, not a CIDR, host bits, a prefix EC2 refuses
    let cases = [
        (
            "subnet_cidr = \"10.0.1.0/24\"",
            "subnet_cidr = \"10.0.0.0/15\"",
            "subnet_cidr",
            "/15",
        ),
        (
            "subnet_cidr = \"10.0.1.0/24\"",
            "subnet_cidr = \"10.0.1.0/24x\"",
            "subnet_cidr",
            "not an IPv4 CIDR",
        ),
        (
            "vpc_cidr = \"10.0.0.0/16\"",
            "vpc_cidr = \"10.0.0.1/16\"",
            "vpc_cidr",
            "`10.0.0.0/16`",
        ),
        (
            "vpc_cidr = \"10.0.0.0/16\"",
            "vpc_cidr = \"10.0.0.0/8\"",
            "vpc_cidr",
            "/16 to /28",
        ),
        (
            "subnet_cidr = \"10.0.1.0/24\"",
            "subnet_cidr = \"10.0.1.0/30\"",
            "subnet_cidr",
            "/16 to /28",
        ),
    ];
    for (from, to, field, says) in cases {
        let text = s.replace(from, to);
        let (l, c, loc, m) = placed(&text);
        assert_eq!((l, c), value_position(&text, field), "{m}");
        assert_eq!(loc, format!("consumer[0].endpoint[0].{field}"));
        assert!(m.contains(says), "{to}: {m}");
    }
}

fn with_switch_off(name: &str) -> Plan {
    let text = seed_toml().replace(&format!("# {name} = true"), &format!("{name} = false"));
    assert_ne!(text, seed_toml(), "{name} is listed in seed.toml");
    Plan::from_toml(&text, None).expect("plans")
}

fn docs(p: &Plan) -> Value {
    let b = Bindings::illustrative(p);
    serde_json::to_value(p.setup_document(&b).unwrap()).unwrap()
}

fn statement<'v>(policy: &'v Value, sid: &str) -> Option<&'v Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
}

#[test]
fn every_switch_is_on_in_hardened_and_off_in_as_written() {
    let s = seed_toml();
    assert_eq!(Plan::from_toml(&s, None).unwrap().hardening, Hardening::ALL);
    assert_eq!(
        Plan::from_toml(&s, Some(Profile::AsWritten))
            .unwrap()
            .hardening,
        Hardening::NONE
    );
    // a switch turned on over as-written
    let text = s.replace(
        "# deny_insecure_transport = true",
        "deny_insecure_transport = true",
    );
    let p = Plan::from_toml(&text, Some(Profile::AsWritten)).unwrap();
    let b = Bindings::illustrative(&p);
    let policy = p.bucket.policy.resolve(&b).unwrap();
    assert!(statement(&policy, "DenyInsecureTransport").is_some());
    assert!(statement(&policy, "DenyAllExceptVPCEndpoint").is_some());
}

#[test]
fn each_switch_off_alone_changes_its_own_part() {
    let hardened = Plan::from_toml(&seed_toml(), None).unwrap();
    let h = docs(&hardened);
    let b = Bindings::illustrative(&hardened);
    let bucket_policy = |p: &Plan| p.bucket.policy.resolve(&Bindings::illustrative(p)).unwrap();
    let storage_role = |p: &Plan| {
        p.roles
            .iter()
            .find(|r| r.purpose == RolePurpose::Storage)
            .unwrap()
            .clone()
    };
    let hb = bucket_policy(&hardened);
    let hr = storage_role(&hardened);

    // pin_trust_to_principal: the trust condition goes, the principal stays the account root
    let p = with_switch_off("pin_trust_to_principal");
    let t = storage_role(&p).trust_policy.resolve(&b).unwrap();
    assert_eq!(t["Statement"][0].get("Condition"), None);
    assert_eq!(
        t["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111111111111:root"
    );
    let ht = hr.trust_policy.resolve(&b).unwrap();
    assert_eq!(
        ht["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        "arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole"
    );
    assert_eq!(bucket_policy(&p), hb);

    // key_policy_without_consumer_grant: account A's grant comes back, scoped by ViaService
    let p = with_switch_off("key_policy_without_consumer_grant");
    let k = p.key.policy.resolve(&b).unwrap();
    assert_eq!(
        hardened.key.policy.resolve(&b).unwrap()["Statement"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let grant = statement(&k, "Allow Account A to use the key").expect("grant");
    assert_eq!(grant["Principal"]["AWS"], "arn:aws:iam::111111111111:root");
    assert_eq!(
        grant["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.us-east-1.amazonaws.com"
    );
    assert_eq!(bucket_policy(&p), hb);

    // key_via_service: the role's key statement loses its conditions and regains DescribeKey
    let p = with_switch_off("key_via_service");
    let pol = storage_role(&p).inline_policies[0]
        .policy
        .resolve(&b)
        .unwrap();
    let kms = statement(&pol, "KMSKeyAccess").unwrap();
    assert_eq!(kms.get("Condition"), None);
    assert_eq!(
        kms["Action"],
        json!(["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"])
    );
    let hpol = hr.inline_policies[0].policy.resolve(&b).unwrap();
    let hkms = statement(&hpol, "KMSKeyAccess").unwrap();
    assert_eq!(
        hkms["Condition"]["StringEquals"]["kms:CallerAccount"],
        "222222222222"
    );
    assert_eq!(bucket_policy(&p), hb);

    // the bucket policy switches: exactly their statements go
    for (switch, sids) in [
        ("deny_insecure_transport", vec!["DenyInsecureTransport"]),
        (
            "deny_other_kms_keys",
            vec!["DenyOtherKey", "DenyOtherEncryption"],
        ),
        ("deny_data_to_others", vec!["DenyDataToOthers"]),
    ] {
        let p = with_switch_off(switch);
        let got = bucket_policy(&p);
        let mut want = hb.clone();
        want["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| !sids.contains(&s["Sid"].as_str().unwrap()));
        assert_eq!(got, want, "{switch}");
        assert_ne!(got, hb, "{switch}");
        assert_eq!(storage_role(&p), hr, "{switch}");
    }
    let tls = statement(&hb, "DenyInsecureTransport").unwrap();
    assert_eq!(
        tls["Condition"],
        json!({"Bool": {"aws:SecureTransport": "false"}})
    );
    let other = statement(&hb, "DenyOtherKey").unwrap();
    assert_eq!(
        other["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"],
        "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012"
    );
    // Only a PUT that names a key is judged: one without headers gets the bucket default.
    assert_eq!(
        other["Condition"]["Null"]["s3:x-amz-server-side-encryption-aws-kms-key-id"],
        "false"
    );

    // bucket_owner_enforced, versioning, key_rotation: resource settings, no policy change
    let p = with_switch_off("bucket_owner_enforced");
    assert_eq!(p.bucket.ownership, None);
    assert_eq!(
        hardened.bucket.ownership.as_deref(),
        Some("BucketOwnerEnforced")
    );
    assert_eq!(docs(&p)["resources"], h["resources"]);
    let p = with_switch_off("versioning");
    assert!(!p.bucket.versioning && hardened.bucket.versioning);
    assert_eq!(docs(&p)["resources"], h["resources"]);
    let p = with_switch_off("key_rotation");
    assert!(!p.key.enable_rotation && hardened.key.enable_rotation);
    assert_eq!(docs(&p)["resources"], h["resources"]);

    // least_privilege: the seed's combined statements come back, in both policies
    let p = with_switch_off("least_privilege");
    let pol = storage_role(&p).inline_policies[0]
        .policy
        .resolve(&b)
        .unwrap();
    assert_eq!(
        statement(&pol, "S3BucketAccess").unwrap()["Resource"],
        json!([
            "arn:aws:s3:::cross-account-secure-bucket-demo",
            "arn:aws:s3:::cross-account-secure-bucket-demo/*"
        ])
    );
    let bp = bucket_policy(&p);
    assert!(statement(&bp, "AllowCrossAccountRole").is_some());
    assert!(statement(&bp, "AllowRoleList").is_none());
    assert_eq!(
        statement(&hb, "AllowRoleList").unwrap()["Resource"],
        "arn:aws:s3:::cross-account-secure-bucket-demo"
    );
    assert_eq!(
        statement(&hb, "AllowRoleReadWrite").unwrap()["Resource"],
        "arn:aws:s3:::cross-account-secure-bucket-demo/*"
    );

    // break_glass_admin: the seed's endpoint deny comes back, the role goes
    let p = with_switch_off("break_glass_admin");
    assert!(p.break_glass.is_none());
    assert!(p.roles.iter().all(|r| r.purpose != RolePurpose::BreakGlass));
    let bp = bucket_policy(&p);
    assert!(statement(&bp, "DenyAllExceptVPCEndpoint").is_some());
    assert!(statement(&bp, "DenyOutsideEndpointExceptBreakGlass").is_none());
    let bg = statement(&hb, "DenyOutsideEndpointExceptBreakGlass").unwrap();
    assert_eq!(
        bg["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        "arn:aws:iam::222222222222:role/BreakGlass"
    );
    // never locked out of the bucket-policy actions
    let data = statement(&hb, "DenyBreakGlassDataOutsideEndpoint").unwrap();
    assert_eq!(
        data["NotAction"],
        json!([
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy"
        ])
    );
}

#[test]
fn external_id_and_prefixes_and_several_consumers() {
    let text = r#"
region = "eu-west-1"
[storage]
account = "333333333333"
alias = "store"
[storage.bucket]
name = "data-bucket"
[storage.key]
alias = "alias/data"
[[storage.role]]
name = "Reader"
access = ["read", "list"]
prefixes = ["reports/"]
[[consumer]]
account = "444444444444"
alias = "c1"
external_id = "ext-1"
[[consumer.principal]]
instance_role = "AppRole"
[[consumer.endpoint]]
name = "e1"
vpc_cidr = "10.1.0.0/16"
subnet_cidr = "10.1.1.0/24"
[[consumer]]
account = "555555555555"
alias = "c2"
[[consumer.principal]]
arn = "arn:aws:iam::555555555555:role/Existing"
[[consumer.endpoint]]
name = "e2"
type = "interface"
vpc_cidr = "10.2.0.0/16"
subnet_cidr = "10.2.1.0/24"
"#;
    let p = Plan::from_toml(text, None).unwrap();
    let b = Bindings::illustrative(&p);
    let role = p.roles.iter().find(|r| r.name == "Reader").unwrap();
    let t = role.trust_policy.resolve(&b).unwrap();
    assert_eq!(t["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(
        t["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        "ext-1"
    );
    assert_eq!(
        t["Statement"][1]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        "arn:aws:iam::555555555555:role/Existing"
    );
    let pol = role.inline_policies[0].policy.resolve(&b).unwrap();
    assert_eq!(
        statement(&pol, "Read").unwrap()["Resource"],
        "arn:aws:s3:::data-bucket/reports/*"
    );
    assert_eq!(
        statement(&pol, "List").unwrap()["Condition"]["StringLike"]["s3:prefix"],
        "reports/*"
    );
    let bp = p.bucket.policy.resolve(&b).unwrap();
    let deny = &bp["Statement"][0]["Condition"]["StringNotEquals"]["aws:SourceVpce"];
    assert_eq!(deny.as_array().unwrap().len(), 2, "both endpoints admitted");
    assert_eq!(p.networks.len(), 2);
    assert_eq!(p.key.alias, "alias/data");
    // only the created role is an instance role
    assert_eq!(
        p.roles
            .iter()
            .filter(|r| r.purpose == RolePurpose::Instance)
            .count(),
        1
    );
    let setup = airlock_policy::setup::Setup::from_document(p.setup_document(&b).unwrap());
    assert!(setup.is_ok(), "{setup:?}");
    // the claims include the trust of the existing role
    let claims = p.claims(&b).unwrap();
    assert!(
        claims.iter().any(|c| c.contains("role/Existing")),
        "{claims:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text never panics the reader or the planner.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Plan::from_toml(&text, None);
    }

    /// The seed with one line replaced by arbitrary TOML-ish text never panics, and errors
    /// point inside the text.
    #[test]
    fn mutated_seed_never_panics(
        line in 0usize..60,
        replacement in "[a-z_]{0,12} ?=? ?(\"[^\"\\n]{0,20}\"|[0-9]{1,13}|true|\\[\\]|\\{\\})?",
        profile in prop_oneof![Just(None), Just(Some(Profile::Hardened)), Just(Some(Profile::AsWritten))],
    ) {
        let seed = seed_toml();
        let mut lines: Vec<&str> = seed.lines().collect();
        if line < lines.len() {
            lines[line] = &replacement;
        }
        let text = lines.join("\n");
        match Plan::from_toml(&text, profile) {
            Ok(p) => {
                let b = Bindings::illustrative(&p);
                let doc = p.setup_document(&b).unwrap();
                prop_assert!(airlock_policy::setup::Setup::from_document(doc).is_ok());
                prop_assert!(p.claims(&b).is_ok());
            }
            Err(BlueprintError::Syntax { line, column, .. } | BlueprintError::Placed { line, column, .. }) => {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1);
                prop_assert!(column >= 1);
            }
            Err(BlueprintError::Invalid { .. }) => {}
        }
    }
}
