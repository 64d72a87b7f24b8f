//! The one request path: every request is routed, authenticated, authorized, executed,
//! recorded and timed here, whatever the service.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::auth::Authenticator;
use crate::authz::{authorize, denial_message};
use crate::body::{BodyError, ReplyBody, RequestBody};
use crate::error::AwsError;
use crate::record::{CallRecord, KeyUses, Outcome, RecordResource, Recorder};
use crate::service::{Call, Caller, Origin, Params, Protocol, Reply, Service, Signature};
use crate::sigv4::{self, AuthError, RequestParts, SignedRequest};

/// Largest body a buffered (non-streaming) request may have.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Largest form body read from a request that names no known credential: enough for the
/// parameters that decide which service's error format answers it.
pub const UNAUTHENTICATED_FORM_LIMIT: usize = 64 * 1024;

/// Largest buffered body of an anonymous request (S3 configuration documents are far smaller).
pub const ANONYMOUS_BODY_LIMIT: usize = 1024 * 1024;

/// Memory all buffered bodies being read at once may hold; a read waits for room, and fails
/// with `SlowDown` when none comes within the body-read patience.
pub const BODY_BUDGET: usize = 32 * 1024 * 1024;

/// The request pipeline shared by all listeners.
pub struct Pipeline {
    services: Vec<Arc<dyn Service>>,
    auth: Authenticator,
    recorders: Vec<Arc<dyn Recorder>>,
    default_region: String,
    details: bool,
    body_budget: crate::body::BodyBudget,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("default_region", &self.default_region)
            .finish_non_exhaustive()
    }
}

/// A random request id in UUID v4 form, from the thread's CSPRNG (`rand`'s ChaCha, seeded and
/// reseeded from the OS): ids must not be guessable, but they are not keys, and the system
/// generator cost ~1.5 us per id on a path that draws two per call.
pub fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    // 8-4-4-4-12 hex digits, built in one allocation (this runs for every call and event).
    let mut id = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(HEX[(x >> 4) as usize] as char);
        id.push(HEX[(x & 0x0f) as usize] as char);
    }
    id
}

