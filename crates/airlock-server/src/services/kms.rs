//! KMS over AWS's JSON 1.1 protocol: `POST /` with `X-Amz-Target: TrentService.<Operation>`,
//! `Content-Type: application/x-amz-json-1.1`, blobs in base64, timestamps in epoch seconds,
//! errors as `{"__type": CODE, "message": MESSAGE}`.
//!
//! The operations themselves, their validation and their authorization live in
//! [`airlock_kms::Kms`]: KMS authorizes inside the operation (the key of a `Decrypt` is known
//! only from the ciphertext, and S3 calls the same methods in-process), so prepared calls carry
//! no pipeline checks; a denial comes back as an [`AwsError`] with a [`Denial`], which the
//! pipeline records with the engine's explanation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_kms::{
    Caller as KmsCaller, CreateKeyInput, DecryptInput, EncryptInput, EncryptionContext,
    GenerateDataKeyInput, KeyMetadata, Kms, KmsError, Page, ReEncryptInput, Tag,
};
use airlock_policy::{Context, PolicySet};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::authz::add_global_context;
use crate::error::{AwsError, Denial};
use crate::service::{Call, Params, Prepared, Protocol, Reply, Service};

const JSON: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "TrentService.";

/// The KMS service: one [`Kms`] per region, opened when a request first names the region.
pub struct KmsService {
    home: Arc<Kms>,
    regions: Mutex<HashMap<String, Arc<Kms>>>,
}

impl std::fmt::Debug for KmsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsService").finish_non_exhaustive()
    }
}

