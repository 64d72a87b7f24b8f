//! Recording the requests the clients send (service, operation, key parameters, in order):
//! the real-AWS path is the same code, so the recorded sequence is what AWS would receive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};

/// One request as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// SDK service name (`IAM`, `S3`, ...).
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// Key parameters: names of resources and settings given by the plan, with generated
    /// identifiers (key ids, `vpc-...`, `i-...`) replaced by placeholders.
    pub params: BTreeMap<String, String>,
}

/// A shared, ordered log of requests; clone it into every client's options.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
    /// The interceptor that appends to this log.
    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(Recorder { log: self.clone() })
    }
    /// The requests recorded so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().map(|v| v.clone()).unwrap_or_default()
    }
    /// Forgets what was recorded.
    pub fn clear(&self) {
        if let Ok(mut v) = self.inner.lock() {
            v.clear();
        }
    }
}

#[derive(Debug)]
struct Recorder {
    log: RequestLog,
}

/// Parameters worth recording: what the plan decides (names, settings), not what AWS generates.
const QUERY_KEYS: &[&str] = &[
    "RoleName",
    "PolicyName",
    "InstanceProfileName",
    "CidrBlock",
    "ServiceName",
    "VpcEndpointType",
    "InstanceType",
    "ImageId",
    "MinCount",
    "MaxCount",
    "RoleArn",
    "RoleSessionName",
    "VpcId",
    "SubnetId",
    "RouteTableId.1",
    "VpcEndpointId.1",
    "InstanceId.1",
    "IamInstanceProfile.Name",
    "Filter.1.Name",
    "Filter.1.Value.1",
    // Ownership tags at creation: their keys (the deployment id in the value is random).
    "Tags.member.1.Key",
    "Tags.member.2.Key",
    "TagSpecification.1.Tag.2.Key",
    "TagSpecification.1.Tag.3.Key",
];
const JSON_KEYS: &[&str] = &[
    "AliasName",
    "TargetKeyId",
    "KeyId",
    "PolicyName",
    "KeySpec",
    "KeyUsage",
    "PendingWindowInDays",
];

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "airlock-deploy request recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let req = context.request();
        let mut params = BTreeMap::new();
        let body = req.body().bytes().unwrap_or_default();
        let content_type = req.headers().get("content-type").unwrap_or_default();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in form_pairs(body) {
                if QUERY_KEYS.contains(&k.as_str()) {
                    params.insert(k, normalize(&v));
                }
            }
        } else if content_type.starts_with("application/x-amz-json") {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(body) {
                for (k, v) in m {
                    if JSON_KEYS.contains(&k.as_str()) {
                        let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                        params.insert(k, normalize(&v));
                    }
                }
            }
        } else {
            // REST (S3): method, path (bucket and key) and sub-resource.
            params.insert("method".into(), req.method().to_string());
            let uri = req.uri();
            let (path, query) = match uri.split_once('?') {
                Some((p, q)) => (p, q),
                None => (uri, ""),
            };
            let path = path
                .splitn(4, '/')
                .nth(3)
                .map(|p| format!("/{p}"))
                .unwrap_or_else(|| "/".into());
            params.insert("path".into(), path);
            let sub: Vec<&str> = query
                .split('&')
                .filter(|q| !q.is_empty() && !q.starts_with("x-id="))
                .map(|q| q.split('=').next().unwrap_or(q))
                .collect();
            if !sub.is_empty() {
                params.insert("query".into(), sub.join("&"));
            }
        }
        if let Ok(mut v) = self.log.inner.lock() {
            v.push(RecordedRequest {
                service,
                operation,
                params,
            });
        }
        Ok(())
    }
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((dec(k), dec(v)))
        })
        .collect()
}

/// Replaces identifiers AWS generates with placeholders so a recording is stable across runs.
pub fn normalize(value: &str) -> String {
    let mut out = String::new();
    for (i, token) in value.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&normalize_token(token));
    }
    out
}

fn normalize_token(t: &str) -> String {
    let hexish = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    for prefix in ["vpce-", "vpc-", "subnet-", "rtb-", "i-"] {
        if let Some(rest) = t.strip_prefix(prefix)
            && hexish(rest)
        {
            return format!("{prefix}<id>");
        }
    }
    // A KMS key id (UUID).
    let parts: Vec<&str> = t.split('-').collect();
    if parts.len() == 5 && parts.iter().all(|p| hexish(p)) && t.len() == 36 {
        return "<key-id>".to_string();
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_become_placeholders() {
        assert_eq!(normalize("vpce-0a1b2c3d4e5f6a7b8"), "vpce-<id>");
        assert_eq!(
            normalize(
                "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012"
            ),
            "arn:aws:kms:us-east-1:222222222222:key/<key-id>"
        );
        assert_eq!(
            normalize("CrossAccountS3AccessRole"),
            "CrossAccountS3AccessRole"
        );
        assert_eq!(normalize("i-"), "i-");
    }
}
