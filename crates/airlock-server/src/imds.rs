//! The instance metadata service (IMDSv2) of each running instance: session tokens by `PUT
//! /latest/api/token`, `meta-data/instance-id`, `placement/region`, `iam/info` and
//! `iam/security-credentials/ROLE`, whose credentials are sessions of the instance profile's
//! role named after the instance (`assumed-role/ROLE/i-...`), issued only when the role's trust
//! policy lets `ec2.amazonaws.com` assume it, and replaced before they expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_policy::{
    Context, NamedPolicy, PolicyKind, PolicySet, Principal, Request, Resource, evaluate,
};
use airlock_sts::{AssumeRoleInput, Credentials, SessionCaller};
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming as HyperBody;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::network::{Network, plain};
use crate::xml::iso8601;

/// Longest token lifetime IMDSv2 accepts (6 hours).
pub const MAX_TOKEN_TTL: i64 = 21_600;

struct Cached {
    /// The unique id (`AROA...`) of the role the credentials are a session of: a role deleted
    /// and created again under the same name is another role, whose sessions are new.
    role_id: String,
    creds: Credentials,
    issued: i64,
}

/// Tokens and cached credentials of the metadata services.
pub struct ImdsState {
    duration: i64,
    tokens: Mutex<HashMap<String, (String, i64)>>,
    creds: Mutex<HashMap<String, Cached>>,
}

impl ImdsState {
    /// State issuing credentials valid `duration` seconds (capped by the role's maximum).
    pub fn new(duration: i64) -> Self {
        ImdsState {
            duration: duration.max(1),
            tokens: Mutex::new(HashMap::new()),
            creds: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn forget(&self, instance: &str) {
        if let Ok(mut t) = self.tokens.lock() {
            t.retain(|_, (i, _)| i != instance);
        }
        if let Ok(mut c) = self.creds.lock() {
            c.remove(instance);
        }
    }
}

pub(crate) async fn serve(
    net: Arc<Network>,
    instance: String,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) {
    let conns = net.connections().clone();
    let handler = move |req: http::Request<HyperBody>, _peer: crate::listener::Peer| {
        let (net, instance) = (net.clone(), instance.clone());
        async move {
            crate::network::boxed(tokio::task::block_in_place(|| {
                handle(&net, &instance, &req)
            }))
        }
    };
    crate::listener::serve(listener, None, conns, stop, handler).await;
}

fn text(status: u16, body: String, content_type: &str) -> http::Response<Full<Bytes>> {
    let mut r = plain(status, &body);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn handle(
    net: &Network,
    instance: &str,
    req: &http::Request<HyperBody>,
) -> http::Response<Full<Bytes>> {
    let now = airlock_iam::now();
    let path = req.uri().path().trim_end_matches('/').to_string();
    // IMDS refuses requests that were forwarded (a proxy in front of it).
    if req.headers().contains_key("x-forwarded-for") {
        return plain(403, "Forbidden");
    }
    if req.method() == http::Method::PUT && path == "/latest/api/token" {
        let ttl = req
            .headers()
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=MAX_TOKEN_TTL).contains(t)) else {
            return plain(400, "Bad Request");
        };
        let mut b = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut b).is_err() {
            return plain(500, "Internal Server Error");
        }
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        if let Ok(mut t) = net.imds.tokens.lock() {
            t.retain(|_, (_, exp)| *exp > now);
            t.insert(token.clone(), (instance.to_string(), now + ttl));
        }
        let mut r = text(200, token, "text/plain");
        if let Ok(v) = http::HeaderValue::from_str(&ttl.to_string()) {
            r.headers_mut()
                .insert("x-aws-ec2-metadata-token-ttl-seconds", v);
        }
        return r;
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return plain(405, "Method Not Allowed");
    }
    // IMDSv2 only (HttpTokens=required): every GET needs a live token of this instance.
    let valid = req
        .headers()
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|tok| {
            net.imds
                .tokens
                .lock()
                .ok()
                .and_then(|t| t.get(tok).cloned())
        })
        .is_some_and(|(i, exp)| i == instance && exp > now);
    if !valid {
        return plain(401, "Unauthorized");
    }
    let Ok(inst) = net.ec2.find_instance(instance) else {
        return plain(404, "Not Found");
    };
    let profile = inst.iam_instance_profile.clone();
    let role_name = profile.as_ref().and_then(|p| {
        net.iam
            .get_instance_profile(&inst.account, &p.name)
            .ok()
            .and_then(|ip| ip.roles.first().cloned())
    });
    let ok = |s: String| text(200, s, "text/plain");
    match path.as_str() {
        "/latest/meta-data" => {
            let mut items = vec![
                "ami-id",
                "instance-id",
                "instance-type",
                "local-ipv4",
                "placement/",
            ];
            if profile.is_some() {
                items.push("iam/");
            }
            ok(items.join("\n"))
        }
        "/latest/meta-data/instance-id" => ok(inst.id.clone()),
        "/latest/meta-data/ami-id" => ok(inst.image_id.clone()),
        "/latest/meta-data/instance-type" => ok(inst.instance_type.clone()),
        "/latest/meta-data/local-ipv4" => ok(inst.private_ip.clone()),
        "/latest/meta-data/placement/region" => ok(inst.region.clone()),
        "/latest/meta-data/placement/availability-zone" => ok(inst.availability_zone.clone()),
        "/latest/dynamic/instance-identity/document" => text(
            200,
            serde_json::json!({
                "accountId": inst.account, "instanceId": inst.id, "region": inst.region,
                "availabilityZone": inst.availability_zone, "imageId": inst.image_id,
                "instanceType": inst.instance_type, "privateIp": inst.private_ip,
            })
            .to_string(),
            "application/json",
        ),
        "/latest/meta-data/iam/info" => match &profile {
            None => plain(404, "Not Found"),
            Some(p) => {
                let body = match role_name
                    .as_deref()
                    .map(|r| credentials(net, &inst, r, now))
                {
                    Some(Ok(c)) => serde_json::json!({
                        "Code": "Success", "LastUpdated": iso8601(c.issued),
                        "InstanceProfileArn": p.arn, "InstanceProfileId": p.id,
                    }),
                    Some(Err(msg)) => serde_json::json!({
                        "Code": "AssumeRoleUnauthorizedAccess", "Message": msg,
                        "LastUpdated": iso8601(now),
                    }),
                    None => serde_json::json!({
                        "Code": "InstanceProfileNotFound",
                        "Message": "Instance profile has no role", "LastUpdated": iso8601(now),
                    }),
                };
                text(200, body.to_string(), "application/json")
            }
        },
        "/latest/meta-data/iam/security-credentials" => match &role_name {
            Some(r) => ok(r.clone()),
            None => plain(404, "Not Found"),
        },
        p if p.starts_with("/latest/meta-data/iam/security-credentials/") => {
            let asked = p.trim_start_matches("/latest/meta-data/iam/security-credentials/");
            match &role_name {
                Some(r) if r == asked => match credentials(net, &inst, r, now) {
                    Ok(c) => text(
                        200,
                        serde_json::json!({
                            "Code": "Success",
                            "LastUpdated": iso8601(c.issued),
                            "Type": "AWS-HMAC",
                            "AccessKeyId": c.creds.access_key_id,
                            "SecretAccessKey": c.creds.secret_access_key,
                            "Token": c.creds.session_token,
                            "Expiration": iso8601(c.creds.expiration),
                        })
                        .to_string(),
                        "application/json",
                    ),
                    Err(msg) => text(
                        200,
                        serde_json::json!({
                            "Code": "AssumeRoleUnauthorizedAccess",
                            "Message": msg,
                            "LastUpdated": iso8601(now),
                        })
                        .to_string(),
                        "application/json",
                    ),
                },
                _ => plain(404, "Not Found"),
            }
        }
        _ => plain(404, "Not Found"),
    }
}

