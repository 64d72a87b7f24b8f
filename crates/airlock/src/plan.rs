//! `airlock plan`: print (or write) every resource and policy document a blueprint asks for,
//! per account and in step order. It never touches an endpoint.
//!
//! Exit codes: 0 the plan was printed; 2 bad usage or input (unreadable or invalid blueprint).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock_blueprint::plan::{Account, Plan, PolicyTemplate, RolePurpose};
use airlock_blueprint::{Bindings, Profile};
use airlock_policy::PolicyKind;
use anyhow::Context as _;
use serde_json::json;

/// Arguments of `airlock plan`.
#[derive(clap::Args)]
pub struct Args {
    /// The blueprint (TOML; see docs/blueprint.md).
    blueprint: PathBuf,
    #[command(flatten)]
    hardening: Hardening,
    /// Write every policy document into this directory, one file per document named after the
    /// account and the resource, with the placeholders substituted (by `--bindings`, else by
    /// illustrative values); `templates/` holds them with their placeholders, `plan.json` the plan
    /// and `bindings.json` the values used.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Values of the placeholders, as JSON: `{"key_arn": "arn:aws:kms:...", "vpce_id:NAME":
    /// "vpce-..."}` (names without `${airlock:` and `}`); the others keep illustrative values.
    #[arg(long, value_name = "FILE.json")]
    bindings: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

/// `--hardening` values.
pub fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

/// Values of the deprecated `--profile` spelling of `--hardening`: the same two, with a reminder
/// that AWS profiles are not what it takes.
fn parse_deprecated_profile(s: &str) -> Result<Profile, String> {
    s.parse().map_err(|_| {
        format!(
            "`--profile` here is the deprecated spelling of `--hardening` and takes `hardened` or \
             `as-written`, not `{s}`; use `--hardening hardened|as-written` (AWS profiles are \
             given with `--storage-profile`/`--consumer-profile`)"
        )
    })
}

/// The hardening profile of policy generation, `--hardening hardened|as-written`, overriding the
/// blueprint's `profile`; `--profile` is its deprecated spelling (kept for one release).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Hardening {
    /// The hardening profile of policy generation: `hardened` or `as-written` (the seed's JSON
    /// exactly), overriding the blueprint's `profile`.
    #[arg(
        long = "hardening",
        value_name = "hardened|as-written",
        requires = "blueprint",
        value_parser = parse_profile
    )]
    hardening: Option<Profile>,
    /// Deprecated spelling of `--hardening`.
    #[arg(
        long = "profile",
        hide = true,
        requires = "blueprint",
        value_parser = parse_deprecated_profile,
        conflicts_with = "hardening"
    )]
    deprecated_profile: Option<Profile>,
}

impl Hardening {
    /// The profile asked for, if any; warns on stderr when it came through `--profile`.
    pub fn get(&self) -> Option<Profile> {
        if let Some(p) = self.deprecated_profile {
            eprintln!("{}", deprecation_warning(p));
            return Some(p);
        }
        self.hardening
    }
}

/// The warning printed when `--profile hardened|as-written` is used.
pub fn deprecation_warning(p: Profile) -> String {
    format!(
        "warning: `--profile {p}` is deprecated and will be removed in the next release: use \
         `--hardening {p}` (`--profile` names an AWS profile elsewhere)"
    )
}

/// Reads and plans a blueprint.
pub fn load(path: &Path, profile: Option<Profile>) -> anyhow::Result<Plan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Plan::from_toml(&text, profile).with_context(|| format!("loading {}", path.display()))
}

/// One policy document of the plan, with what it is.
pub struct Document<'p> {
    /// The owning account.
    pub account: &'p str,
    /// Human title (`key policy of alias/x`).
    pub title: String,
    /// File name for `--out`.
    pub file: String,
    /// The policy kind, for parsing.
    pub kind: PolicyKind,
    /// The document.
    pub policy: &'p PolicyTemplate,
}

