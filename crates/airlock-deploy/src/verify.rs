//! `verify`: the seed's Phase 3 and its four checklist tests, live, plus negative probes that
//! prove each layer. Every check states what was expected, what came back, and why.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_blueprint::Plan;
use airlock_blueprint::plan::RolePurpose;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde::Serialize;

use crate::connect::ClientOptions;
use crate::error::{DeployError, aws};
use crate::state::State;
use crate::target::Target;

/// The object Phase 3 uploads, and its content (the seed's `test-file.txt`).
pub const TEST_KEY: &str = "test-file.txt";
/// The content of [`TEST_KEY`].
pub const TEST_CONTENT: &str = "Hello from Account A!\n";

/// How verify reaches the instance side: the instance role's credentials and the S3 endpoint
/// as seen from inside its VPC.
#[derive(Debug, Clone)]
pub struct InstanceSide {
    /// The instance's configuration: its role's credentials (the metadata service on the
    /// local endpoint, a profile on AWS), region, and the STS endpoint it uses.
    pub config: SdkConfig,
    /// The S3 endpoint URL from inside the VPC (the VPC endpoint's listener locally; `None`:
    /// the SDK's default, on an instance whose route table sends S3 to the gateway endpoint).
    pub s3_endpoint: Option<String>,
    /// A plain-HTTP S3 URL from inside the VPC, for the TLS probe (`None`: the probe is
    /// skipped).
    pub s3_http_endpoint: Option<String>,
    /// Client options (CA bundles).
    pub options: ClientOptions,
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// As expected.
    Passed,
    /// Not as expected.
    Failed,
    /// Could not run (missing parameter); counts as neither.
    Skipped,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable id (`phase3-put`, `probe-outside-vpc`, ...).
    pub id: &'static str,
    /// What is checked, in words.
    pub check: String,
    /// What should happen.
    pub expected: String,
    /// What happened (error code and message, or the value read).
    pub got: String,
    /// Why it matters or why it came out this way.
    pub why: String,
    /// The verdict.
    pub status: Status,
}

/// The verify report. As JSON: `passed`, `failed` and `skipped` (the counts), `checks` and
/// `elapsed` (milliseconds).
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Wall time.
    pub elapsed: Duration,
}

impl VerifyReport {
    /// Checks passed.
    pub fn passed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Passed)
            .count()
    }
    /// Checks failed.
    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .count()
    }
    /// Checks skipped (they could not run: a missing parameter); neither passed nor failed.
    pub fn skipped(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .count()
    }
    /// The summary line: `N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
    /// Ids of the failed checks.
    pub fn failed_ids(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| c.id)
            .collect()
    }
}

impl Serialize for VerifyReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            passed: usize,
            failed: usize,
            skipped: usize,
            checks: &'a [Check],
            #[serde(serialize_with = "crate::millis")]
            elapsed: &'a Duration,
        }
        Json {
            passed: self.passed(),
            failed: self.failed(),
            skipped: self.skipped(),
            checks: &self.checks,
            elapsed: &self.elapsed,
        }
        .serialize(s)
    }
}

/// The probes a plan is expected to fail because a hardening switch is off (every one under
/// `as-written`): the seed's own design does not stop those requests.
pub fn expected_failures(plan: &Plan) -> Vec<&'static str> {
    let h = &plan.hardening;
    let mut out = Vec::new();
    if !h.deny_other_kms_keys {
        out.push("probe-other-kms-key");
    }
    if !h.deny_insecure_transport {
        out.push("probe-plain-http");
    }
    if !h.pin_trust_to_principal {
        out.push("probe-other-principal");
    }
    out
}

enum Got {
    Allowed(String),
    Denied(String, String),
    Error(String, String),
}

fn got<T>(r: Result<T, DeployError>, ok: impl FnOnce(T) -> String) -> Got {
    match r {
        Ok(v) => Got::Allowed(ok(v)),
        Err(e) => {
            let code = e.code().unwrap_or("error").to_string();
            let msg = e
                .aws_message()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            if matches!(
                code.as_str(),
                "AccessDenied" | "AccessDeniedException" | "Forbidden" | "Http403"
            ) {
                Got::Denied(code, msg)
            } else {
                Got::Error(code, msg)
            }
        }
    }
}

