//! `airlock simulate`: decide one request, or a file of named requests, against a setup document.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_policy::setup::Setup;
use airlock_policy::{
    Context, ContextValue, Decision, Evaluation, NamedPolicy, Policy, PolicyId, PolicyKind,
    Request, Resource,
};
use anyhow::{Context as _, bail};
use serde::Deserialize;

/// Arguments of `airlock simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// The setup document (JSON; see docs/setup-document.md).
    #[arg(long)]
    setup: PathBuf,
    /// The caller: a role ARN (decided as a session of it), an assumed-role, user or root ARN,
    /// an account id, a service principal such as `ec2.amazonaws.com`, or `anonymous`.
    #[arg(long, conflicts_with = "requests", requires_all = ["action", "resource"])]
    principal: Option<String>,
    /// The session name used when `--principal` is a role ARN.
    #[arg(long, default_value = "airlock-session")]
    session_name: String,
    /// The action, e.g. `s3:GetObject`.
    #[arg(long, requires = "principal")]
    action: Option<String>,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key`.
    #[arg(long, requires = "principal")]
    resource: Option<String>,
    /// The resource's account, for ARNs that carry none and resources the setup does not list.
    #[arg(long)]
    resource_account: Option<String>,
    /// A context key, `key=value`; repeat a key to give it several values.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// A session policy (JSON file) that narrows a role session; may be repeated.
    #[arg(long = "session-policy", value_name = "FILE")]
    session_policies: Vec<PathBuf>,
    /// A JSON file with one request object, or `{"requests": [...]}` with named requests and
    /// optional expected decisions (`allow`, `explicit-deny`, `implicit-deny`).
    #[arg(long, conflicts_with = "principal")]
    requests: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One request as written in a requests file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    #[serde(default)]
    name: Option<String>,
    principal: String,
    #[serde(default)]
    session_name: Option<String>,
    action: String,
    resource: String,
    #[serde(default)]
    resource_account: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    session_policies: Vec<serde_json::Value>,
    #[serde(default)]
    expect: Option<Decision>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RequestsFile {
    Many {
        #[allow(dead_code)]
        #[serde(default)]
        description: Option<String>,
        requests: Vec<RequestSpec>,
    },
    One(RequestSpec),
}

#[derive(serde::Serialize)]
struct Outcome<'a> {
    name: Option<&'a str>,
    request: &'a Request,
    decision: Decision,
    expected: Option<Decision>,
    as_expected: Option<bool>,
    explanation: &'a airlock_policy::Explanation,
    explanation_text: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.setup)
        .with_context(|| format!("reading setup document {}", args.setup.display()))?;
    let setup =
        Setup::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.setup.display()))?;

    let specs: Vec<RequestSpec> = match &args.requests {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading requests {}", path.display()))?;
            match serde_json::from_str::<RequestsFile>(&text).with_context(|| {
                format!("{}: not a request or a list of requests", path.display())
            })? {
                RequestsFile::Many { requests, .. } => requests,
                RequestsFile::One(one) => vec![one],
            }
        }
        None => {
            let (Some(principal), Some(action), Some(resource)) = (
                args.principal.clone(),
                args.action.clone(),
                args.resource.clone(),
            ) else {
                bail!("give --principal, --action and --resource, or --requests FILE");
            };
            let mut context = BTreeMap::new();
            for pair in &args.context {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("--context `{pair}`: expected KEY=VALUE");
                };
                let entry = context
                    .entry(k.to_string())
                    .or_insert(serde_json::Value::Array(vec![]));
                if let serde_json::Value::Array(values) = entry {
                    values.push(serde_json::Value::String(v.to_string()));
                }
            }
            // A key given once is single-valued.
            for value in context.values_mut() {
                if let serde_json::Value::Array(values) = value
                    && values.len() == 1
                {
                    *value = values.remove(0);
                }
            }
            let mut session_policies = Vec::new();
            for path in &args.session_policies {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading session policy {}", path.display()))?;
                session_policies.push(serde_json::Value::String(text));
            }
            vec![RequestSpec {
                name: None,
                principal,
                session_name: Some(args.session_name.clone()),
                action,
                resource,
                resource_account: args.resource_account.clone(),
                context,
                session_policies,
                expect: None,
            }]
        }
    };

    let mut results = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let label = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("request {}", i + 1));
        let (request, session) =
            build_request(&setup, spec, &args.session_name).with_context(|| label.to_string())?;
        let mut set = setup.policy_set(&request);
        set.session = session;
        let evaluation = airlock_policy::evaluate(&request, &set);
        results.push((spec, request, evaluation));
    }

    let mut failed = 0usize;
    let mut outcomes = Vec::new();
    for (spec, request, evaluation) in &results {
        let Evaluation {
            decision,
            explanation,
        } = evaluation;
        let as_expected = spec.expect.map(|e| e == *decision);
        if as_expected == Some(false) || (spec.expect.is_none() && !decision.is_allowed()) {
            failed += 1;
        }
        outcomes.push(Outcome {
            name: spec.name.as_deref(),
            request,
            decision: *decision,
            expected: spec.expect,
            as_expected,
            explanation,
            explanation_text: explanation.to_string(),
        });
    }

    if args.json {
        crate::output::JsonOutput::Simulate.print(&serde_json::json!({ "outcomes": outcomes }))?;
    } else {
        print_text(&outcomes);
    }
    let with_expectations = outcomes.iter().filter(|o| o.expected.is_some()).count();
    if with_expectations > 0 && !args.json {
        let passed = outcomes
            .iter()
            .filter(|o| o.as_expected == Some(true))
            .count();
        println!("{passed} passed, {} failed", with_expectations - passed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn build_request(
    setup: &Setup,
    spec: &RequestSpec,
    default_session: &str,
) -> anyhow::Result<(Request, Vec<NamedPolicy>)> {
    let session_name = spec.session_name.as_deref().unwrap_or(default_session);
    let principal = setup.request_principal(&spec.principal, session_name)?;
    let mut context = Context::new();
    for (key, value) in &spec.context {
        let value = match value {
            serde_json::Value::Array(items) => ContextValue::Multi(
                items
                    .iter()
                    .map(json_scalar)
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
            other => ContextValue::Single(json_scalar(other)?),
        };
        context.insert(key, value);
    }
    let account = spec
        .resource_account
        .clone()
        .or_else(|| setup.resource_account(&spec.resource));
    let mut session = Vec::new();
    for (i, value) in spec.session_policies.iter().enumerate() {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let policy = Policy::parse(&text, PolicyKind::Session)
            .map_err(|e| anyhow::anyhow!("session policy {}: {e}", i + 1))?;
        session.push(NamedPolicy {
            id: PolicyId {
                kind: PolicyKind::Session,
                name: format!("session-policy-{}", i + 1),
            },
            policy: std::sync::Arc::new(policy),
        });
    }
    Ok((
        Request {
            principal,
            action: spec.action.clone(),
            resource: Resource {
                arn: spec.resource.clone(),
                account,
            },
            context,
        },
        session,
    ))
}

fn json_scalar(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            bail!("context values are strings, numbers, booleans or arrays of them, not `{other}`")
        }
    })
}

fn decision_label(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "ALLOW",
        Decision::ExplicitDeny => "EXPLICIT DENY",
        Decision::ImplicitDeny => "IMPLICIT DENY",
    }
}

fn print_text(outcomes: &[Outcome<'_>]) {
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let verdict = match o.as_expected {
            Some(true) => "  [as expected]".to_string(),
            Some(false) => format!(
                "  [EXPECTED {}]",
                decision_label(o.expected.unwrap_or(Decision::Allow))
            ),
            None => String::new(),
        };
        if let Some(name) = o.name {
            println!("== {name}");
        }
        println!("{}{verdict}", decision_label(o.decision));
        println!("  principal: {}", principal_label(&o.request.principal));
        println!("  action:    {}", o.request.action);
        println!("  resource:  {}", o.request.resource.arn);
        for line in o.explanation_text.lines() {
            println!("  {line}");
        }
    }
}

fn principal_label(p: &airlock_policy::Principal) -> String {
    match p {
        airlock_policy::Principal::Service { name } => name.clone(),
        airlock_policy::Principal::Federated { provider } => format!("federated: {provider}"),
        other => other.arn().unwrap_or_else(|| "anonymous".to_string()),
    }
}