/// Every policy document of the plan, in step order.
pub fn documents(plan: &Plan) -> Vec<Document<'_>> {
    let alias = |id: &str| -> String {
        std::iter::once(&plan.storage_account)
            .chain(&plan.consumer_accounts)
            .find(|a| a.id == id)
            .map(|a: &Account| a.alias.clone())
            .unwrap_or_default()
    };
    let prefix = |id: &str| format!("{id}-{}", sanitize(&alias(id)));
    let key_name = plan.key.alias.trim_start_matches("alias/");
    let mut out = vec![Document {
        account: &plan.key.account,
        title: format!("key policy of {}", plan.key.alias),
        file: format!(
            "{}.kms-key.{}.key-policy.json",
            prefix(&plan.key.account),
            sanitize(key_name)
        ),
        kind: PolicyKind::Key,
        policy: &plan.key.policy,
    }];
    let mut roles: Vec<_> = plan.roles.iter().collect();
    roles.sort_by_key(|r| match r.purpose {
        RolePurpose::Storage | RolePurpose::BreakGlass => 0,
        RolePurpose::Instance => 1,
    });
    let mut bucket_pushed = false;
    for r in roles {
        if r.purpose == RolePurpose::Instance && !bucket_pushed {
            bucket_pushed = true;
            out.push(bucket_document(plan, &prefix));
        }
        out.push(Document {
            account: &r.account,
            title: format!("trust policy of role {}", r.name),
            file: format!(
                "{}.iam-role.{}.trust-policy.json",
                prefix(&r.account),
                sanitize(&r.name)
            ),
            kind: PolicyKind::Trust,
            policy: &r.trust_policy,
        });
        for p in &r.inline_policies {
            out.push(Document {
                account: &r.account,
                title: format!("inline policy {} of role {}", p.name, r.name),
                file: format!(
                    "{}.iam-role.{}.inline.{}.json",
                    prefix(&r.account),
                    sanitize(&r.name),
                    sanitize(&p.name)
                ),
                kind: PolicyKind::Identity,
                policy: &p.policy,
            });
        }
    }
    if !bucket_pushed {
        out.push(bucket_document(plan, &prefix));
    }
    for n in &plan.networks {
        if let Some(p) = &n.endpoint.policy {
            out.push(Document {
                account: &n.account,
                title: format!("endpoint policy of {}", n.endpoint.name),
                file: format!(
                    "{}.vpc-endpoint.{}.endpoint-policy.json",
                    prefix(&n.account),
                    sanitize(&n.endpoint.name)
                ),
                kind: PolicyKind::Endpoint,
                policy: p,
            });
        }
    }
    out
}

