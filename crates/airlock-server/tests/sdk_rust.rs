//! aws-sdk-rust (the blueprint issue's client) against the endpoint over TLS with the local CA:
//! GetCallerIdentity, cross-account AssumeRole with ExternalId and a session policy, and the
//! session's own identity and narrowed permissions.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use common::*;

fn client(s: &TestServer, creds: Credentials) -> aws_sdk_sts::Client {
    let ca = std::fs::read(&s.info.ca_bundle).unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(ca),
                )
                .build()
                .unwrap(),
        )
        .build_https();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&s.info.https_endpoint)
        .http_client(http)
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn admin(s: &TestServer, alias: &str) -> Credentials {
    let text = std::fs::read_to_string(&s.info.aws_shared_credentials_file).unwrap();
    let section = text.split(&format!("[{alias}]")).nth(1).unwrap();
    let value = |k: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .trim()
            .to_string()
    };
    Credentials::new(
        value("aws_access_key_id"),
        value("aws_secret_access_key"),
        None,
        None,
        "test",
    )
}

#[test]
fn sdk_rust_assumes_a_cross_account_role_over_tls() {
    let s = TestServer::start();
    // B's role trusts account A, but only with the agreed external id.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"partner-42"}}}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "create-role",
        "--role-name",
        "Partner",
        "--assume-role-policy-document",
        trust,
    ]));
    let allow_iam_reads = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"*"}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "put-role-policy",
        "--role-name",
        "Partner",
        "--policy-name",
        "Reads",
        "--policy-document",
        allow_iam_reads,
    ]));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = client(&s, admin(&s, "account-a"));
        let me = a.get_caller_identity().send().await.unwrap();
        assert_eq!(me.account(), Some(A));
        assert_eq!(me.arn(), Some("arn:aws:iam::111111111111:user/admin"));

        // Without the external id the trust policy does not match.
        let err = a
            .assume_role()
            .role_arn("arn:aws:iam::222222222222:role/Partner")
            .role_session_name("sdk")
            .send()
            .await
            .unwrap_err();
        let err = err.into_service_error();
        assert_eq!(aws_sdk_sts::error::ProvideErrorMetadata::code(&err), Some("AccessDenied"));

        // With it, and with a session policy that keeps only iam:GetRole.
        let out = a
            .assume_role()
            .role_arn("arn:aws:iam::222222222222:role/Partner")
            .role_session_name("sdk")
            .external_id("partner-42")
            .duration_seconds(900)
            .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(out.assumed_role_user().unwrap().arn(), "arn:aws:sts::222222222222:assumed-role/Partner/sdk");
        let c = out.credentials().unwrap();
        let session = client(
            &s,
            Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "session"),
        );
        let who = session.get_caller_identity().send().await.unwrap();
        assert_eq!(who.arn(), Some("arn:aws:sts::222222222222:assumed-role/Partner/sdk"));
        assert_eq!(who.account(), Some(B));
        assert!(who.user_id().unwrap().ends_with(":sdk"));

        // The session policy narrows the role: GetRole yes, ListRoles no (the AWS CLI checks).
        let env = [
            ("AWS_ACCESS_KEY_ID", c.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key()),
            ("AWS_SESSION_TOKEN", c.session_token()),
        ];
        ok_json(&s.aws_env(&["iam", "get-role", "--role-name", "Partner"], &env));
        let err = failed(&s.aws_env(&["iam", "list-roles"], &env));
        assert!(err.contains("because no session policy allows the iam:ListRoles action"), "{err}");

        // Role chaining: the session may assume again only for at most one hour.
        let err = session
            .assume_role()
            .role_arn("arn:aws:iam::222222222222:role/Partner")
            .role_session_name("chained")
            .external_id("partner-42")
            .duration_seconds(7200)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(aws_sdk_sts::error::ProvideErrorMetadata::code(&err), Some("ValidationError"));
    });
}