/// The error AWS answers for an authentication failure, in the service's protocol.
pub fn auth_error(protocol: Protocol, err: &AuthError, now: SystemTime) -> AwsError {
    const BAD_SIG: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    const BAD_TOKEN: &str = "The security token included in the request is invalid.";
    let skew_message = |request_time: &str| -> String {
        let req = sigv4::parse_amz_date(request_time).unwrap_or(now);
        let fmt = sigv4::format_amz_date;
        if req > now {
            format!(
                "Signature not yet current: {request_time} is still later than {} ({} + 15 min.)",
                fmt(now + sigv4::MAX_SKEW),
                fmt(now)
            )
        } else {
            format!(
                "Signature expired: {request_time} is now earlier than {} ({} - 15 min.)",
                fmt(now - sigv4::MAX_SKEW),
                fmt(now)
            )
        }
    };
    match protocol {
        Protocol::Query { .. } | Protocol::Ec2 => match err {
            AuthError::Missing => AwsError::new(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
            AuthError::Incomplete(m) => AwsError::new(400, "IncompleteSignature", m.clone()),
            AuthError::UnknownKey | AuthError::InvalidToken | AuthError::InactiveKey => {
                AwsError::new(403, "InvalidClientTokenId", BAD_TOKEN)
            }
            AuthError::ExpiredToken => AwsError::new(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
            AuthError::SignatureMismatch | AuthError::PayloadHashMismatch => {
                AwsError::new(403, "SignatureDoesNotMatch", BAD_SIG)
            }
            AuthError::Skewed { request_time, .. } => {
                AwsError::new(403, "SignatureDoesNotMatch", skew_message(request_time))
            }
            AuthError::PresignExpired => AwsError::new(403, "AccessDenied", "Request has expired"),
            AuthError::QueryParameters(m) => AwsError::new(400, "IncompleteSignature", m.clone()),
            AuthError::UnsignedHeaders(h) => unsigned_headers_error(403, "AccessDenied", h),
        },
        Protocol::Json => match err {
            AuthError::Missing => AwsError::new(
                400,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            AuthError::Incomplete(m) => {
                AwsError::new(400, "IncompleteSignatureException", m.clone())
            }
            AuthError::UnknownKey | AuthError::InvalidToken | AuthError::InactiveKey => {
                AwsError::new(400, "UnrecognizedClientException", BAD_TOKEN)
            }
            AuthError::ExpiredToken => AwsError::new(
                400,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            AuthError::SignatureMismatch | AuthError::PayloadHashMismatch => {
                AwsError::new(400, "InvalidSignatureException", BAD_SIG)
            }
            AuthError::Skewed { request_time, .. } => {
                AwsError::new(400, "InvalidSignatureException", skew_message(request_time))
            }
            AuthError::PresignExpired => {
                AwsError::new(400, "AccessDeniedException", "Request has expired")
            }
            AuthError::QueryParameters(m) => {
                AwsError::new(400, "IncompleteSignatureException", m.clone())
            }
            AuthError::UnsignedHeaders(h) => {
                unsigned_headers_error(400, "AccessDeniedException", h)
            }
        },
        Protocol::RestXml => match err {
            AuthError::Missing => AwsError::new(403, "AccessDenied", "Access Denied"),
            AuthError::Incomplete(m) => {
                AwsError::new(400, "AuthorizationHeaderMalformed", m.clone())
            }
            AuthError::UnknownKey | AuthError::InactiveKey => AwsError::new(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            AuthError::InvalidToken => AwsError::new(
                400,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ),
            AuthError::ExpiredToken => {
                AwsError::new(400, "ExpiredToken", "The provided token has expired.")
            }
            AuthError::SignatureMismatch => AwsError::new(403, "SignatureDoesNotMatch", BAD_SIG),
            AuthError::PayloadHashMismatch => AwsError::new(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            AuthError::Skewed { .. } => AwsError::new(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
            AuthError::PresignExpired => AwsError::new(403, "AccessDenied", "Request has expired"),
            AuthError::QueryParameters(m) => {
                AwsError::new(400, "AuthorizationQueryParametersError", m.clone())
            }
            AuthError::UnsignedHeaders(h) => unsigned_headers_error(403, "AccessDenied", h),
        },
    }
}

/// S3's answer to `x-amz-*` headers outside the signature, naming them in `HeadersNotSigned`.
fn unsigned_headers_error(status: u16, code: &str, headers: &[String]) -> AwsError {
    let mut e = AwsError::new(
        status,
        code,
        "There were headers present in the request which were not signed",
    );
    e.fields
        .push(("HeadersNotSigned".to_string(), headers.join(", ")));
    e
}

/// A request as received by a listener, body not yet read.
#[derive(Debug)]
pub struct Incoming {
    /// Method.
    pub method: http::Method,
    /// URI.
    pub uri: http::Uri,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body, unread: the pipeline buffers it unless the service streams it.
    pub body: RequestBody,
    /// Connection origin.
    pub origin: Origin,
}

/// A response ready for the listener.
#[derive(Debug)]
pub struct Outgoing {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: ReplyBody,
}

struct Trace {
    record: CallRecord,
    service: Option<Arc<dyn Service>>,
    key_uses: Option<Arc<KeyUses>>,
}

impl Pipeline {
    /// A pipeline over these services (first match wins for unsigned requests).
    pub fn new(
        services: Vec<Arc<dyn Service>>,
        auth: Authenticator,
        recorders: Vec<Arc<dyn Recorder>>,
        default_region: String,
    ) -> Self {
        let details = recorders.iter().any(|r| r.wants_details());
        Pipeline {
            services,
            auth,
            recorders,
            default_region,
            details,
            body_budget: crate::body::BodyBudget::new(BODY_BUDGET),
        }
    }

    fn route(
        &self,
        signed: &Result<Option<SignedRequest>, AuthError>,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        params: &Params,
    ) -> Option<Arc<dyn Service>> {
        if let Ok(Some(s)) = signed {
            return self
                .services
                .iter()
                .find(|x| x.signing_name() == s.service)
                .cloned();
        }
        self.services
            .iter()
            .find(|x| x.claims_unsigned(method, uri.path(), params, headers))
            .or_else(|| self.services.first())
            .cloned()
    }

    /// The signing names of the services served, in routing order.
    pub fn service_names(&self) -> Vec<String> {
        self.services
            .iter()
            .map(|s| s.signing_name().to_string())
            .collect()
    }

    /// Handles one request end to end.
    pub async fn handle(&self, req: Incoming) -> Outgoing {
        let started = Instant::now();
        let time = SystemTime::now();
        let request_id = new_request_id();

        let raw_query = req.uri.query().map(str::to_string);
        let query: Vec<(String, String)> = raw_query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let signed = sigv4::parse(&req.headers, &query);
        // Whose credential this is, and whether its time is right, is decided before any body
        // is read: a request that names no known credential never has its body buffered, so
        // unauthenticated clients cannot pin memory with held uploads.
        let pre = self.pre_authenticate(&signed, time);
        let known = matches!(pre, Ok(Some(_)));
        let mut pairs = query.clone();
        // Query-protocol form bodies are POSTs; S3 bodies (object data of any content type) are
        // never forms.
        let signed_s3 = matches!(&signed, Ok(Some(s)) if s.service == "s3");
        let is_form = is_form && req.method == http::Method::POST && !signed_s3;
        // A form body carries query-protocol parameters, which routing may need: read it now
        // (for a request without a known credential, only a small one, for the error's format).
        // Other bodies stay unread until the service is known (S3 streams object bodies).
        let mut unread = Some(req.body);
        let mut body = Bytes::new();
        let mut body_error = None;
        if is_form && let Some(b) = unread.take() {
            let limit = if known {
                MAX_BODY
            } else {
                UNAUTHENTICATED_FORM_LIMIT
            };
            match self.collect(b, limit).await {
                Ok(b) => body = b,
                Err(e) if known => body_error = Some(e),
                Err(_) => {}
            }
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
        let params = Params::from_pairs(pairs);
        let region = match &signed {
            Ok(Some(s)) => s.region.clone(),
            _ => self.default_region.clone(),
        };

        let mut trace = Trace {
            record: CallRecord {
                request_id: request_id.clone(),
                time,
                service: String::new(),
                operation: None,
                account: None,
                principal: None,
                access_key_id: signed
                    .as_ref()
                    .ok()
                    .and_then(|s| s.as_ref())
                    .map(|s| s.access_key_id.clone()),
                action: None,
                resource: None,
                outcome: Outcome::Unauthenticated,
                status: 0,
                error_code: None,
                error_message: None,
                latency: Default::default(),
                source_ip: req.origin.peer.ip(),
                tls: req.origin.tls,
                user_agent: req
                    .headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                region: region.clone(),
                caller: None,
                event_source: String::new(),
                network: req.origin.network.clone(),
                tls_version: req.origin.tls_version,
                tls_cipher: req.origin.tls_cipher,
                host: req
                    .headers
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                request_parameters: None,
                response_elements: None,
                additional_event_data: None,
                resources: Vec::new(),
                read_only: false,
                data_event: false,
                invoked_by: None,
            },
            service: None,
            key_uses: None,
        };

        let Some(service) = self.route(&signed, &req.method, &req.uri, &req.headers, &params)
        else {
            // A service airlock does not serve: answered in its own protocol, naming the
            // services it does serve.
            let name = signed
                .as_ref()
                .ok()
                .and_then(|s| s.as_ref())
                .map(|s| s.service.clone())
                .unwrap_or_default();
            let wire = crate::unserved::detect(&name, &req.headers, &params);
            let message = crate::unserved::message(
                &name,
                &self
                    .service_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            );
            trace.record.service = name.clone();
            trace.record.event_source = format!("{name}.amazonaws.com");
            trace.record.operation = crate::unserved::operation(wire, &req.headers, &params);
            trace.record.outcome = Outcome::Rejected;
            trace.record.error_code = Some(crate::unserved::code(wire).to_string());
            let reply = crate::unserved::reply(wire, &name, &message, &request_id);
            trace.record.error_message = Some(message);
            return self.finish_reply(trace, reply, started);
        };
        let protocol = service.protocol();
        trace.record.service = service.signing_name().to_string();
        trace.record.event_source = service.event_source();
        trace.record.operation = service.operation_name(&params, &req.headers);
        trace.service = Some(service.clone());

        // Buffer the body unless the service streams it, and only for a known credential (or
        // an anonymous request the service decides), within the server's budget.
        let mut body_stream = None;
        let anonymous_allowed = service.allows_anonymous();
        if let Some(b) = unread.take() {
            if service.streams_body(&req.method, &req.uri, &req.headers) {
                body_stream = Some(b);
            } else if known || (matches!(pre, Ok(None)) && anonymous_allowed) {
                let limit = if known {
                    MAX_BODY
                } else {
                    ANONYMOUS_BODY_LIMIT
                };
                match self.collect(b, limit).await {
                    Ok(b) => body = b,
                    Err(e) => body_error = Some(e),
                }
            }
        }
        if let Some(e) = body_error {
            let err = match e {
                BodyError::TooLarge { limit } => AwsError::new(
                    413,
                    "RequestEntityTooLarge",
                    format!("Request body is larger than the {limit} bytes this operation accepts"),
                ),
                BodyError::Read(m) => AwsError::new(400, "IncompleteBody", m),
                e @ BodyError::Timeout => AwsError::new(400, "RequestTimeout", e.to_string()),
                e @ BodyError::Busy => AwsError::new(503, "SlowDown", e.to_string()),
            };
            trace.record.outcome = Outcome::Rejected;
            return self.finish(trace, protocol, Err(err), started);
        }

        // Authenticate (anonymously, for services that evaluate anonymous requests).
        let parts = RequestParts {
            method: req.method.as_str(),
            path: req.uri.path(),
            raw_query: raw_query.as_deref(),
            headers: &req.headers,
            body: if body_stream.is_some() {
                None
            } else {
                Some(&body)
            },
        };
        let s3 = service.signing_name() == "s3";
        let (caller, signature) =
            match self.authenticate(&signed, pre, &parts, s3, anonymous_allowed) {
                Ok(c) => c,
                Err(e) => {
                    let err = auth_error(protocol, &e, time);
                    if self.details {
                        let (op, resources) = service.unauthenticated_details(
                            &req.method,
                            req.uri.path(),
                            raw_query.as_deref(),
                            &req.headers,
                        );
                        if trace.record.operation.is_none() {
                            trace.record.operation = op;
                        }
                        trace.record.resources = resources;
                    }
                    return self.finish(trace, protocol, Err(err), started);
                }
            };
        if !caller.is_anonymous() {
            trace.record.account = Some(caller.account.clone());
        }
        trace.record.principal = Some(caller.arn.clone());
        if self.details {
            trace.record.caller = Some(caller.clone());
        }
        let key_uses = Arc::new(KeyUses::default());
        trace.key_uses = Some(key_uses.clone());

        let call = Call {
            request_id: request_id.clone(),
            method: req.method,
            path: req.uri.path().to_string(),
            headers: req.headers,
            params,
            body,
            body_stream,
            signature,
            region,
            caller,
            origin: req.origin,
            key_uses,
        };

        // Plan.
        let prepared = match service.prepare(&call) {
            Ok(p) => p,
            Err(err) => {
                trace.record.outcome = Outcome::Rejected;
                if self.details {
                    let op = trace.record.operation.clone().unwrap_or_default();
                    trace.record.request_parameters = service.request_parameters(&call, &op);
                }
                return self.finish(trace, protocol, Err(err), started);
            }
        };
        trace.record.operation = Some(prepared.operation.clone());
        if self.details {
            trace.record.request_parameters =
                service.request_parameters(&call, &prepared.operation);
            for check in &prepared.checks {
                for r in crate::audit::resources_of(
                    &check.resource.arn,
                    check.resource.account.as_deref(),
                ) {
                    if !trace.record.resources.iter().any(|x| x.arn == r.arn) {
                        trace.record.resources.push(r);
                    }
                }
            }
        }

        // Authorize every check.
        for check in &prepared.checks {
            trace.record.action = Some(check.action.clone());
            trace.record.resource = Some(check.resource.arn.clone());
            let eval = authorize(&call, check);
            if !eval.decision.is_allowed() {
                let message = denial_message(&call.caller, check, &eval);
                trace.record.outcome = Outcome::Denied(Box::new(eval.explanation));
                let err = match protocol {
                    // JSON 1.1 services answer AccessDeniedException with status 400.
                    Protocol::Json => AwsError::new(400, "AccessDeniedException", message),
                    _ => AwsError::new(403, "AccessDenied", message),
                };
                return self.finish(trace, protocol, Err(err), started);
            }
        }
        if prepared.checks.is_empty() {
            trace.record.action =
                Some(format!("{}:{}", service.signing_name(), prepared.operation));
        }
        trace.record.outcome = Outcome::Allowed;

        // Execute.
        let result = (prepared.run)(call).await;
        self.finish(trace, protocol, result, started)
    }

    /// The audit details known only at the end: read-only, data or management, the response
    /// elements of a successful change, and the resources the service names.
    fn add_details(&self, trace: &mut Trace, reply: &Reply) {
        let Some(service) = &trace.service else {
            return;
        };
        let rec = &mut trace.record;
        let op = rec.operation.clone().unwrap_or_default();
        rec.read_only = service.is_read_only(&op);
        rec.data_event = service.is_data_event(&op);
        let body = match &reply.body {
            crate::body::ReplyBody::Full(b) if reply.status < 300 => Some(&b[..]),
            _ => None,
        };
        if crate::audit::records_response(&op, rec.read_only)
            && let Some(b) = body
        {
            rec.response_elements = service.response_elements(&op, b);
        }
        let extra = service.audit_resources(&op, rec.request_parameters.as_ref(), body);
        for r in extra {
            if !rec.resources.iter().any(|x| x.arn == r.arn) {
                rec.resources.push(r);
            }
        }
        if rec.resources.is_empty()
            && let (Outcome::Denied(_), Some(arn)) = (&rec.outcome, &rec.resource)
        {
            let account = crate::audit::arn_account(arn).map(str::to_string);
            rec.resources = crate::audit::resources_of(arn, account.as_deref());
        }
    }

    /// The credential of a signed request, resolved and its time checked, before any body
    /// is read: `Ok(None)` for an unsigned request.
    fn pre_authenticate(
        &self,
        signed: &Result<Option<SignedRequest>, AuthError>,
        now: SystemTime,
    ) -> Result<Option<(String, Arc<Caller>)>, AuthError> {
        let signed = match signed {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.clone()),
        };
        let unix = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (secret, caller) = self.auth.authenticate(signed, unix)?;
        sigv4::check_time(signed, now)?;
        Ok(Some((secret, caller)))
    }

    /// Reads a whole buffered body within `limit` and the server's budget for buffered bodies.
    async fn collect(&self, body: RequestBody, limit: usize) -> Result<Bytes, BodyError> {
        body.collect_within(limit, &self.body_budget).await
    }

    /// Finishes authentication once the body is known: the signature, the payload hash and
    /// the signed headers.
    fn authenticate(
        &self,
        signed: &Result<Option<SignedRequest>, AuthError>,
        pre: Result<Option<(String, Arc<Caller>)>, AuthError>,
        parts: &RequestParts<'_>,
        s3: bool,
        anonymous: bool,
    ) -> Result<(Arc<Caller>, Option<Signature>), AuthError> {
        let (secret, caller) = match pre? {
            Some(known) => known,
            None if anonymous => return Ok((Arc::new(Caller::anonymous()), None)),
            None => return Err(AuthError::Missing),
        };
        let Ok(Some(signed)) = signed else {
            return Err(AuthError::Missing);
        };
        let verified = sigv4::verify(signed, parts, &secret, s3)?;
        let unsigned = sigv4::unsigned_amz_headers(signed, parts.headers);
        if !unsigned.is_empty() {
            return Err(AuthError::UnsignedHeaders(unsigned));
        }
        let signature = Signature {
            location: signed.location,
            content_sha256: parts
                .headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            amz_date: signed.amz_date.clone(),
            scope: format!(
                "{}/{}/{}/aws4_request",
                signed.scope_date, signed.region, signed.service
            ),
            seed_signature: verified.signature,
            signing_key: verified.signing_key,
        };
        Ok((caller, Some(signature)))
    }

    /// Hands `record` to every recorder, the last one taking it.
    fn record(&self, record: CallRecord) {
        if let Some((last, rest)) = self.recorders.split_last() {
            for r in rest {
                r.record(&record);
            }
            last.record_owned(record);
        }
    }

    fn finish(
        &self,
        mut trace: Trace,
        protocol: Protocol,
        result: Result<Reply, AwsError>,
        started: Instant,
    ) -> Outgoing {
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                if let Some(d) = &e.denial {
                    trace.record.action = Some(d.action.clone());
                    trace.record.resource = Some(d.resource.clone());
                    trace.record.outcome = Outcome::Denied(Box::new(d.explanation.clone()));
                }
                trace.record.error_code = Some(e.code.clone());
                trace.record.error_message = Some(e.message.clone());
                protocol.error_response(&e, &trace.record.request_id)
            }
        };
        self.finish_reply(trace, reply, started)
    }

    /// Records the call and hands `reply` to the listener.
    fn finish_reply(&self, mut trace: Trace, reply: Reply, started: Instant) -> Outgoing {
        trace.record.status = reply.status;
        trace.record.latency = started.elapsed();
        if self.details {
            self.add_details(&mut trace, &reply);
        }
        let invoked: Vec<CallRecord> = match &trace.key_uses {
            Some(uses) => uses
                .take()
                .into_iter()
                .map(|u| invoked_record(&trace.record, u))
                .collect(),
            None => Vec::new(),
        };
        let mut headers = reply.headers;
        headers.push(("content-type".into(), reply.content_type));
        headers.push(("x-amzn-requestid".into(), trace.record.request_id.clone()));
        self.record(trace.record);
        for r in invoked {
            self.record(r);
        }
        Outgoing {
            status: reply.status,
            headers,
            body: reply.body,
        }
    }
}

/// The record of a KMS call a service (S3) made in process for the caller of `outer`: the
/// caller's identity with `invokedBy` the service, the service as source address and user
/// agent, the key as resource (its owner receives the record too).
fn invoked_record(outer: &CallRecord, u: crate::record::KeyUseRecord) -> CallRecord {
    let service = format!("{}.amazonaws.com", outer.service);
    let mut params = serde_json::Map::new();
    if !u.encryption_context.is_empty() {
        params.insert(
            "encryptionContext".into(),
            serde_json::to_value(&u.encryption_context).unwrap_or_default(),
        );
    }
    if let Some(spec) = &u.key_spec {
        params.insert("keySpec".into(), spec.clone().into());
    }
    if let Some(k) = &u.key_arn {
        params.insert("keyId".into(), k.clone().into());
    }
    if u.operation == "Decrypt" {
        params.insert("encryptionAlgorithm".into(), "SYMMETRIC_DEFAULT".into());
    }
    let resources: Vec<RecordResource> = u
        .key_arn
        .as_deref()
        .map(|arn| crate::audit::resources_of(arn, crate::audit::arn_account(arn)))
        .unwrap_or_default();
    let (outcome, error_code, error_message) = match u.error {
        None => (Outcome::Allowed, None, None),
        Some((code, message, Some(explanation))) => (
            Outcome::Denied(Box::new(explanation)),
            Some(code),
            Some(message),
        ),
        Some((code, message, None)) => (Outcome::Rejected, Some(code), Some(message)),
    };
    CallRecord {
        request_id: new_request_id(),
        time: outer.time,
        service: "kms".into(),
        operation: Some(u.operation.to_string()),
        account: outer.account.clone(),
        principal: outer.principal.clone(),
        access_key_id: outer.access_key_id.clone(),
        action: Some(format!("kms:{}", u.operation)),
        resource: u.key_arn.clone(),
        outcome,
        status: if error_code.is_some() { 400 } else { 200 },
        error_code,
        error_message,
        latency: Default::default(),
        source_ip: outer.source_ip,
        tls: false,
        user_agent: Some(service.clone()),
        region: outer.region.clone(),
        caller: outer.caller.clone(),
        event_source: "kms.amazonaws.com".into(),
        network: None,
        tls_version: None,
        tls_cipher: None,
        host: None,
        request_parameters: Some(serde_json::Value::Object(params)),
        response_elements: None,
        additional_event_data: None,
        resources,
        read_only: true,
        data_event: false,
        invoked_by: Some(service),
    }
}

#[cfg(test)]
mod tests {
    use super::new_request_id;

    #[test]
    fn request_ids_are_uuid_v4_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            let groups: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.chars()
                    .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{id}"
            );
            assert!(groups[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "RFC 4122 variant: {id}"
            );
        }
    }
}