impl KmsService {
    /// KMS over the domain service of the server's default region.
    pub fn new(kms: Arc<Kms>) -> Self {
        KmsService {
            home: kms,
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The KMS of `region`: what S3 calls in-process for SSE-KMS, with
    /// [`kms_caller`]`(call).via_service("s3.REGION.amazonaws.com")` as the caller.
    pub fn kms(&self, region: &str) -> Result<Arc<Kms>, AwsError> {
        if region == self.home.region() {
            return Ok(self.home.clone());
        }
        let valid = !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(AwsError::new(
                400,
                "ValidationException",
                format!("{region} is not a region"),
            ));
        }
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = regions.get(region) {
            return Ok(k.clone());
        }
        let kms = Arc::new(self.home.open_region(region).map_err(|e| {
            tracing::error!(target: "airlock::kms", region, error = %e, "cannot open KMS region");
            AwsError::new(
                500,
                "KMSInternalException",
                "The KMS state of this region could not be loaded.",
            )
        })?);
        regions.insert(region.to_string(), kms.clone());
        Ok(kms)
    }

    /// Deletes keys whose deletion window ended and rotates keys that are due, in every open
    /// region; the server calls this periodically.
    pub fn run_maintenance(&self) {
        let mut all = vec![self.home.clone()];
        all.extend(
            self.regions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned(),
        );
        for kms in all {
            match kms.run_maintenance() {
                Ok(done) => {
                    for arn in &done.deleted_keys {
                        tracing::info!(target: "airlock::kms", key = %arn, "deleted key at the end of its deletion window");
                    }
                    for arn in &done.rotated_keys {
                        tracing::info!(target: "airlock::kms", key = %arn, "rotated key material (automatic rotation)");
                    }
                }
                Err(e) => {
                    tracing::error!(target: "airlock::kms", error = %e, "KMS maintenance failed")
                }
            }
        }
    }
}

fn target(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

/// Every operation of the KMS API, for telling "not implemented here" from "no such operation".
const ALL_OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

impl Service for KmsService {
    fn signing_name(&self) -> &'static str {
        "kms"
    }

    fn protocol(&self) -> Protocol {
        Protocol::Json
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        _params: &Params,
        headers: &http::HeaderMap,
    ) -> bool {
        target(headers).is_some_and(|t| t.starts_with(TARGET_PREFIX))
    }

    fn operation_name(&self, _params: &Params, headers: &http::HeaderMap) -> Option<String> {
        target(headers)
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .map(str::to_string)
    }

    /// The key of the call: from the reply (`KeyId`, `KeyMetadata.Arn`) or the request.
    fn audit_resources(
        &self,
        _operation: &str,
        request: Option<&Value>,
        reply_body: Option<&[u8]>,
    ) -> Vec<crate::record::RecordResource> {
        let reply: Option<Value> = reply_body.and_then(|b| serde_json::from_slice(b).ok());
        let from_reply = reply.as_ref().and_then(|r| {
            r.get("KeyId")
                .or_else(|| r.get("KeyMetadata").and_then(|m| m.get("Arn")))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let from_request = request
            .and_then(|r| r.get("keyId").or_else(|| r.get("destinationKeyId")))
            .and_then(Value::as_str)
            .filter(|k| k.starts_with("arn:"))
            .map(str::to_string);
        match from_reply.or(from_request) {
            Some(arn) if arn.contains(":key/") => {
                crate::audit::resources_of(&arn, crate::audit::arn_account(&arn))
            }
            _ => Vec::new(),
        }
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        let op = match target(&call.headers).and_then(|t| t.strip_prefix(TARGET_PREFIX)) {
            Some(op) if !op.is_empty() => op.to_string(),
            _ => return Err(AwsError::new(400, "UnknownOperationException", "")),
        };
        if call.method != http::Method::POST {
            return Err(AwsError::new(400, "UnknownOperationException", ""));
        }
        let body = Body::parse(&call.body)?;
        let kms = self.kms(&call.region)?;
        let request = parse_request(&op, &body)?;
        let run = move |call: Call| {
            let caller = kms_caller(&call);
            match execute(&kms, &caller, request) {
                Ok(value) => Ok(reply(value)),
                Err(e) => Err(to_aws(e, &call.request_id)),
            }
        };
        if request_commits(&op) {
            // A durable commit may block on fsync.
            Ok(Prepared::sync(&op, Vec::new(), run))
        } else {
            // Cryptography and reads are served from memory: run on the worker.
            Ok(Prepared {
                operation: op,
                checks: Vec::new(),
                run: Box::new(move |call| Box::pin(async move { run(call) })),
            })
        }
    }
}

/// Operations that write the store (the others never block).
fn request_commits(op: &str) -> bool {
    !matches!(
        op,
        "DescribeKey"
            | "ListKeys"
            | "GetKeyPolicy"
            | "ListKeyPolicies"
            | "ListAliases"
            | "ListResourceTags"
            | "GetKeyRotationStatus"
            | "ListKeyRotations"
            | "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateRandom"
    )
}

/// The KMS caller of an authenticated call: its principal and identity side, and the
/// request's global condition keys. S3 uses it (with [`KmsCaller::via_service`]) for the KMS
/// calls it makes on the caller's behalf.
pub fn kms_caller(call: &Call) -> KmsCaller {
    let c = &call.caller;
    let mut context = Context::new();
    add_global_context(call, &mut context);
    KmsCaller::new(
        c.principal.clone(),
        PolicySet {
            identity: c.identity.clone(),
            boundary: c.boundary.clone(),
            session: c.session_policies.clone(),
            ..PolicySet::default()
        },
        context,
    )
}

fn reply(value: Option<Value>) -> Reply {
    match value {
        Some(v) => Reply::new(200, JSON, v.to_string().into_bytes()),
        None => Reply::new(200, JSON, Vec::new()),
    }
}

/// The denial inside a KMS error, for the pipeline's record (services that call KMS in-process
/// attach it to their own error with [`AwsError::with_denial`]).
pub fn denial_of(e: &KmsError) -> Option<Denial> {
    match e {
        KmsError::AccessDenied {
            action,
            resource,
            evaluation: Some(ev),
            ..
        } => Some(Denial {
            action: action.clone(),
            resource: resource.clone(),
            explanation: ev.explanation.clone(),
        }),
        _ => None,
    }
}

/// A KMS error on the wire. Denials carry the engine's explanation for the pipeline's record;
/// the reason of an `InvalidCiphertextException` (which AWS sends without a message) goes to
/// the log.
fn to_aws(e: KmsError, request_id: &str) -> AwsError {
    let status = e.http_status();
    let code = e.code();
    if let KmsError::InvalidCiphertext { reason } = &e {
        tracing::info!(target: "airlock::kms", request_id, reason = %reason, "InvalidCiphertextException");
    }
    if let KmsError::Internal(m) = &e {
        tracing::error!(target: "airlock::kms", request_id, error = %m, "KMS internal error");
    }
    let message = e.message().unwrap_or_default();
    let err = AwsError::new(status, code, message);
    match denial_of(&e) {
        Some(d) => err.with_denial(d),
        None => err,
    }
}

// ------------------------------------------------------------------------------- request body

fn serialization(message: impl Into<String>) -> AwsError {
    AwsError::new(400, "SerializationException", message)
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// The JSON request body, with typed accessors that answer AWS's errors for wrong types
/// (`SerializationException`) and missing members (`ValidationException`).
struct Body(Map<String, Value>);

impl Body {
    fn parse(bytes: &[u8]) -> Result<Body, AwsError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(Body(m)),
            Ok(_) => Err(serialization("The request body must be a JSON object")),
            Err(e) => Err(serialization(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn str(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(serialization(format!("{name} must be a string"))),
        }
    }

    fn required(&self, name: &str) -> Result<String, AwsError> {
        let field = lower_first(name);
        match self.str(name)? {
            None => Err(AwsError::new(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
                ),
            )),
            Some(s) if s.is_empty() => Err(AwsError::new(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 1"
                ),
            )),
            Some(s) => Ok(s),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, AwsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| serialization(format!("{name} must be an integer"))),
            Some(_) => Err(serialization(format!("{name} must be an integer"))),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, AwsError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(serialization(format!("{name} must be a boolean"))),
        }
    }

    fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, AwsError> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|_| serialization(format!("{name} is not valid base64"))),
        }
    }

    fn required_blob(&self, name: &str) -> Result<Vec<u8>, AwsError> {
        self.blob(name)?.ok_or_else(|| {
            AwsError::new(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    lower_first(name)
                ),
            )
        })
    }

    fn context(&self, name: &str) -> Result<EncryptionContext, AwsError> {
        match self.get(name) {
            None => Ok(EncryptionContext::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(serialization(format!("{name} values must be strings"))),
                })
                .collect(),
            Some(_) => Err(serialization(format!("{name} must be a map of strings"))),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, AwsError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(serialization(format!("{name} must be a list of strings"))),
                })
                .collect(),
            Some(_) => Err(serialization(format!("{name} must be a list of strings"))),
        }
    }

    fn tags(&self, name: &str) -> Result<Vec<Tag>, AwsError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    let key = t.get("TagKey").and_then(Value::as_str);
                    let value = t.get("TagValue").and_then(Value::as_str);
                    match (key, value) {
                        (Some(k), Some(v)) => Ok(Tag {
                            key: k.to_string(),
                            value: v.to_string(),
                        }),
                        _ => Err(AwsError::new(
                            400,
                            "ValidationException",
                            format!("Each of {name} needs a string TagKey and TagValue"),
                        )),
                    }
                })
                .collect(),
            Some(_) => Err(serialization(format!("{name} must be a list of tags"))),
        }
    }
}

