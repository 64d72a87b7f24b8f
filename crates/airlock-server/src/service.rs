//! The service boundary: how IAM, STS and later KMS, S3 and EC2 plug into the one request
//! pipeline.
//!
//! A [`Service`] turns an authenticated [`Call`] into a [`Prepared`] operation *without
//! changing anything*: it parses and validates the input, loads what authorization needs
//! (a trust policy, a key policy, a bucket policy) and lists the [`Check`]s the policy engine
//! must allow. The pipeline then authorizes every check, and only then runs the operation.
//! Recording, timing and logging happen around it in the pipeline, so services have no audit
//! code of their own.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use airlock_policy::{Context, NamedPolicy, Principal, Resource};
use airlock_sts::Session;
use bytes::Bytes;

use crate::body::{ReplyBody, RequestBody};
use crate::error::AwsError;
use crate::sigv4::AuthLocation;
use crate::xml::{Xml, escape};

/// A boxed future, for operations that run asynchronously (streaming S3 bodies later).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The wire protocol family of a service: selects request parsing and error rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS query protocol (`Action=...&Version=...`), XML responses: IAM, STS (and EC2's variant).
    Query {
        /// The XML namespace of responses.
        xmlns: &'static str,
    },
    /// AWS JSON 1.1 (`X-Amz-Target`): KMS.
    Json,
    /// REST-XML: S3.
    RestXml,
    /// EC2's query protocol: `<Response><Errors><Error>` errors, `UnauthorizedOperation`
    /// for denials and `AuthFailure` for unknown credentials.
    Ec2,
}

impl Protocol {
    /// Renders an error in this protocol's format.
    pub fn error_response(&self, err: &AwsError, request_id: &str) -> Reply {
        match self {
            Protocol::Query { xmlns } => {
                let mut x = Xml::new();
                x.open_ns("ErrorResponse", xmlns)
                    .open("Error")
                    .leaf(
                        "Type",
                        if err.sender_fault {
                            "Sender"
                        } else {
                            "Receiver"
                        },
                    )
                    .leaf("Code", &err.code)
                    .leaf("Message", &err.message)
                    .close("Error")
                    .leaf("RequestId", request_id)
                    .close("ErrorResponse");
                Reply::xml(err.status, x.finish())
            }
            Protocol::Json => {
                let body =
                    serde_json::json!({ "__type": err.code, "message": err.message }).to_string();
                let mut r = Reply::new(err.status, "application/x-amz-json-1.1", body.into_bytes());
                r.headers
                    .push(("x-amzn-errortype".into(), err.code.clone()));
                r
            }
            Protocol::RestXml => {
                let mut fields = String::new();
                for (k, v) in &err.fields {
                    fields.push_str(&format!("<{k}>{}</{k}>", escape(v)));
                }
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{fields}<RequestId>{}</RequestId><HostId>{}</HostId></Error>",
                    escape(&err.code),
                    escape(&err.message),
                    escape(request_id),
                    escape(&rest_xml_host_id(request_id))
                );
                let mut r = Reply::new(err.status, "application/xml", body.into_bytes());
                r.headers.extend(err.headers.iter().cloned());
                r.headers
                    .push(("x-amz-request-id".into(), request_id.to_string()));
                r.headers
                    .push(("x-amz-id-2".into(), rest_xml_host_id(request_id)));
                r
            }
            Protocol::Ec2 => crate::services::ec2::error_response(err, request_id),
        }
    }
}

