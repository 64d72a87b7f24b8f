//! A minimal SigV4-signed JSON 1.1 client over plain HTTP, for the CLI's commands that talk to
//! a running server (`airlock trail tail`). Requests go through the server's pipeline like any
//! SDK's: authenticated, authorized by the engine, answered in AWS's error format.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

/// Long-term or session credentials.
#[derive(Clone)]
pub struct ClientCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Errors of a client call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not `http://HOST:PORT`.
    #[error("unsupported endpoint {0}: only http://HOST:PORT is supported")]
    Endpoint(String),
    /// Connecting or talking to the server failed.
    #[error("{0}")]
    Io(String),
    /// The server answered an AWS error.
    #[error("{code}: {message}")]
    Aws {
        /// HTTP status.
        status: u16,
        /// Error code (`AccessDeniedException`).
        code: String,
        /// Message.
        message: String,
    },
}

/// Calls a JSON 1.1 operation: `POST /` with `X-Amz-Target: target`, signed for `service` in
/// `region`.
pub async fn call_json(
    endpoint: &str,
    region: &str,
    service: &str,
    target: &str,
    creds: &ClientCredentials,
    body: &Value,
) -> Result<Value, ClientError> {
    let authority = endpoint
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| ClientError::Endpoint(endpoint.to_string()))?
        .to_string();
    let payload = body.to_string();
    let uri = format!("http://{authority}/");
    let headers = [
        ("host", authority.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let identity: Identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "airlock-cli",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ClientError::Io(format!("signing: {e}")))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.iter().copied(),
        SignableBody::Bytes(payload.as_bytes()),
    )
    .map_err(|e| ClientError::Io(format!("signing: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| ClientError::Io(format!("signing: {e}")))?
        .into_parts();
    let mut req = http::Request::builder().method("POST").uri("/");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    let req = req
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| ClientError::Io(e.to_string()))?;

    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| ClientError::Io(format!("connecting to {authority}: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
    let driver = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?
        .to_bytes();
    driver.abort();
    let v: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Io(format!("the server answered no JSON: {e}")))?
    };
    if status >= 300 {
        return Err(ClientError::Aws {
            status,
            code: v
                .get("__type")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
                .to_string(),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(v)
}
