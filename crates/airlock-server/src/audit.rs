//! Generic derivation of what a CloudTrail record says about a call: read-only or not,
//! `requestParameters` and `responseElements` from the wire protocol, resource types from
//! ARNs, and the redaction that keeps secrets out of every record.
//!
//! Services emit nothing of their own: the pipeline calls the [`crate::service::Service`]
//! audit methods, whose defaults are these functions.

use serde_json::{Map, Value};

use crate::record::RecordResource;
use crate::service::{Call, Protocol};

/// Operations that only read, by name: `Get*`, `List*`, `Describe*`, `Head*`, `Lookup*`, and
/// the KMS cryptographic operations and STS calls that CloudTrail marks `readOnly`.
pub fn read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head", "Lookup"]
        .iter()
        .any(|p| operation.starts_with(p))
        || matches!(
            operation,
            "Decrypt"
                | "Encrypt"
                | "ReEncrypt"
                | "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "GenerateRandom"
                | "AssumeRole"
                | "GetCallerIdentity"
        )
}

/// Whether the record of `operation` carries `responseElements`: calls that change state, and
/// the `AssumeRole*` calls (read-only, but CloudTrail records the session they issued).
pub fn records_response(operation: &str, read_only: bool) -> bool {
    !read_only || operation.starts_with("AssumeRole")
}

/// Whether a parameter or element name carries a secret (or data) that must never be in a
/// record: secret keys, session tokens, passwords, plaintexts, key material, ciphertexts,
/// bodies.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "plaintext",
        "privatekey",
        "keymaterial",
        "ciphertextblob",
    ]
    .iter()
    .any(|s| n.contains(s))
        || n == "body"
}

/// `RoleName` → `roleName` (CloudTrail's spelling of parameter names).
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A JSON value with every object key lower-first and secret-named members removed.
pub fn redact(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !is_secret_name(k))
                .map(|(k, v)| (lower_first(&k), redact(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(redact).collect()),
        other => other,
    }
}

/// Default `requestParameters`: query-protocol parameters (lists as arrays) or the JSON body,
/// redacted; `None` for REST protocols (services say it themselves).
pub fn request_parameters(protocol: Protocol, call: &Call) -> Option<Value> {
    match protocol {
        Protocol::Query { .. } | Protocol::Ec2 => {
            let mut root = Value::Object(Map::new());
            let mut pairs: Vec<(&str, &str)> = call.params.iter().collect();
            pairs.sort();
            for (k, v) in pairs {
                if matches!(k, "Action" | "Version") || k.starts_with("X-Amz-") {
                    continue;
                }
                if k.split('.').any(is_secret_name) {
                    continue;
                }
                insert_path(&mut root, k, v);
            }
            match &root {
                Value::Object(m) if m.is_empty() => None,
                _ => Some(root),
            }
        }
        Protocol::Json => {
            let v: Value = serde_json::from_slice(&call.body).ok()?;
            match redact(v) {
                Value::Object(m) if m.is_empty() => None,
                v => Some(v),
            }
        }
        Protocol::RestXml => None,
    }
}