// ------------------------------------------------------------------------------- operations

/// A parsed request, ready to run.
enum Request {
    CreateKey(CreateKeyInput),
    DescribeKey(String),
    ListKeys(Option<i64>, Option<String>),
    UpdateKeyDescription(String, String),
    EnableKey(String),
    DisableKey(String),
    ScheduleKeyDeletion(String, Option<i64>),
    CancelKeyDeletion(String),
    GetKeyPolicy(String, Option<String>),
    PutKeyPolicy {
        key_id: String,
        policy_name: Option<String>,
        policy: String,
        bypass: bool,
    },
    ListKeyPolicies(String),
    CreateAlias(String, String),
    UpdateAlias(String, String),
    DeleteAlias(String),
    ListAliases(Option<String>, Option<i64>, Option<String>),
    TagResource(String, Vec<Tag>),
    UntagResource(String, Vec<String>),
    ListResourceTags(String, Option<i64>, Option<String>),
    EnableKeyRotation(String, Option<i64>),
    DisableKeyRotation(String),
    GetKeyRotationStatus(String),
    RotateKeyOnDemand(String),
    ListKeyRotations(String, Option<i64>, Option<String>),
    Encrypt(EncryptInput),
    Decrypt(DecryptInput),
    ReEncrypt(ReEncryptInput),
    GenerateDataKey(GenerateDataKeyInput),
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyInput),
    GenerateRandom(Option<i64>),
}