struct Issued {
    creds: Credentials,
    issued: i64,
}

/// The instance's current credentials: cached ones of the profile's current role while more
/// than the refresh margin (half their lifetime, at most 15 minutes) remains, else a new
/// session of the role. Old credentials stay valid until their own expiry (or until their
/// role is deleted), as on EC2.
fn credentials(
    net: &Network,
    inst: &airlock_ec2::Instance,
    role_name: &str,
    now: i64,
) -> Result<Issued, String> {
    let role = net
        .iam
        .get_role(&inst.account, role_name)
        .map_err(|e| e.to_string())?;
    if let Ok(c) = net.imds.creds.lock()
        && let Some(c) = c.get(&inst.id)
    {
        let life = c.creds.expiration - c.issued;
        let margin = (life / 2).min(900);
        if c.role_id == role.id && now < c.creds.expiration - margin {
            return Ok(Issued {
                creds: c.creds.clone(),
                issued: c.issued,
            });
        }
    }
    // EC2 assumes the role as the service principal: the trust policy must allow it.
    let trust: NamedPolicy = net
        .iam
        .policy_cache()
        .named(
            &role.assume_role_policy,
            PolicyKind::Trust,
            role.arn.clone(),
        )
        .map_err(|e| e.to_string())?;
    let request = Request {
        principal: Principal::Service {
            name: "ec2.amazonaws.com".into(),
        },
        action: "sts:AssumeRole".into(),
        resource: Resource {
            arn: role.arn.clone(),
            account: Some(role.account.clone()),
        },
        context: Context::new(),
    };
    let set = PolicySet {
        resource: Some(trust),
        ..PolicySet::default()
    };
    if !evaluate(&request, &set).decision.is_allowed() {
        return Err(format!(
            "EC2 cannot assume the role {}: its trust policy does not allow the service principal ec2.amazonaws.com",
            role.name
        ));
    }
    let duration = net.imds.duration.min(i64::from(role.max_session_duration));
    let input = AssumeRoleInput {
        role_arn: role.arn.clone(),
        role_session_name: inst.id.clone(),
        duration_seconds: Some(duration),
        ..AssumeRoleInput::default()
    };
    let (_, creds) = net
        .sts
        .issue(&role, &input, &SessionCaller::default(), now)
        .map_err(|e| e.to_string())?;
    if let Ok(mut c) = net.imds.creds.lock() {
        c.insert(
            inst.id.clone(),
            Cached {
                role_id: role.id.clone(),
                creds: creds.clone(),
                issued: now,
            },
        );
    }
    tracing::info!(target: "airlock::imds", instance = %inst.id, role = %role.arn, expiration = creds.expiration, "issued instance credentials");
    Ok(Issued { creds, issued: now })
}