/// S3's `HostId` / `x-amz-id-2`: an opaque token derived from the request id.
pub fn rest_xml_host_id(request_id: &str) -> String {
    use base64::Engine;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, request_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// The kind of authenticated caller.
#[derive(Debug, Clone)]
pub enum CallerKind {
    /// The account's root user.
    Root,
    /// An IAM user.
    User {
        /// The user name.
        name: String,
    },
    /// A role session.
    Session(Box<Session>),
    /// An unauthenticated caller (services that evaluate anonymous requests: S3).
    Anonymous,
}

/// An authenticated caller with the identity side of its policy set.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The engine's principal.
    pub principal: Principal,
    /// The principal's ARN (`arn:aws:iam::A:user/x`, `arn:aws:sts::A:assumed-role/R/s`, ...).
    pub arn: String,
    /// The principal's account.
    pub account: String,
    /// `GetCallerIdentity`'s `UserId`.
    pub user_id: String,
    /// The access key id used.
    pub access_key_id: String,
    /// Root, user or session.
    pub kind: CallerKind,
    /// Identity policies (inline + managed; an implicit allow-all for root).
    pub identity: Vec<NamedPolicy>,
    /// Permissions boundary.
    pub boundary: Option<NamedPolicy>,
    /// Session policies of a role session.
    pub session_policies: Vec<NamedPolicy>,
}

impl Caller {
    /// The anonymous caller: no identity policies, so only a resource policy that allows `*`
    /// can grant it anything.
    pub fn anonymous() -> Self {
        Caller {
            principal: Principal::Anonymous,
            arn: "anonymous".to_string(),
            account: String::new(),
            user_id: "anonymous".to_string(),
            access_key_id: String::new(),
            kind: CallerKind::Anonymous,
            identity: Vec::new(),
            boundary: None,
            session_policies: Vec::new(),
        }
    }

    /// Whether this is the anonymous caller.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.kind, CallerKind::Anonymous)
    }
}

/// What the listener knows about the connection.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The peer address (`aws:SourceIp`).
    pub peer: SocketAddr,
    /// Whether the request arrived over TLS (`aws:SecureTransport`).
    pub tls: bool,
    /// The VPC endpoint the request came through (`None`: from the internet).
    pub network: Option<std::sync::Arc<NetworkOrigin>>,
    /// The negotiated TLS version as S3's `s3:TlsVersion` writes it (`1.2`, `1.3`).
    pub tls_version: Option<&'static str>,
    /// The negotiated cipher suite, as CloudTrail's `tlsDetails.cipherSuite` names it.
    pub tls_cipher: Option<&'static str>,
}

impl Origin {
    /// A plain-HTTP origin.
    pub fn plain(peer: SocketAddr) -> Self {
        Origin {
            peer,
            tls: false,
            tls_version: None,
            tls_cipher: None,
            network: None,
        }
    }
}

