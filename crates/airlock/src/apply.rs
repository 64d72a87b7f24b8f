//! `airlock apply BLUEPRINT --storage-profile P --consumer-profile Q [--adopt NAME]...`:
//! creates everything the blueprint plans, in dependency order, records it in
//! `BLUEPRINT.state.json`, and corrects drift; refuses, changing nothing, when a resource with
//! one of the blueprint's names exists that this deployment did not create (unless `--adopt`
//! names it). Also the pieces `verify`, `destroy` and `demo` share: loading the plan, the two
//! accounts' clients, the local endpoint's routes, progress lines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use airlock_blueprint::{Plan, Profile};
use airlock_deploy::connect::{AccountClients, ClientOptions, load_profile};
use airlock_deploy::target::{EndpointResolver, EndpointUrls, Target};
use airlock_deploy::{ApplyReport, Outcome, StepReport};
use anyhow::Context as _;

/// Options shared by apply, verify and destroy.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// The blueprint (TOML). Its state file is `BLUEPRINT.state.json` beside it.
    pub blueprint: PathBuf,
    /// AWS profile of the storage account (bucket, key, storage role).
    #[arg(long, env = "AIRLOCK_STORAGE_PROFILE")]
    pub storage_profile: String,
    /// AWS profile of the consumer account (instance role, VPC, endpoint, instance).
    #[arg(long, env = "AIRLOCK_CONSUMER_PROFILE")]
    pub consumer_profile: String,
    /// `--hardening hardened|as-written` (default: the blueprint's profile).
    #[command(flatten)]
    pub hardening: crate::plan::Hardening,
    /// Extra CA certificate (PEM) to trust, besides the system roots and the profiles'
    /// `ca_bundle`; repeatable.
    #[arg(long)]
    pub ca_bundle: Vec<PathBuf>,
    /// Data directory of a local `airlock serve`: verify reaches the instance side through its
    /// `network.json` (metadata service, VPC endpoint listeners), and bucket management goes
    /// through the VPC endpoint once the bucket policy admits nothing else.
    #[arg(long, env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `airlock apply` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Take over an existing resource this deployment did not create: the key's alias, the
    /// bucket, a role or an instance profile of the blueprint (repeatable). Apply marks it
    /// adopted and changes it to match the blueprint; destroy gives it back as it found it.
    #[arg(long, value_name = "NAME")]
    pub adopt: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Loads the blueprint's plan: TOML through `airlock-blueprint`, or a plan JSON file (as
/// `airlock plan --json` prints it).
pub fn load_plan(path: &Path, profile: Option<Profile>) -> anyhow::Result<Plan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a plan", path.display()))?;
        if let Some(p) = profile
            && p != plan.profile
        {
            anyhow::bail!(
                "{} was planned with profile {}, not {p}",
                path.display(),
                plan.profile
            );
        }
        return Ok(plan);
    }
    Plan::from_toml(&text, profile).with_context(|| format!("loading {}", path.display()))
}

/// The local endpoint's VPC endpoint listeners, read from `network.json` at each lookup.
pub fn local_resolver(data_dir: &Path) -> EndpointResolver {
    let data = airlock_server::DataDir::new(data_dir);
    Arc::new(move |id: &str| {
        let routes = airlock_server::network::NetworkRoutes::read(&data).ok()?;
        routes.vpc_endpoints.get(id).map(|e| EndpointUrls {
            https: e.https.clone(),
            http: e.http.clone(),
        })
    })
}

