//! The answer to a request for a service airlock does not serve (`sqs`, `sns`, `dynamodb`,
//! `lambda`, ... in the credential scope), in that service's own wire protocol, so the
//! client prints a clean error naming the services airlock serves instead of failing to parse
//! an answer in another protocol's format.
//!
//! The protocol is read from the request itself: a JSON content type or `X-Amz-Target` is
//! AWS JSON (1.0 or 1.1, answered with the same content type), an `Action` parameter is the
//! query protocol, and anything else is REST: REST-XML for the few services that speak it
//! (Route 53, CloudFront, S3 Outposts), REST-JSON otherwise (Lambda, API Gateway, ...).
//!
//! The error code is the one each protocol uses for a request the endpoint does not know:
//! `InvalidAction` (query), `UnknownOperationException` (JSON and REST-JSON) and
//! `NotImplemented` (REST-XML, as S3 says it). The status is 400, which no SDK retries.

use crate::service::{Params, Reply};
use crate::xml::escape;

/// Signing names of services that speak REST-XML.
const REST_XML: [&str; 4] = ["route53", "cloudfront", "s3-outposts", "s3express"];

/// How a request for a service airlock does not serve is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProtocol {
    /// The query protocol (`Action=...`): XML `ErrorResponse`.
    Query,
    /// AWS JSON 1.0 or 1.1 (`X-Amz-Target`): the version (`"1.0"`, `"1.1"`).
    Json(&'static str),
    /// REST-JSON.
    RestJson,
    /// REST-XML.
    RestXml,
}

/// The protocol of a request for `service`.
pub fn detect(service: &str, headers: &http::HeaderMap, params: &Params) -> WireProtocol {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-amz-json-1.0") {
        return WireProtocol::Json("1.0");
    }
    if content_type.starts_with("application/x-amz-json-1.1") {
        return WireProtocol::Json("1.1");
    }
    if headers.contains_key("x-amz-target") {
        return WireProtocol::Json("1.1");
    }
    if params.get("Action").is_some() {
        return WireProtocol::Query;
    }
    if REST_XML.contains(&service) {
        WireProtocol::RestXml
    } else {
        WireProtocol::RestJson
    }
}

/// The operation a request names, where its protocol says it (`X-Amz-Target`'s suffix, the
/// `Action` parameter).
pub fn operation(
    protocol: WireProtocol,
    headers: &http::HeaderMap,
    params: &Params,
) -> Option<String> {
    match protocol {
        WireProtocol::Json(_) => headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_string),
        WireProtocol::Query => params.get("Action").map(str::to_string),
        _ => None,
    }
}

/// The error code this protocol uses for a request the endpoint does not know.
pub fn code(protocol: WireProtocol) -> &'static str {
    match protocol {
        WireProtocol::Query => "InvalidAction",
        WireProtocol::Json(_) | WireProtocol::RestJson => "UnknownOperationException",
        WireProtocol::RestXml => "NotImplemented",
    }
}

/// The message: which service was asked for and which are served.
pub fn message(service: &str, served: &[String]) -> String {
    let asked = if service.is_empty() {
        "this service".to_string()
    } else {
        format!("the service '{service}'")
    };
    format!(
        "airlock does not serve {asked} (named in the request's credential scope); it serves {}",
        served.join(", ")
    )
}

/// The error reply, in `protocol`'s format.
pub fn reply(protocol: WireProtocol, service: &str, message: &str, request_id: &str) -> Reply {
    const STATUS: u16 = 400;
    let code = code(protocol);
    match protocol {
        WireProtocol::Query => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://{}.amazonaws.com/doc/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                escape(service),
                escape(message),
                escape(request_id)
            );
            Reply::xml(STATUS, body)
        }
        WireProtocol::Json(version) => {
            let body = serde_json::json!({ "__type": code, "message": message }).to_string();
            let mut r = Reply::new(
                STATUS,
                if version == "1.0" {
                    "application/x-amz-json-1.0"
                } else {
                    "application/x-amz-json-1.1"
                },
                body.into_bytes(),
            );
            r.headers.push(("x-amzn-errortype".into(), code.into()));
            r
        }
        WireProtocol::RestJson => {
            let body = serde_json::json!({ "__type": code, "message": message }).to_string();
            let mut r = Reply::new(STATUS, "application/json", body.into_bytes());
            r.headers.push(("x-amzn-errortype".into(), code.into()));
            r
        }
        WireProtocol::RestXml => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                escape(message),
                escape(request_id)
            );
            let mut r = Reply::xml(STATUS, body);
            r.headers
                .push(("x-amz-request-id".into(), request_id.to_string()));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ReplyBody;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_protocol_is_read_from_the_request() {
        let none = Params::from_pairs(Vec::new());
        let action = Params::from_pairs(vec![("Action".into(), "ListTopics".into())]);
        let json10 = headers(&[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
        ]);
        assert_eq!(
            detect("dynamodb", &json10, &none),
            WireProtocol::Json("1.0")
        );
        assert_eq!(
            operation(WireProtocol::Json("1.0"), &json10, &none).as_deref(),
            Some("ListTables")
        );
        assert_eq!(detect("sns", &headers(&[]), &action), WireProtocol::Query);
        assert_eq!(
            detect("lambda", &headers(&[]), &none),
            WireProtocol::RestJson
        );
        assert_eq!(
            detect("route53", &headers(&[]), &none),
            WireProtocol::RestXml
        );
    }

    #[test]
    fn every_reply_names_the_served_services() {
        let served = vec!["sts".to_string(), "s3".to_string()];
        let m = message("sqs", &served);
        assert!(m.contains("'sqs'") && m.contains("sts, s3"), "{m}");
        for p in [
            WireProtocol::Query,
            WireProtocol::Json("1.0"),
            WireProtocol::RestJson,
            WireProtocol::RestXml,
        ] {
            let r = reply(p, "sqs", &m, "id");
            assert_eq!(r.status, 400);
            let ReplyBody::Full(b) = &r.body else {
                panic!("full body")
            };
            let text = String::from_utf8_lossy(b);
            assert!(text.contains(code(p)) && text.contains("sts, s3"), "{text}");
        }
    }
}