/// How an authenticated request was signed: what S3 needs for its `s3:authType` and
/// `s3:signatureversion` keys and to verify streaming chunk signatures.
#[derive(Clone)]
pub struct Signature {
    /// `Authorization` header or presigned query string.
    pub location: AuthLocation,
    /// The declared `x-amz-content-sha256` (a hex hash, `UNSIGNED-PAYLOAD` or `STREAMING-...`).
    pub content_sha256: Option<String>,
    /// The request's `X-Amz-Date`.
    pub amz_date: String,
    /// The credential scope `DATE/REGION/SERVICE/aws4_request`.
    pub scope: String,
    /// The request (seed) signature, hex.
    pub seed_signature: String,
    /// The SigV4 signing key derived from the secret for this scope.
    pub signing_key: Vec<u8>,
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signature")
            .field("location", &self.location)
            .field("content_sha256", &self.content_sha256)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A request that arrived through a VPC endpoint's listener: the keys AWS adds to it
/// (`aws:SourceVpce`, `aws:SourceVpc`, `aws:VpceAccount`; no `aws:SourceIp`) and the endpoint
/// policy every request through it must also satisfy.
#[derive(Debug, Clone)]
pub struct NetworkOrigin {
    /// `vpce-...`.
    pub vpce_id: String,
    /// `vpc-...`.
    pub vpc_id: String,
    /// The endpoint owner's account.
    pub vpce_account: String,
    /// The endpoint policy.
    pub policy: NamedPolicy,
}

/// One authenticated request, as a service sees it.
#[derive(Debug)]
pub struct Call {
    /// The request id.
    pub request_id: String,
    /// HTTP method.
    pub method: http::Method,
    /// URI path (raw).
    pub path: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Query-protocol parameters (URL query merged with a form body), or the raw URL query
    /// for other protocols.
    pub params: Params,
    /// The body, buffered (empty when the service streams it: see `body_stream`).
    pub body: Bytes,
    /// The unread body, for services that stream it ([`Service::streams_body`]).
    pub body_stream: Option<RequestBody>,
    /// How the request was signed (`None` for anonymous requests).
    pub signature: Option<Signature>,
    /// The region of the credential scope, or the server's default.
    pub region: String,
    /// The caller (shared: resolved callers are cached across requests).
    pub caller: std::sync::Arc<Caller>,
    /// Connection origin.
    pub origin: Origin,
    /// Collects the KMS calls a service makes in process on the caller's behalf (S3's
    /// `GenerateDataKey`/`Decrypt`), so the pipeline records them as AWS does.
    pub key_uses: std::sync::Arc<crate::record::KeyUses>,
}

/// Query-protocol parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// From decoded pairs; later pairs win.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Params {
            map: pairs.into_iter().collect(),
        }
    }

    /// Every parameter, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A required parameter; `field` is the camel-case name AWS uses in validation messages.
    pub fn required(&self, name: &str, field: &str) -> Result<&str, AwsError> {
        self.get(name).ok_or_else(|| AwsError::missing(field))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str, field: &str) -> Result<Option<i64>, AwsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                AwsError::new(
                    400,
                    "ValidationError",
                    format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must be a number"),
                )
            }),
        }
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// A list `Name.member.N` (N from 1), in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let idx = k.strip_prefix(&prefix)?;
                idx.parse::<u32>().ok().map(|i| (i, v.clone()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// A list of structures `Name.member.N.Field`, as maps of field → value, in index order.
    pub fn structs(&self, name: &str) -> Vec<HashMap<String, String>> {
        let prefix = format!("{name}.member.");
        let mut by_index: std::collections::BTreeMap<u32, HashMap<String, String>> =
            Default::default();
        for (k, v) in &self.map {
            if let Some(rest) = k.strip_prefix(&prefix)
                && let Some((idx, field)) = rest.split_once('.')
                && let Ok(i) = idx.parse::<u32>()
            {
                by_index
                    .entry(i)
                    .or_default()
                    .insert(field.to_string(), v.clone());
            }
        }
        by_index.into_values().collect()
    }
}

/// One authorization question for the policy engine.
#[derive(Debug, Clone)]
pub struct Check {
    /// `service:Action`.
    pub action: String,
    /// The resource and its owner account.
    pub resource: Resource,
    /// The resource-based policy that applies (trust, key, bucket policy), if any.
    pub resource_policy: Option<NamedPolicy>,
    /// Request-specific context keys (`sts:ExternalId`, `aws:RequestTag/..`, ...). The pipeline
    /// adds the global ones (`aws:SourceIp`, `aws:SecureTransport`, time, region).
    pub context: Context,
}

impl Check {
    /// A check without resource policy or extra context.
    pub fn new(action: &str, arn: &str, account: &str) -> Self {
        Check {
            action: action.to_string(),
            resource: Resource {
                arn: arn.to_string(),
                account: Some(account.to_string()),
            },
            resource_policy: None,
            context: Context::new(),
        }
    }
}

/// A response body with status and headers.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: ReplyBody,
}

impl Reply {
    /// A reply.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            content_type: content_type.to_string(),
            body: ReplyBody::Full(Bytes::from(body)),
        }
    }

    /// An XML reply.
    pub fn xml(status: u16, body: String) -> Self {
        Reply::new(status, "text/xml", body.into_bytes())
    }
}

/// The deferred execution of a prepared operation.
pub type Run = Box<dyn FnOnce(Call) -> BoxFuture<'static, Result<Reply, AwsError>> + Send>;