impl Got {
    fn text(&self) -> String {
        match self {
            Got::Allowed(s) => format!("allowed ({s})"),
            Got::Denied(c, m) | Got::Error(c, m) => {
                if m.is_empty() {
                    c.clone()
                } else {
                    format!("{c}: {m}")
                }
            }
        }
    }
    fn denied(&self) -> bool {
        matches!(self, Got::Denied(..))
    }
    fn allowed(&self) -> bool {
        matches!(self, Got::Allowed(..))
    }
}

struct Checks(Vec<Check>);

impl Checks {
    fn expect_allowed(
        &mut self,
        id: &'static str,
        check: &str,
        g: Got,
        why_ok: &str,
        why_fail: &str,
    ) {
        let passed = g.allowed();
        self.0.push(Check {
            id,
            check: check.into(),
            expected: "allowed".into(),
            got: g.text(),
            why: if passed { why_ok } else { why_fail }.into(),
            status: if passed {
                Status::Passed
            } else {
                Status::Failed
            },
        });
    }
    fn expect_denied(
        &mut self,
        id: &'static str,
        check: &str,
        g: Got,
        why_ok: &str,
        why_fail: &str,
    ) {
        let passed = g.denied();
        self.0.push(Check {
            id,
            check: check.into(),
            expected: "AccessDenied".into(),
            got: g.text(),
            why: if passed { why_ok } else { why_fail }.into(),
            status: if passed {
                Status::Passed
            } else {
                Status::Failed
            },
        });
    }
    fn skipped(&mut self, id: &'static str, check: &str, expected: &str, why: &str) {
        self.0.push(Check {
            id,
            check: check.into(),
            expected: expected.into(),
            got: "not run".into(),
            why: why.into(),
            status: Status::Skipped,
        });
    }
}