/// Both accounts' clients from the named profiles.
pub async fn target_from_profiles(c: &Common) -> anyhow::Result<Target> {
    // A local endpoint that crashed left its server.json: say so before the SDK reports a
    // connection error.
    if let Some(dir) = &c.data_dir {
        let data = airlock_server::DataDir::new(dir);
        if let airlock_server::ServerState::Gone(_) = data.server_state()? {
            data.running_server()?;
        }
    }
    let opts = ClientOptions {
        ca_bundles: c.ca_bundle.clone(),
        record: None,
    };
    let storage = load_profile(&c.storage_profile, &opts)
        .await
        .with_context(|| format!("profile {}", c.storage_profile))?;
    let consumer = load_profile(&c.consumer_profile, &opts)
        .await
        .with_context(|| format!("profile {}", c.consumer_profile))?;
    let resolver = c.data_dir.as_deref().map(local_resolver);
    Target::connect(
        AccountClients::new(&storage, &opts),
        AccountClients::new(&consumer, &opts),
        resolver,
    )
    .await
    .context("identifying the storage and consumer callers (sts get-caller-identity)")
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// One progress line per step: mark, step, account, what, changes, time; a long `what` wraps
/// onto continuation lines within the terminal's width.
pub fn print_step(s: &StepReport) {
    print!("{}", step_lines(s, crate::output::terminal_width()));
}

/// The lines of [`print_step`] within `width` columns.
fn step_lines(s: &StepReport, width: usize) -> String {
    let (mark, word) = match s.outcome {
        Outcome::Created => ("✓", "created"),
        Outcome::Corrected => ("✓", "corrected"),
        Outcome::Unchanged => ("✓", "unchanged"),
    };
    let lead = format!("  {mark} Step {}  {:<12}  ", s.number, s.account);
    let indent = " ".repeat(lead.chars().count());
    // after `what`: " {word:>9} {ms:>6} ms"
    let w = width.saturating_sub(lead.chars().count() + 20).max(20);
    let what = airlock_prove::report::wrap(&s.what, w);
    let mut out = String::new();
    for (i, part) in what.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!(
                "{lead}{part:<w$} {word:>9} {:>6} ms\n",
                s.elapsed.as_millis()
            ));
        } else {
            out.push_str(&format!("{indent}{part}\n"));
        }
    }
    for c in &s.changes {
        if s.outcome == Outcome::Corrected {
            out.push_str(&format!("        drift: {c}\n"));
        } else {
            out.push_str(&format!("        {c}\n"));
        }
    }
    out
}

/// The summary line of an apply.
pub fn print_summary(r: &ApplyReport, elapsed: std::time::Duration) {
    let drift = r.drift().len();
    if r.changed() == 0 {
        println!(
            "apply: 0 changed: everything is as planned ({} steps checked, {} ms)",
            r.steps.len(),
            elapsed.as_millis()
        );
    } else {
        println!(
            "apply: {} changed ({} drift corrected), {} unchanged ({} ms)",
            r.changed(),
            drift,
            r.steps.len() - r.changed(),
            elapsed.as_millis()
        );
    }
}

/// The progress label of the plan's step at `index` (0-based); empty past the last step.
pub fn step_label(plan: &Plan, index: usize) -> String {
    plan.steps
        .get(index)
        .map(|s| format!("apply: step {}/{}: {}", index + 1, plan.steps.len(), s.what))
        .unwrap_or_default()
}

/// Runs `airlock apply`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&args.common.blueprint, args.common.hardening.get())?;
    let state = airlock_deploy::state_path(&args.common.blueprint);
    let rt = runtime()?;
    rt.block_on(async {
        let target = target_from_profiles(&args.common).await?;
        if !args.json {
            println!(
                "airlock apply: {} ({} profile) to storage account {} and consumer account {}",
                args.common.blueprint.display(),
                plan.profile,
                target.storage_id,
                target.consumer_id
            );
        }
        let started = std::time::Instant::now();
        let json = args.json;
        let options = airlock_deploy::ApplyOptions {
            adopt: args.adopt.clone(),
        };
        let progress = crate::progress::Progress::start(&step_label(&plan, 0));
        let mut done = 0;
        let report = match airlock_deploy::apply_with(&plan, &target, &state, &options, &mut |s| {
            done += 1;
            progress.next(&step_label(&plan, done));
            if !json {
                print_step(s)
            }
        })
        .await
        {
            Ok(r) => r,
            // The refusal says everything (and that nothing changed).
            Err(e @ airlock_deploy::DeployError::NotOwned { .. }) => return Err(e.into()),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("apply stopped; what was created so far is in the state file"));
            }
        };
        drop(progress);
        if json {
            crate::output::JsonOutput::Apply.print(&report)?;
        } else {
            print_summary(&report, started.elapsed());
            println!("state: {}", state.display());
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_step_wraps_and_keeps_every_word() {
        let arn =
            "arn:aws:kms:us-east-1:222222222222:key/0123456789abcdef0123456789abcdef-and-more";
        let what = format!(
            "key policy of {arn} with the break-glass administrator and the storage roles of both consumers"
        );
        let s = StepReport {
            number: 1,
            account: "222222222222".into(),
            what: what.clone(),
            outcome: Outcome::Created,
            changes: vec![],
            elapsed: std::time::Duration::from_millis(7),
        };
        for width in [60, 100, 200] {
            let t = step_lines(&s, width);
            assert!(!t.contains('…'), "{t}");
            assert!(t.contains(arn), "{t}");
            let first = t.lines().next().unwrap();
            let body = t.replacen(&first[first.rfind(" created").unwrap()..], "", 1);
            let words: Vec<&str> = body.split_whitespace().collect();
            assert!(words.join(" ").contains(&what), "{t}");
            assert!(t.lines().next().unwrap().contains("created"), "{t}");
        }
    }
}