fn bucket_document<'p>(plan: &'p Plan, prefix: &dyn Fn(&str) -> String) -> Document<'p> {
    Document {
        account: &plan.bucket.account,
        title: format!("bucket policy of {}", plan.bucket.name),
        file: format!(
            "{}.s3-bucket.{}.bucket-policy.json",
            prefix(&plan.bucket.account),
            sanitize(&plan.bucket.name)
        ),
        kind: PolicyKind::Resource,
        policy: &plan.bucket.policy,
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs `airlock plan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = load(&args.blueprint, args.hardening.get())?;
    let mut bindings = Bindings::illustrative(&plan);
    if let Some(path) = &args.bindings {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let given: Bindings = serde_json::from_str(&text)
            .with_context(|| format!("loading the bindings {}", path.display()))?;
        bindings.0.extend(given.0);
    }
    // Every document, resolved, must be a valid policy of its kind (the setup document and the
    // endpoint would refuse it otherwise).
    for d in documents(&plan) {
        let resolved = d.policy.resolve(&bindings)?;
        airlock_policy::Policy::parse(&resolved.to_string(), d.kind)
            .with_context(|| format!("the generated {}", d.title))?;
    }
    if let Some(dir) = &args.out {
        write_out(&plan, &bindings, dir)?;
    }
    if args.json {
        let docs: Vec<_> = documents(&plan)
            .iter()
            .map(|d| json!({"account": d.account, "title": d.title, "file": d.file, "kind": format!("{:?}", d.kind), "policy": d.policy}))
            .collect();
        crate::output::JsonOutput::Plan.print(&json!({
            "plan": plan,
            "documents": docs,
            "bindings": bindings_json(&bindings),
        }))?;
    } else {
        print!(
            "{}",
            render(&plan, &bindings, &args.blueprint.display().to_string())?
        );
        if let Some(dir) = &args.out {
            println!("Wrote every policy document to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bindings as `--bindings` reads them: `{"key_arn": "...", "vpce_id:NAME": "..."}`.
fn bindings_json(b: &Bindings) -> serde_json::Value {
    serde_json::to_value(b).unwrap_or_default()
}

fn write_out(plan: &Plan, bindings: &Bindings, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, value: &serde_json::Value| -> anyhow::Result<()> {
        let path = dir.join(name);
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates)
        .with_context(|| format!("creating {}", templates.display()))?;
    for d in documents(plan) {
        write(&d.file, &d.policy.resolve(bindings)?)?;
        write(&format!("templates/{}", d.file), d.policy.template())?;
    }
    write("plan.json", &serde_json::to_value(plan)?)?;
    write("bindings.json", &bindings_json(bindings))?;
    Ok(())
}

/// The human rendering of a plan.
pub fn render(plan: &Plan, bindings: &Bindings, name: &str) -> anyhow::Result<String> {
    let mut s = String::new();
    let acct = |id: &str| -> String {
        std::iter::once(&plan.storage_account)
            .chain(&plan.consumer_accounts)
            .find(|a| a.id == id)
            .map(|a| format!("{} ({})", a.id, a.alias))
            .unwrap_or_else(|| id.to_string())
    };
    writeln!(
        s,
        "Plan of {name}: profile {}, region {}",
        plan.profile, plan.region
    )?;
    writeln!(s, "storage account  {}", acct(&plan.storage_account.id))?;
    for c in &plan.consumer_accounts {
        writeln!(s, "consumer account {}", acct(&c.id))?;
    }
    let on: Vec<&str> = plan
        .hardening
        .switches()
        .iter()
        .filter(|(_, v)| *v)
        .map(|(n, _)| *n)
        .collect();
    let off: Vec<&str> = plan
        .hardening
        .switches()
        .iter()
        .filter(|(_, v)| !*v)
        .map(|(n, _)| *n)
        .collect();
    writeln!(
        s,
        "hardening on:  {}",
        if on.is_empty() {
            "none".into()
        } else {
            on.join(", ")
        }
    )?;
    writeln!(
        s,
        "hardening off: {}",
        if off.is_empty() {
            "none".into()
        } else {
            off.join(", ")
        }
    )?;
    writeln!(s, "\nSTEPS (nothing is created by `airlock plan`)")?;
    for st in &plan.steps {
        writeln!(s, "  {}. [{}] {}", st.number, acct(&st.account), st.what)?;
    }
    writeln!(s, "\nRESOURCES PER ACCOUNT")?;
    for a in std::iter::once(&plan.storage_account).chain(&plan.consumer_accounts) {
        writeln!(s, "  {}", acct(&a.id))?;
        if plan.key.account == a.id {
            writeln!(
                s,
                "    kms key        {} ({}, {}, rotation {})",
                plan.key.alias,
                plan.key.key_spec,
                plan.key.key_usage,
                if plan.key.enable_rotation {
                    "on"
                } else {
                    "off"
                }
            )?;
        }
        if plan.bucket.account == a.id {
            let b = &plan.bucket;
            writeln!(
                s,
                "    s3 bucket      {} (Block Public Access: all four; SSE-KMS {} with Bucket Key {}; ownership {}; versioning {})",
                b.name,
                b.default_encryption.kms_master_key_id,
                if b.default_encryption.bucket_key_enabled {
                    "on"
                } else {
                    "off"
                },
                b.ownership.as_deref().unwrap_or("default"),
                if b.versioning { "on" } else { "off" }
            )?;
        }
        for r in plan.roles.iter().filter(|r| r.account == a.id) {
            writeln!(
                s,
                "    iam role       {} ({}){}",
                r.name,
                r.description,
                r.instance_profile
                    .as_ref()
                    .map(|p| format!(", instance profile {p}"))
                    .unwrap_or_default()
            )?;
        }
        for n in plan.networks.iter().filter(|n| n.account == a.id) {
            writeln!(s, "    vpc            {} ({})", n.vpc.name, n.vpc.cidr)?;
            writeln!(
                s,
                "    subnet         {} ({})",
                n.subnet.name, n.subnet.cidr
            )?;
            writeln!(
                s,
                "    vpc endpoint   {} ({} {}, policy {}){}",
                n.endpoint.name,
                n.endpoint.kind.as_aws(),
                n.endpoint.service_name,
                if n.endpoint.policy.is_some() {
                    "below"
                } else {
                    "full access (AWS default)"
                },
                if n.endpoint.associate_route_table {
                    ", on the subnet's route table"
                } else {
                    ""
                }
            )?;
            if let Some(i) = &n.instance {
                writeln!(
                    s,
                    "    ec2 instance   {} ({}, {}, instance profile {})",
                    i.name, i.instance_type, i.image_id, i.instance_profile
                )?;
            }
        }
    }
    if let Some(bg) = &plan.break_glass {
        writeln!(
            s,
            "\nBREAK-GLASS ADMINISTRATOR {} ({})",
            bg.principal_arn,
            if bg.role.is_some() {
                "created"
            } else {
                "existing"
            }
        )?;
    }
    writeln!(
        s,
        "\nPLACEHOLDERS (known once created; illustrative values used for display and `airlock check`)"
    )?;
    for (k, v) in &bindings.0 {
        writeln!(s, "  {:<45} e.g. {v}", k.placeholder())?;
    }
    writeln!(s, "\nPOLICY DOCUMENTS")?;
    for d in documents(plan) {
        writeln!(s, "\n--- {} [{}] ---", d.title, acct(d.account))?;
        writeln!(s, "{}", serde_json::to_string_pretty(d.policy.template())?)?;
    }
    Ok(s)
}