fn data_key_input(b: &Body) -> Result<GenerateDataKeyInput, AwsError> {
    Ok(GenerateDataKeyInput {
        key_id: b.required("KeyId")?,
        encryption_context: b.context("EncryptionContext")?,
        key_spec: b.str("KeySpec")?,
        number_of_bytes: b.int("NumberOfBytes")?,
    })
}

fn parse_request(op: &str, b: &Body) -> Result<Request, AwsError> {
    let key = || b.required("KeyId");
    Ok(match op {
        "CreateKey" => Request::CreateKey(CreateKeyInput {
            policy: b.str("Policy")?,
            description: b.str("Description")?,
            key_usage: b.str("KeyUsage")?,
            key_spec: b.str("KeySpec")?,
            customer_master_key_spec: b.str("CustomerMasterKeySpec")?,
            origin: b.str("Origin")?,
            multi_region: b
                .get("MultiRegion")
                .map(|_| b.bool("MultiRegion"))
                .transpose()?,
            bypass_policy_lockout_safety_check: b.bool("BypassPolicyLockoutSafetyCheck")?,
            tags: b.tags("Tags")?,
        }),
        "DescribeKey" => Request::DescribeKey(key()?),
        "ListKeys" => Request::ListKeys(b.int("Limit")?, b.str("Marker")?),
        "UpdateKeyDescription" => {
            Request::UpdateKeyDescription(key()?, b.str("Description")?.unwrap_or_default())
        }
        "EnableKey" => Request::EnableKey(key()?),
        "DisableKey" => Request::DisableKey(key()?),
        "ScheduleKeyDeletion" => {
            Request::ScheduleKeyDeletion(key()?, b.int("PendingWindowInDays")?)
        }
        "CancelKeyDeletion" => Request::CancelKeyDeletion(key()?),
        "GetKeyPolicy" => Request::GetKeyPolicy(key()?, b.str("PolicyName")?),
        "PutKeyPolicy" => Request::PutKeyPolicy {
            key_id: key()?,
            policy_name: b.str("PolicyName")?,
            policy: b.required("Policy")?,
            bypass: b.bool("BypassPolicyLockoutSafetyCheck")?,
        },
        "ListKeyPolicies" => Request::ListKeyPolicies(key()?),
        "CreateAlias" => Request::CreateAlias(b.required("AliasName")?, b.required("TargetKeyId")?),
        "UpdateAlias" => Request::UpdateAlias(b.required("AliasName")?, b.required("TargetKeyId")?),
        "DeleteAlias" => Request::DeleteAlias(b.required("AliasName")?),
        "ListAliases" => Request::ListAliases(b.str("KeyId")?, b.int("Limit")?, b.str("Marker")?),
        "TagResource" => Request::TagResource(key()?, b.tags("Tags")?),
        "UntagResource" => Request::UntagResource(key()?, b.strings("TagKeys")?),
        "ListResourceTags" => Request::ListResourceTags(key()?, b.int("Limit")?, b.str("Marker")?),
        "EnableKeyRotation" => Request::EnableKeyRotation(key()?, b.int("RotationPeriodInDays")?),
        "DisableKeyRotation" => Request::DisableKeyRotation(key()?),
        "GetKeyRotationStatus" => Request::GetKeyRotationStatus(key()?),
        "RotateKeyOnDemand" => Request::RotateKeyOnDemand(key()?),
        "ListKeyRotations" => Request::ListKeyRotations(key()?, b.int("Limit")?, b.str("Marker")?),
        "Encrypt" => Request::Encrypt(EncryptInput {
            key_id: key()?,
            plaintext: Zeroizing::new(b.required_blob("Plaintext")?),
            encryption_context: b.context("EncryptionContext")?,
            encryption_algorithm: b.str("EncryptionAlgorithm")?,
        }),
        "Decrypt" => Request::Decrypt(DecryptInput {
            ciphertext_blob: b.required_blob("CiphertextBlob")?,
            encryption_context: b.context("EncryptionContext")?,
            key_id: b.str("KeyId")?,
            encryption_algorithm: b.str("EncryptionAlgorithm")?,
        }),
        "ReEncrypt" => Request::ReEncrypt(ReEncryptInput {
            ciphertext_blob: b.required_blob("CiphertextBlob")?,
            source_encryption_context: b.context("SourceEncryptionContext")?,
            source_key_id: b.str("SourceKeyId")?,
            destination_key_id: b.required("DestinationKeyId")?,
            destination_encryption_context: b.context("DestinationEncryptionContext")?,
            source_encryption_algorithm: b.str("SourceEncryptionAlgorithm")?,
            destination_encryption_algorithm: b.str("DestinationEncryptionAlgorithm")?,
        }),
        "GenerateDataKey" => Request::GenerateDataKey(data_key_input(b)?),
        "GenerateDataKeyWithoutPlaintext" => {
            Request::GenerateDataKeyWithoutPlaintext(data_key_input(b)?)
        }
        "GenerateRandom" => Request::GenerateRandom(b.int("NumberOfBytes")?),
        other if ALL_OPERATIONS.contains(&other) => {
            return Err(AwsError::new(
                400,
                "UnsupportedOperationException",
                format!("airlock does not implement the KMS operation {other}"),
            ));
        }
        _ => return Err(AwsError::new(400, "UnknownOperationException", "")),
    })
}

