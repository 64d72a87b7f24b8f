//! `airlock check`: prove properties of a setup over every possible request, report
//! counterexamples and findings.
//!
//! Exit codes: 0 every property proved and no finding at or above `--fail-on`; 1 a property
//! violated or undecided, or such a finding; 2 bad usage or input.

use std::path::PathBuf;
use std::process::ExitCode;

use airlock_policy::setup::Setup;
use airlock_prove::check::Property;
use airlock_prove::findings::Severity;
use airlock_prove::report;
use anyhow::{Context as _, bail};

/// Arguments of `airlock check`.
#[derive(clap::Args)]
pub struct Args {
    /// A blueprint to check (TOML, docs/blueprint.md): its plan's setup document, with the
    /// properties the blueprint claims unless `--property` is given.
    #[arg(conflicts_with = "setup")]
    blueprint: Option<PathBuf>,
    /// With a blueprint: `--hardening hardened|as-written`, overriding the blueprint's profile.
    #[command(flatten)]
    hardening: crate::plan::Hardening,
    /// The setup document to check (JSON; see docs/setup-document.md).
    #[arg(long)]
    setup: Option<PathBuf>,
    /// A property, `NAME[=ARG,...][;resources=ARN,..][;principals=ARN,..][;actions=PATTERN,..]`.
    /// Names: only-principals, only-via-vpce, not-public, no-actions, requires-tls,
    /// requires-kms-key. May be repeated. Without any, the setup's own claims are checked.
    #[arg(long = "property", value_name = "NAME[=ARGS]")]
    properties: Vec<String>,
    /// Compare with another setup: equivalent, more, less or incomparable, with witnesses.
    #[arg(long, value_name = "OTHER.json")]
    compare: Option<PathBuf>,
    /// Two policy files, OLD,NEW: prove that NEW grants nothing OLD does not (as the resource
    /// policy of every resource of the setup; identity policies compare on their own).
    #[arg(long, value_name = "OLD.json,NEW.json")]
    no_new_access: Option<String>,
    /// Skip the findings (lints).
    #[arg(long)]
    no_lints: bool,
    /// Fail (exit 1) on findings of this severity or worse: note, warning, error.
    #[arg(long, default_value = "warning")]
    fail_on: String,
    /// Print JSON.
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Print SARIF 2.1.0.
    #[arg(long)]
    sarif: bool,
}

fn load(path: &PathBuf) -> anyhow::Result<(Setup, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let setup = Setup::from_json(&text).with_context(|| format!("loading {}", path.display()))?;
    Ok((setup, text))
}

/// A blueprint's setup document (with the illustrative bindings), its JSON text and its claims.
fn load_blueprint(
    path: &std::path::Path,
    profile: Option<airlock_blueprint::Profile>,
) -> anyhow::Result<(Setup, String, Vec<String>)> {
    let plan = crate::plan::load(path, profile)?;
    let bindings = airlock_blueprint::Bindings::illustrative(&plan);
    let document = plan.setup_document(&bindings)?;
    let text = serde_json::to_string_pretty(&document)?;
    let setup = Setup::from_document(document)
        .with_context(|| format!("the setup document of {}", path.display()))?;
    Ok((setup, text, plan.claims(&bindings)?))
}

/// Runs `airlock check`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (path, blueprint) = match (&args.blueprint, &args.setup) {
        (Some(b), _) => (b, Some(load_blueprint(b, args.hardening.get())?)),
        (None, Some(s)) => (s, None),
        (None, None) => bail!("give a blueprint or the setup document to check: --setup FILE.json"),
    };
    let Some(threshold) = Severity::parse(&args.fail_on) else {
        bail!(
            "--fail-on must be note, warning or error, not `{}`",
            args.fail_on
        )
    };
    let (setup, text, claims) = match blueprint {
        Some(loaded) => loaded,
        None => {
            let (setup, text) = load(path)?;
            (setup, text, Vec::new())
        }
    };
    let props: Vec<Property> = if args.properties.is_empty() {
        &claims
    } else {
        &args.properties
    }
    .iter()
    .map(|p| Property::parse(p))
    .collect::<Result<_, _>>()?;
    let name = path.display().to_string();

    if let Some(other) = &args.compare {
        let (other_setup, _) = load(other)?;
        let cmp = airlock_prove::compare::compare_setups(&setup, &other_setup);
        if args.json || args.sarif {
            crate::output::JsonOutput::CheckCompare.print(&cmp)?;
        } else {
            print!("{}", cmp.to_text(&name, &other.display().to_string()));
        }
        return Ok(
            if cmp.verdict == airlock_prove::compare::Verdict::Equivalent {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            },
        );
    }
    if let Some(pair) = &args.no_new_access {
        let Some((old, new)) = pair.split_once(',') else {
            bail!("--no-new-access takes OLD.json,NEW.json")
        };
        let read = |p: &str| std::fs::read_to_string(p).with_context(|| format!("reading {p}"));
        let (old_t, new_t) = (read(old)?, read(new)?);
        let r = airlock_prove::compare::no_new_access(&setup, &old_t, &new_t)?;
        if args.json || args.sarif {
            crate::output::JsonOutput::CheckNoNewAccess.print(&r)?;
        } else {
            print!("{}", r.to_text(old, new));
        }
        return Ok(if r.new_access.is_empty() && r.unknown.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }

    let rep = report::run(&setup, &name, &props, !args.no_lints);
    if args.json {
        crate::output::JsonOutput::Check.print(&rep.to_json())?;
    } else if args.sarif {
        println!(
            "{}",
            serde_json::to_string_pretty(&rep.to_sarif(Some(&text)))?
        );
    } else {
        print!("{}", rep.to_table_width(crate::output::terminal_width()));
    }
    Ok(if rep.failed(threshold) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