/// An operation that has been parsed and validated, with the checks it needs.
pub struct Prepared {
    /// The operation name (`CreateRole`).
    pub operation: String,
    /// Authorization checks; all must be allowed. Empty means "always allowed" (e.g.
    /// `GetCallerIdentity`).
    pub checks: Vec<Check>,
    /// Runs the operation once authorized.
    pub run: Run,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("operation", &self.operation)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// An operation whose body is synchronous (it may block briefly on a durable commit).
    pub fn sync(
        operation: &str,
        checks: Vec<Check>,
        f: impl FnOnce(Call) -> Result<Reply, AwsError> + Send + 'static,
    ) -> Self {
        Prepared {
            operation: operation.to_string(),
            checks,
            run: Box::new(move |call| Box::pin(async move { blocking(move || f(call)) })),
        }
    }
}

/// Runs `f`, telling the runtime it may block (durable commits fsync).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A service of the endpoint.
pub trait Service: Send + Sync + 'static {
    /// The SigV4 signing name this service answers (`iam`, `sts`, `kms`, `s3`, `ec2`).
    fn signing_name(&self) -> &'static str;
    /// The service's wire protocol.
    fn protocol(&self) -> Protocol;
    /// Whether an unsigned request (no credential scope) is meant for this service.
    fn claims_unsigned(
        &self,
        method: &http::Method,
        path: &str,
        params: &Params,
        headers: &http::HeaderMap,
    ) -> bool;
    /// The operation name of a request, for logs and errors before `prepare` (e.g. when
    /// authentication fails).
    fn operation_name(&self, call_params: &Params, headers: &http::HeaderMap) -> Option<String>;
    /// Parses, validates and plans the call. Must not change state.
    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError>;
    /// Whether this request's body is handed to the service unread (in
    /// [`Call::body_stream`]) instead of buffered: S3 object uploads.
    fn streams_body(
        &self,
        _method: &http::Method,
        _uri: &http::Uri,
        _headers: &http::HeaderMap,
    ) -> bool {
        false
    }
    /// Whether unsigned requests are evaluated as the anonymous principal (S3) instead of
    /// refused as unauthenticated.
    fn allows_anonymous(&self) -> bool {
        false
    }

    // ---- The audit trail. Defaults derive everything generically; a service overrides only
    // ---- what its protocol cannot say.

    /// CloudTrail's `eventSource` (`iam.amazonaws.com`).
    fn event_source(&self) -> String {
        format!("{}.amazonaws.com", self.signing_name())
    }

    /// Whether `operation` is a data event (S3 object-level calls) rather than a management
    /// event.
    fn is_data_event(&self, _operation: &str) -> bool {
        false
    }

    /// Whether `operation` only reads (CloudTrail's `readOnly`).
    fn is_read_only(&self, operation: &str) -> bool {
        crate::audit::read_only(operation)
    }

    /// CloudTrail's `requestParameters` of a call, never with secrets. Default: the query or
    /// JSON parameters, redacted ([`crate::audit::request_parameters`]).
    fn request_parameters(&self, call: &Call, _operation: &str) -> Option<serde_json::Value> {
        crate::audit::request_parameters(self.protocol(), call)
    }

    /// CloudTrail's `responseElements` of a successful call that changed state, from the
    /// buffered reply body, never with secrets. Default: the query result or JSON body,
    /// redacted.
    fn response_elements(&self, _operation: &str, body: &[u8]) -> Option<serde_json::Value> {
        crate::audit::response_elements(self.protocol(), body)
    }

    /// The operation and the resources a request names, read without a caller: for the audit
    /// record of a request that failed authentication, so that the resource's owner receives
    /// it (an unknown access key id on someone's bucket is worth seeing).
    fn unauthenticated_details(
        &self,
        _method: &http::Method,
        _path: &str,
        _raw_query: Option<&str>,
        _headers: &http::HeaderMap,
    ) -> (Option<String>, Vec<crate::record::RecordResource>) {
        (None, Vec::new())
    }

    /// Resources of the record beyond those the authorization checks name (KMS authorizes
    /// inside the operation: its key comes from the parameters or the reply).
    fn audit_resources(
        &self,
        _operation: &str,
        _request: Option<&serde_json::Value>,
        _reply_body: Option<&[u8]>,
    ) -> Vec<crate::record::RecordResource> {
        Vec::new()
    }
}