fn s3_client(
    config: &SdkConfig,
    endpoint: Option<&str>,
    opts: &ClientOptions,
) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    if endpoint.is_some() || config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    if let Some(r) = &opts.record {
        b = b.interceptor(r.interceptor());
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn with_credentials(config: &SdkConfig, creds: Option<Credentials>) -> SdkConfig {
    let mut b = config.to_builder();
    match creds {
        Some(c) => {
            b.set_credentials_provider(Some(
                aws_credential_types::provider::SharedCredentialsProvider::new(c),
            ));
        }
        None => {
            b.set_credentials_provider(None);
        }
    }
    b.build()
}

async fn list(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, DeployError> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(aws("s3", "ListObjectsV2"))?;
    Ok(out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect())
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String, DeployError> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(aws("s3", "GetObject"))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| DeployError::Aws {
            service: "s3",
            operation: "GetObject",
            code: "Transport".into(),
            message: e.to_string(),
        })?
        .into_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs every check. Needs the state written by apply (bucket, key, endpoint).
pub async fn verify(
    plan: &Plan,
    target: &Target,
    instance: &InstanceSide,
    state_path: &Path,
) -> Result<VerifyReport, DeployError> {
    let started = Instant::now();
    let state = State::read(state_path)?.ok_or_else(|| {
        DeployError::Config(format!(
            "no state file {}: run apply first",
            state_path.display()
        ))
    })?;
    let bucket = plan.bucket.name.clone();
    let key_arn = state
        .key
        .as_ref()
        .map(|k| k.key_arn.clone())
        .unwrap_or_default();
    let storage_role = plan
        .roles
        .iter()
        .find(|r| r.purpose == RolePurpose::Storage)
        .ok_or_else(|| DeployError::Config("the plan has no storage role".into()))?;
    let instance_role = plan
        .roles
        .iter()
        .find(|r| r.purpose == RolePurpose::Instance)
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let opts = &instance.options;
    let ep_in = instance.s3_endpoint.as_deref();
    let mut c = Checks(Vec::new());

    // ---- Phase 3: on the instance.
    let inst_sts = aws_sdk_sts::Client::new(&instance.config);
    let ident = inst_sts
        .get_caller_identity()
        .send()
        .await
        .map_err(aws("sts", "GetCallerIdentity"));
    let ident_arn = ident
        .as_ref()
        .ok()
        .and_then(|o| o.arn().map(str::to_string));
    let ok_ident = ident_arn
        .as_deref()
        .is_some_and(|a| a.contains(&format!(":assumed-role/{instance_role}/")));
    c.0.push(Check {
        id: "phase3-instance-identity",
        check: "Step 9.2: on the instance, sts get-caller-identity".into(),
        expected: format!("assumed-role/{instance_role}/... in the consumer account"),
        got: match &ident {
            Ok(o) => o.arn().unwrap_or_default().to_string(),
            Err(e) => e.to_string(),
        },
        why: if ok_ident {
            "the instance profile's role is served by the instance metadata service".into()
        } else {
            "the instance does not run with the planned instance profile".into()
        },
        status: if ok_ident {
            Status::Passed
        } else {
            Status::Failed
        },
    });

    let assumed = inst_sts
        .assume_role()
        .role_arn(storage_role.arn())
        .role_session_name("cross-account-session")
        .send()
        .await
        .map_err(aws("sts", "AssumeRole"));
    let role_creds = assumed
        .as_ref()
        .ok()
        .and_then(|o| o.credentials())
        .map(|cr| {
            Credentials::new(
                cr.access_key_id(),
                cr.secret_access_key(),
                Some(cr.session_token().to_string()),
                None,
                "airlock-verify-assumed-role",
            )
        });
    c.expect_allowed(
        "phase3-assume-role",
        &format!("Step 9.3: the instance assumes {}", storage_role.name),
        got(assumed.as_ref().map(|_| ()).map_err(clone_err), |_| "temporary credentials".into()),
        "the storage role's trust policy admits the instance role, and the instance role's policy allows sts:AssumeRole on it",
        "the trust policy or the instance role's AssumeRole grant is missing or wrong",
    );
    let Some(role_creds) = role_creds else {
        return Ok(VerifyReport {
            checks: c.0,
            elapsed: started.elapsed(),
        });
    };
    let role_cfg = with_credentials(&instance.config, Some(role_creds.clone()));
    let role_in = s3_client(&role_cfg, ep_in, opts);

    // The seed's own upload: no encryption headers, so the bucket's default encryption (the
    // planned key, with the Bucket Key) applies; deny_other_kms_keys only refuses PUTs that
    // name another key or another algorithm.
    let put = role_in
        .put_object()
        .bucket(&bucket)
        .key(TEST_KEY)
        .body(TEST_CONTENT.as_bytes().to_vec().into());
    let put = put.send().await.map_err(aws("s3", "PutObject"));
    c.expect_allowed(
        "phase3-put",
        "Step 9.6: the role uploads test-file.txt through the VPC endpoint",
        got(put, |_| "stored".into()),
        "role policy, bucket policy (endpoint admitted) and the key policy (GenerateDataKey through S3) all allow",
        "a layer that should admit the role through the endpoint does not",
    );
    let listed = list(&role_in, &bucket).await;
    let has_key = listed
        .as_ref()
        .is_ok_and(|k| k.iter().any(|x| x == TEST_KEY));
    c.expect_allowed(
        "phase3-list",
        "Step 9.7: the role lists the bucket through the VPC endpoint",
        got(listed, |k| format!("{} keys", k.len())),
        if has_key {
            "s3:ListBucket is granted on the bucket"
        } else {
            "listing allowed"
        },
        "s3:ListBucket is not granted to the role through the endpoint",
    );
    let content = get(&role_in, &bucket, TEST_KEY).await;
    let same = content.as_deref().is_ok_and(|t| t == TEST_CONTENT);
    c.0.push(Check {
        id: "phase3-get",
        check: "Step 9.8: the role downloads test-file.txt; same content".into(),
        expected: "allowed, same content".into(),
        got: match &content {
            Ok(t) if same => format!("allowed ({} bytes, same content)", t.len()),
            Ok(t) => format!("allowed, but content differs ({} bytes)", t.len()),
            Err(e) => e.to_string(),
        },
        why: if same {
            "GetObject and kms:Decrypt (through S3) are allowed".into()
        } else {
            "the object cannot be read back through the endpoint".into()
        },
        status: if same { Status::Passed } else { Status::Failed },
    });

    // ---- Security checklist.
    let (storage_s3, _) = (target.storage.s3.clone(), ());
    c.expect_denied(
        "test1-outside-vpc",
        "Checklist Test 1: the storage account's administrator lists the bucket from outside the VPC",
        got(list(&storage_s3, &bucket).await, |k| format!("{} keys", k.len())),
        "the bucket policy denies every request that does not come through the admitted VPC endpoint",
        "the bucket answers requests from outside the VPC",
    );
    let inst_s3 = s3_client(&instance.config, ep_in, opts);
    c.expect_denied(
        "test2-instance-role",
        "Checklist Test 2: on the instance, list the bucket without assuming the role",
        got(list(&inst_s3, &bucket).await, |k| format!("{} keys", k.len())),
        "this tests IAM, not the endpoint: the instance role has no S3 permission and the bucket policy grants nothing to the consumer account (the request did come through the endpoint); probe-outside-vpc tests the endpoint",
        "the instance role itself can read the bucket",
    );
    let head = role_in
        .head_object()
        .bucket(&bucket)
        .key(TEST_KEY)
        .send()
        .await
        .map_err(aws("s3", "HeadObject"));
    let (enc_ok, enc_got) = match &head {
        Ok(h) => {
            let alg = h
                .server_side_encryption()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default();
            let kid = h.ssekms_key_id().unwrap_or_default().to_string();
            (
                alg == "aws:kms" && (kid == key_arn || key_arn.ends_with(&kid)),
                format!("ServerSideEncryption {alg}, key {kid}"),
            )
        }
        Err(e) => (false, e.to_string()),
    };
    c.0.push(Check {
        id: "test3-encryption",
        check: "Checklist Test 3: head-object test-file.txt".into(),
        expected: format!("ServerSideEncryption aws:kms with {key_arn}"),
        got: enc_got,
        why: if enc_ok {
            "default encryption applies the planned customer managed key".into()
        } else {
            "the object is not encrypted with the planned key".into()
        },
        status: if enc_ok {
            Status::Passed
        } else {
            Status::Failed
        },
    });
    let rb = role_in
        .delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(aws("s3", "DeleteBucket"));
    c.expect_denied(
        "test4-delete-bucket",
        "Checklist Test 4: the role deletes the bucket",
        got(rb, |_| "bucket deleted".into()),
        "the role is granted only Get/Put/List: s3:DeleteBucket is implicitly denied",
        "the role can delete the bucket",
    );
    let del = role_in
        .delete_object()
        .bucket(&bucket)
        .key(TEST_KEY)
        .send()
        .await
        .map_err(aws("s3", "DeleteObject"));
    c.expect_denied(
        "probe-delete-object",
        "the role deletes test-file.txt",
        got(del, |_| "object deleted".into()),
        "s3:DeleteObject is not granted to the role",
        "the role can delete objects",
    );

    // ---- Probes: one per layer.
    let role_out = s3_client(
        &with_credentials(&target.storage.sdk, Some(role_creds.clone())),
        None,
        opts,
    );
    let outside_list = got(list(&role_out, &bucket).await, |k| {
        format!("{} keys", k.len())
    });
    let outside_get = got(get(&role_out, &bucket, TEST_KEY).await, |t| {
        format!("{} bytes", t.len())
    });
    let both = outside_list.denied() && outside_get.denied();
    c.0.push(Check {
        id: "probe-outside-vpc",
        check: "the role's own credentials, from outside the VPC: list and get".into(),
        expected: "AccessDenied".into(),
        got: format!("list: {}; get: {}", outside_list.text(), outside_get.text()),
        why: if both {
            "the bucket policy's VPC-endpoint deny applies to the role itself: credentials that leak from the instance are useless elsewhere".into()
        } else {
            "the VPC-endpoint layer is missing: the role's credentials work from anywhere (is the bucket policy in place?)".into()
        },
        status: if both { Status::Passed } else { Status::Failed },
    });
    let anon = {
        let cfg = with_credentials(&target.storage.sdk, None);
        let mut b = aws_sdk_s3::config::Builder::from(&cfg).allow_no_auth();
        if cfg.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    };
    let anon_get = got(anonymous_get(&anon, &bucket).await, |t| {
        format!("{} bytes", t.len())
    });
    c.expect_denied(
        "probe-anonymous",
        "an anonymous (unsigned) GetObject from outside",
        anon_get,
        "no policy grants anonymous access and Block Public Access is on",
        "the object is readable anonymously",
    );

    // A public bucket policy is refused, and the original stays.
    let (admin_s3, via) = target.bucket_s3(&state);
    let original = admin_s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .map_err(aws("s3", "GetBucketPolicy"));
    match original {
        Ok(orig) => {
            let orig_text = orig.policy().unwrap_or("{}").to_string();
            let mut public: serde_json::Value =
                crate::policy::parse_live(&orig_text).map_err(DeployError::Policy)?;
            if let Some(serde_json::Value::Array(stmts)) = public.get_mut("Statement") {
                stmts.push(serde_json::json!({
                    "Sid": "AirlockVerifyPublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": format!("arn:aws:s3:::{bucket}/*"),
                }));
            }
            let put = admin_s3
                .put_bucket_policy()
                .bucket(&bucket)
                .policy(public.to_string())
                .send()
                .await
                .map_err(aws("s3", "PutBucketPolicy"));
            let accepted = put.is_ok();
            if accepted {
                // Put the original back at once.
                admin_s3
                    .put_bucket_policy()
                    .bucket(&bucket)
                    .policy(&orig_text)
                    .send()
                    .await
                    .map_err(aws("s3", "PutBucketPolicy"))?;
            }
            let g = got(put, |_| "public policy accepted".into());
            let after = admin_s3
                .get_bucket_policy()
                .bucket(&bucket)
                .send()
                .await
                .map_err(aws("s3", "GetBucketPolicy"))?;
            let intact = crate::policy::parse_live(after.policy().unwrap_or("{}"))
                .map(|a| {
                    crate::policy::parse_live(&orig_text).is_ok_and(|o| crate::policy::same(&o, &a))
                })
                .unwrap_or(false);
            let denied = g.denied();
            c.0.push(Check {
                id: "probe-public-policy",
                check: format!(
                    "the storage administrator puts a public bucket policy{}",
                    via.as_ref().map(|v| format!(" (through {v})")).unwrap_or_default()
                ),
                expected: "AccessDenied (BlockPublicPolicy); original policy intact".into(),
                got: format!("{}; original policy {}", g.text(), if intact { "intact" } else { "CHANGED" }),
                why: if denied && intact {
                    "Block Public Access (BlockPublicPolicy) rejects any policy that grants access to everyone".into()
                } else {
                    "Block Public Access does not stop a public policy".into()
                },
                status: if denied && intact { Status::Passed } else { Status::Failed },
            });
        }
        Err(e) => c.0.push(Check {
            id: "probe-public-policy",
            check: "the storage administrator puts a public bucket policy".into(),
            expected: "AccessDenied (BlockPublicPolicy); original policy intact".into(),
            got: format!("cannot read the bucket policy: {e}"),
            why: "the probe needs the current policy to restore it; the storage administrator cannot read it from here (on AWS: run verify inside the VPC or as the break-glass principal)".into(),
            status: Status::Failed,
        }),
    }

    let other_key = format!(
        "arn:aws:kms:{}:{}:key/00000000-0000-4000-8000-000000000000",
        plan.region, plan.storage_account.id
    );
    let put_other = role_in
        .put_object()
        .bucket(&bucket)
        .key("airlock-verify-other-key.txt")
        .body(b"x".to_vec().into())
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_key_id(&other_key)
        .send()
        .await
        .map_err(aws("s3", "PutObject"));
    c.expect_denied(
        "probe-other-kms-key",
        "the role PUTs an object naming another KMS key",
        got(put_other, |_| "stored".into()),
        "the bucket policy denies PUTs whose x-amz-server-side-encryption-aws-kms-key-id is not the planned key",
        "nothing in the bucket policy pins the key: the PUT went on to KMS (switch deny_other_kms_keys)",
    );

    match &instance.s3_http_endpoint {
        Some(http) => {
            let plain = s3_client(&role_cfg, Some(http), opts);
            c.expect_denied(
                "probe-plain-http",
                "the role GETs test-file.txt over plain HTTP through the VPC endpoint",
                got(get(&plain, &bucket, TEST_KEY).await, |t| format!("{} bytes", t.len())),
                "the bucket policy denies requests without TLS (aws:SecureTransport false)",
                "plain HTTP is accepted: nothing denies aws:SecureTransport = false (switch deny_insecure_transport)",
            );
        }
        None => c.skipped(
            "probe-plain-http",
            "the role GETs test-file.txt over plain HTTP through the VPC endpoint",
            "AccessDenied",
            "no plain-HTTP S3 endpoint given (--instance-s3-http-endpoint)",
        ),
    }

    let other = target
        .consumer
        .sts
        .assume_role()
        .role_arn(storage_role.arn())
        .role_session_name("airlock-verify-other-principal")
        .send()
        .await
        .map_err(aws("sts", "AssumeRole"));
    c.expect_denied(
        "probe-other-principal",
        &format!(
            "another principal of the consumer account ({}) assumes {}",
            target.consumer_arn, storage_role.name
        ),
        got(other, |_| "temporary credentials".into()),
        "the trust policy admits only the instance role (aws:PrincipalArn)",
        "the trust policy trusts the whole consumer account: any principal there with sts:AssumeRole gets the role (switch pin_trust_to_principal)",
    );

    Ok(VerifyReport {
        checks: c.0,
        elapsed: started.elapsed(),
    })
}

async fn anonymous_get(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<String, DeployError> {
    get(s3, bucket, TEST_KEY).await
}

fn clone_err(e: &DeployError) -> DeployError {
    match e {
        DeployError::Aws {
            service,
            operation,
            code,
            message,
        } => DeployError::Aws {
            service,
            operation,
            code: code.clone(),
            message: message.clone(),
        },
        other => DeployError::Config(other.to_string()),
    }
}

/// Clients for the instance side from an instance's metadata service and endpoints (the
/// local endpoint's `network.json`): what `airlock exec` gives a command on the instance.
pub fn instance_from_imds(
    imds_endpoint: &str,
    region: &str,
    sts_endpoint: &str,
    s3_endpoint: Option<String>,
    s3_http_endpoint: Option<String>,
    options: ClientOptions,
) -> Result<InstanceSide, DeployError> {
    let imds = aws_config::imds::Client::builder()
        .endpoint(imds_endpoint)
        .map_err(|e| DeployError::Config(format!("metadata endpoint {imds_endpoint}: {e}")))?
        .build();
    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds)
        .build();
    let mut b = SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(sts_endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        );
    if let Some(http) = crate::connect::http_client(&options.ca_bundles)? {
        b = b.http_client(http);
    }
    Ok(InstanceSide {
        config: b.build(),
        s3_endpoint,
        s3_http_endpoint,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &'static str, status: Status) -> Check {
        Check {
            id,
            check: id.into(),
            expected: "AccessDenied".into(),
            got: "AccessDenied".into(),
            why: "because".into(),
            status,
        }
    }

    #[test]
    fn summary_and_json_count_passed_failed_and_skipped_apart() {
        let r = VerifyReport {
            checks: vec![
                check("a", Status::Passed),
                check("b", Status::Passed),
                check("c", Status::Failed),
                check("d", Status::Skipped),
            ],
            elapsed: Duration::from_millis(12),
        };
        assert_eq!(r.summary(), "2 passed, 1 failed, 1 skipped");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            (&v["passed"], &v["failed"], &v["skipped"], &v["elapsed"]),
            (
                &serde_json::json!(2),
                &serde_json::json!(1),
                &serde_json::json!(1),
                &serde_json::json!(12)
            )
        );
        assert_eq!(v["checks"][3]["status"], "skipped");
        let none = VerifyReport {
            checks: vec![check("a", Status::Passed)],
            elapsed: Duration::ZERO,
        };
        assert_eq!(none.summary(), "1 passed, 0 failed, 0 skipped");
    }
}