fn secs(millis: i64) -> Value {
    json!(millis as f64 / 1000.0)
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn metadata(m: &KeyMetadata) -> Value {
    let mut v = json!({
        "AWSAccountId": m.account,
        "KeyId": m.key_id,
        "Arn": m.arn,
        "CreationDate": secs(m.creation_date),
        "Enabled": m.enabled,
        "Description": m.description,
        "KeyUsage": m.key_usage,
        "KeyState": m.key_state.as_str(),
        "Origin": m.origin,
        "KeyManager": m.key_manager,
        "CustomerMasterKeySpec": m.key_spec,
        "KeySpec": m.key_spec,
        "EncryptionAlgorithms": m.encryption_algorithms,
        "MultiRegion": false,
    });
    if let (Some(d), Some(obj)) = (m.deletion_date, v.as_object_mut()) {
        obj.insert("DeletionDate".into(), secs(d));
    }
    v
}

fn page<T>(p: Page<T>, field: &str, item: impl Fn(&T) -> Value) -> Value {
    let mut out = Map::new();
    out.insert(
        field.into(),
        Value::Array(p.items.iter().map(item).collect()),
    );
    out.insert("Truncated".into(), Value::Bool(p.next_marker.is_some()));
    if let Some(m) = p.next_marker {
        out.insert("NextMarker".into(), Value::String(m));
    }
    Value::Object(out)
}

/// Runs a request; `Ok(None)` for operations that answer an empty body.
fn execute(kms: &Kms, c: &KmsCaller, req: Request) -> Result<Option<Value>, KmsError> {
    let some = |v: Value| Ok(Some(v));
    match req {
        Request::CreateKey(input) => {
            some(json!({ "KeyMetadata": metadata(&kms.create_key(c, input)?) }))
        }
        Request::DescribeKey(k) => {
            some(json!({ "KeyMetadata": metadata(&kms.describe_key(c, &k)?) }))
        }
        Request::ListKeys(limit, marker) => some(page(
            kms.list_keys(c, limit, marker.as_deref())?,
            "Keys",
            |k| json!({ "KeyId": k.key_id, "KeyArn": k.key_arn }),
        )),
        Request::UpdateKeyDescription(k, d) => kms.update_key_description(c, &k, &d).map(|()| None),
        Request::EnableKey(k) => kms.enable_key(c, &k).map(|()| None),
        Request::DisableKey(k) => kms.disable_key(c, &k).map(|()| None),
        Request::ScheduleKeyDeletion(k, days) => {
            let s = kms.schedule_key_deletion(c, &k, days)?;
            some(json!({
                "KeyId": s.key_arn,
                "DeletionDate": secs(s.deletion_date),
                "KeyState": "PendingDeletion",
                "PendingWindowInDays": s.pending_window_days,
            }))
        }
        Request::CancelKeyDeletion(k) => some(json!({ "KeyId": kms.cancel_key_deletion(c, &k)? })),
        Request::GetKeyPolicy(k, name) => {
            let policy = kms.get_key_policy(c, &k, name.as_deref())?;
            some(json!({ "Policy": policy, "PolicyName": "default" }))
        }
        Request::PutKeyPolicy {
            key_id,
            policy_name,
            policy,
            bypass,
        } => kms
            .put_key_policy(c, &key_id, policy_name.as_deref(), &policy, bypass)
            .map(|()| None),
        Request::ListKeyPolicies(k) => {
            some(json!({ "PolicyNames": kms.list_key_policies(c, &k)?, "Truncated": false }))
        }
        Request::CreateAlias(name, target) => kms.create_alias(c, &name, &target).map(|()| None),
        Request::UpdateAlias(name, target) => kms.update_alias(c, &name, &target).map(|()| None),
        Request::DeleteAlias(name) => kms.delete_alias(c, &name).map(|()| None),
        Request::ListAliases(k, limit, marker) => some(page(
            kms.list_aliases(c, k.as_deref(), limit, marker.as_deref())?,
            "Aliases",
            |a| {
                json!({
                    "AliasName": a.alias_name,
                    "AliasArn": a.alias_arn,
                    "TargetKeyId": a.target_key_id,
                    "CreationDate": secs(a.creation_date),
                    "LastUpdatedDate": secs(a.last_updated_date),
                })
            },
        )),
        Request::TagResource(k, tags) => kms.tag_resource(c, &k, tags).map(|()| None),
        Request::UntagResource(k, keys) => kms.untag_resource(c, &k, keys).map(|()| None),
        Request::ListResourceTags(k, limit, marker) => some(page(
            kms.list_resource_tags(c, &k, limit, marker.as_deref())?,
            "Tags",
            |t| json!({ "TagKey": t.key, "TagValue": t.value }),
        )),
        Request::EnableKeyRotation(k, days) => kms.enable_key_rotation(c, &k, days).map(|()| None),
        Request::DisableKeyRotation(k) => kms.disable_key_rotation(c, &k).map(|()| None),
        Request::GetKeyRotationStatus(k) => {
            let s = kms.get_key_rotation_status(c, &k)?;
            let mut v = json!({ "KeyRotationEnabled": s.enabled, "KeyId": s.key_arn });
            if let Some(obj) = v.as_object_mut() {
                if let Some(p) = s.period_days {
                    obj.insert("RotationPeriodInDays".into(), json!(p));
                }
                if let Some(d) = s.next_rotation_date {
                    obj.insert("NextRotationDate".into(), secs(d));
                }
            }
            some(v)
        }
        Request::RotateKeyOnDemand(k) => some(json!({ "KeyId": kms.rotate_key_on_demand(c, &k)? })),
        Request::ListKeyRotations(k, limit, marker) => some(page(
            kms.list_key_rotations(c, &k, limit, marker.as_deref())?,
            "Rotations",
            |r| {
                json!({
                    "KeyId": r.key_id,
                    "RotationDate": secs(r.rotation_date),
                    "RotationType": r.rotation_type.as_str(),
                })
            },
        )),
        Request::Encrypt(input) => {
            let out = kms.encrypt(c, &input)?;
            some(json!({
                "CiphertextBlob": b64(&out.ciphertext_blob),
                "KeyId": out.key_arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        Request::Decrypt(input) => {
            let out = kms.decrypt(c, &input)?;
            some(json!({
                "KeyId": out.key_arn,
                "Plaintext": b64(&out.plaintext),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        Request::ReEncrypt(input) => {
            let out = kms.re_encrypt(c, &input)?;
            some(json!({
                "CiphertextBlob": b64(&out.ciphertext_blob),
                "SourceKeyId": out.source_key_arn,
                "KeyId": out.key_arn,
                "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            }))
        }
        Request::GenerateDataKey(input) => {
            let out = kms.generate_data_key(c, &input)?;
            some(json!({
                "CiphertextBlob": b64(&out.ciphertext_blob),
                "Plaintext": b64(out.plaintext.as_deref().map(Vec::as_slice).unwrap_or_default()),
                "KeyId": out.key_arn,
            }))
        }
        Request::GenerateDataKeyWithoutPlaintext(input) => {
            let out = kms.generate_data_key_without_plaintext(c, &input)?;
            some(json!({ "CiphertextBlob": b64(&out.ciphertext_blob), "KeyId": out.key_arn }))
        }
        Request::GenerateRandom(n) => {
            some(json!({ "Plaintext": b64(&kms.generate_random(c, n)?) }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPS: &[&str] = &[
        "CreateKey",
        "DescribeKey",
        "ListKeys",
        "PutKeyPolicy",
        "CreateAlias",
        "ListAliases",
        "TagResource",
        "UntagResource",
        "EnableKeyRotation",
        "ScheduleKeyDeletion",
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "CreateGrant",
        "Bogus",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
            "[A-Za-z0-9+/]{0,24}={0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("KeyId".to_string()),
                        Just("Plaintext".to_string()),
                        Just("CiphertextBlob".to_string()),
                        Just("EncryptionContext".to_string()),
                        Just("Tags".to_string()),
                        Just("NumberOfBytes".to_string()),
                        Just("TagKey".to_string()),
                        "[A-Za-z]{1,8}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any body, JSON or not, is parsed or refused with an AWS error; never a panic.
        #[test]
        fn request_parsing_never_panics(op in proptest::sample::select(OPS), body in json_value(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(b) = Body::parse(body.to_string().as_bytes()) {
                let _ = parse_request(op, &b);
            }
            if let Ok(b) = Body::parse(&raw) {
                let _ = parse_request(op, &b);
            }
        }
    }

    #[test]
    fn wrong_types_are_serialization_errors_and_missing_members_validation_errors() {
        let b = Body::parse(br#"{"KeyId": 12}"#).unwrap();
        assert_eq!(
            parse_request("DescribeKey", &b).err().unwrap().code,
            "SerializationException"
        );
        let b = Body::parse(b"{}").unwrap();
        let e = parse_request("Encrypt", &b).err().unwrap();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("'keyId'"), "{}", e.message);
        let b = Body::parse(br#"{"KeyId": "k", "Plaintext": "%%%"}"#).unwrap();
        assert_eq!(
            parse_request("Encrypt", &b).err().unwrap().code,
            "SerializationException"
        );
        assert_eq!(
            Body::parse(b"[]").err().unwrap().code,
            "SerializationException"
        );
        assert!(Body::parse(b"  ").is_ok());
    }
}
