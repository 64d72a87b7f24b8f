//! The services of the endpoint, each a [`crate::service::Service`] over its domain crate.

pub mod cloudtrail;
pub mod cloudtrail_trails;
pub mod ec2;
pub mod iam;
pub mod kms;
pub mod s3;
pub mod sts;

use crate::service::{Params, Reply};
use crate::xml::Xml;

/// Whether a query-protocol request names this API version (for unsigned requests).
pub(crate) fn query_version_is(params: &Params, version: &str) -> bool {
    params.get("Version") == Some(version) && params.get("Action").is_some()
}

/// `<OpResponse xmlns=..><OpResult>...</OpResult><ResponseMetadata>..</ResponseMetadata></OpResponse>`.
pub(crate) fn query_response(
    op: &str,
    xmlns: &str,
    request_id: &str,
    result: impl FnOnce(&mut Xml),
) -> Reply {
    let mut x = Xml::new();
    x.open_ns(&format!("{op}Response"), xmlns);
    x.open(&format!("{op}Result"));
    result(&mut x);
    x.close(&format!("{op}Result"));
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{op}Response"));
    Reply::xml(200, x.finish())
}

/// A query-protocol response without a result element (`DeleteRole`, ...).
pub(crate) fn query_empty(op: &str, xmlns: &str, request_id: &str) -> Reply {
    let mut x = Xml::new();
    x.open_ns(&format!("{op}Response"), xmlns);
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{op}Response"));
    Reply::xml(200, x.finish())
}