/// Inserts `A.member.1.B = v` as `{"a": [{"b": v}]}` (numeric segments index arrays;
/// `member` segments are the query protocol's list marker).
fn insert_path(root: &mut Value, path: &str, value: &str) {
    let segs: Vec<&str> = path.split('.').filter(|s| *s != "member").collect();
    let mut cur = root;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let next_is_index = segs.get(i + 1).is_some_and(|s| s.parse::<usize>().is_ok());
        if let Ok(idx) = seg.parse::<usize>() {
            let Value::Array(a) = cur else { return };
            let idx = idx.saturating_sub(1).min(1000);
            while a.len() <= idx {
                a.push(Value::Null);
            }
            if last {
                a[idx] = Value::String(value.to_string());
                return;
            }
            if !a[idx].is_object() && !a[idx].is_array() {
                a[idx] = if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
            }
            cur = &mut a[idx];
        } else {
            let Value::Object(m) = cur else { return };
            let key = lower_first(seg);
            if last {
                m.insert(key, Value::String(value.to_string()));
                return;
            }
            let entry = m.entry(key).or_insert_with(|| {
                if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            cur = entry;
        }
    }
}

/// Default `responseElements`: the query result (`<OpResult>` as JSON) or the JSON body,
/// redacted; `None` for REST protocols and empty bodies.
pub fn response_elements(protocol: Protocol, body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    match protocol {
        Protocol::Json => {
            let v: Value = serde_json::from_slice(body).ok()?;
            match redact(v) {
                Value::Object(m) if m.is_empty() => None,
                v => Some(v),
            }
        }
        Protocol::Query { .. } | Protocol::Ec2 => {
            let root = crate::services::s3::xml::parse(body).ok()?;
            let result = root
                .children
                .iter()
                .find(|c| c.name.ends_with("Result"))
                .unwrap_or(&root);
            let mut m = Map::new();
            for c in &result.children {
                if c.name == "ResponseMetadata" || c.name == "requestId" {
                    continue;
                }
                if is_secret_name(&c.name) {
                    continue;
                }
                m.insert(lower_first(&c.name), xml_value(c));
            }
            if m.is_empty() {
                None
            } else {
                Some(Value::Object(m))
            }
        }
        Protocol::RestXml => None,
    }
}

fn xml_value(e: &crate::services::s3::xml::Element) -> Value {
    if e.children.is_empty() {
        return Value::String(e.text.clone());
    }
    if e.children
        .iter()
        .all(|c| c.name == "member" || c.name == "item")
    {
        return Value::Array(e.children.iter().map(xml_value).collect());
    }
    let mut m = Map::new();
    for c in &e.children {
        if is_secret_name(&c.name) {
            continue;
        }
        m.insert(lower_first(&c.name), xml_value(c));
    }
    Value::Object(m)
}

/// CloudTrail's resource type of an ARN (`AWS::S3::Object`, `AWS::KMS::Key`,
/// `AWS::IAM::Role`); `None` for `*` and non-ARNs.
pub fn resource_type(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let service = parts.next()?;
    let _region = parts.next()?;
    let _account = parts.next()?;
    let rest = parts.next()?;
    let svc = match service {
        "s3" => "S3",
        "kms" => "KMS",
        "iam" => "IAM",
        "sts" => "STS",
        "ec2" => "EC2",
        "cloudtrail" => "CloudTrail",
        other => return Some(format!("AWS::{}::Resource", camel(other))),
    };
    if service == "s3" {
        return Some(
            if rest.contains('/') {
                "AWS::S3::Object"
            } else {
                "AWS::S3::Bucket"
            }
            .to_string(),
        );
    }
    let kind = rest.split(['/', ':']).next().unwrap_or(rest);
    if kind.is_empty() || kind == "*" {
        return None;
    }
    Some(format!("AWS::{svc}::{}", camel(kind)))
}

fn camel(s: &str) -> String {
    s.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The record resources of an authorized resource: an S3 object also names its bucket (with
/// the owner account), as S3's records do.
pub fn resources_of(arn: &str, account: Option<&str>) -> Vec<RecordResource> {
    let Some(kind) = resource_type(arn) else {
        return Vec::new();
    };
    if kind == "AWS::S3::Object" {
        let bucket = arn
            .strip_prefix("arn:aws:s3:::")
            .and_then(|r| r.split_once('/'))
            .map(|(b, _)| format!("arn:aws:s3:::{b}"));
        let mut out = vec![RecordResource {
            arn: arn.to_string(),
            account: None,
            kind,
        }];
        if let Some(b) = bucket {
            out.push(RecordResource {
                arn: b,
                account: account.map(str::to_string),
                kind: "AWS::S3::Bucket".into(),
            });
        }
        return out;
    }
    vec![RecordResource {
        arn: arn.to_string(),
        account: account.map(str::to_string),
        kind,
    }]
}

/// The account of an ARN (`arn:aws:iam::ACCOUNT:...`), if it names one.
pub fn arn_account(arn: &str) -> Option<&str> {
    let a = arn.split(':').nth(4)?;
    (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types() {
        assert_eq!(
            resource_type("arn:aws:s3:::b").as_deref(),
            Some("AWS::S3::Bucket")
        );
        assert_eq!(
            resource_type("arn:aws:s3:::b/k/x").as_deref(),
            Some("AWS::S3::Object")
        );
        assert_eq!(
            resource_type("arn:aws:kms:us-east-1:111111111111:key/abc").as_deref(),
            Some("AWS::KMS::Key")
        );
        assert_eq!(
            resource_type("arn:aws:iam::111111111111:role/path/R").as_deref(),
            Some("AWS::IAM::Role")
        );
        assert_eq!(resource_type("*"), None);
        assert_eq!(resource_type("arn:aws"), None);
        let r = resources_of("arn:aws:s3:::b/k", Some("222222222222"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].arn, "arn:aws:s3:::b");
        assert_eq!(r[1].account.as_deref(), Some("222222222222"));
    }

    #[test]
    fn query_lists_become_arrays_and_secrets_go() {
        let mut root = Value::Object(Map::new());
        insert_path(&mut root, "Tags.member.1.Key", "a");
        insert_path(&mut root, "Tags.member.1.Value", "b");
        insert_path(&mut root, "Tags.member.2.Key", "c");
        insert_path(&mut root, "PolicyArns.member.1.arn", "p");
        insert_path(&mut root, "RoleName", "R");
        assert_eq!(
            root,
            serde_json::json!({"tags": [{"key": "a", "value": "b"}, {"key": "c"}], "policyArns": [{"arn": "p"}], "roleName": "R"})
        );
        let v = redact(
            serde_json::json!({"KeyId": "k", "Plaintext": "x", "Nested": {"SessionToken": "t", "A": 1}}),
        );
        assert_eq!(v, serde_json::json!({"keyId": "k", "nested": {"a": 1}}));
    }

    #[test]
    fn query_results_become_json_without_secrets() {
        let body = br#"<CreateAccessKeyResponse xmlns="x"><CreateAccessKeyResult><AccessKey><UserName>u</UserName><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status><SecretAccessKey>SEKRIT</SecretAccessKey></AccessKey></CreateAccessKeyResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CreateAccessKeyResponse>"#;
        let v = response_elements(Protocol::Query { xmlns: "x" }, body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"accessKey": {"userName": "u", "accessKeyId": "AKIA1", "status": "Active"}})
        );
        assert!(!v.to_string().contains("SEKRIT"));
    }

    proptest::proptest! {
        #[test]
        fn insert_path_never_panics(path in "[A-Za-z0-9.]{0,40}", v in ".{0,8}") {
            let mut root = Value::Object(Map::new());
            insert_path(&mut root, &path, &v);
        }
    }
}
