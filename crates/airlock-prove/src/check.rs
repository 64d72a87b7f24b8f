//! Properties over every request to a setup, decided by the solver, with counterexamples that are
//! replayed through `airlock_policy::evaluate` before they are reported.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use airlock_policy::setup::{Setup, SetupPrincipalKind};
use airlock_policy::{
    Context, ContextValue, Decision, NamedPolicy, Policy, PolicyId, PolicyKind, Principal, Request,
    Resource,
};
use serde::Serialize;

use crate::catalog::ResourceType;
use crate::encode::{FLAG_ID_ALLOW, FLAG_ID_DENY, Fam, KeySrc, Query, StrSrc, key_families};
use crate::lang::Re;
use crate::logic::{Formula, Model, Part, Sort, Value};
use crate::sets::render_ip;
use crate::solver::{Sat, SolveError, Solver};
use crate::space::{ClassKind, Universe, all_policies};

/// A property to prove.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "property", rename_all = "kebab-case")]
pub enum Property {
    /// Only the listed principals (role ARNs stand for all their sessions; account roots, service
    /// names) get any allowed request on the resources.
    OnlyPrincipals {
        /// Allowed principals.
        principals: Vec<String>,
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
    /// Every allowed request comes through one of the listed VPC endpoints.
    OnlyViaVpce {
        /// Endpoint ids.
        endpoints: Vec<String>,
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
    /// No anonymous caller and no principal of an account outside the setup is allowed anything,
    /// and no resource policy is public by Amazon S3's definition.
    NotPublic {
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
    /// No allowed request performs one of these actions (globs, case-insensitive).
    NoActions {
        /// Action patterns.
        actions: Vec<String>,
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
    /// Every allowed request uses TLS (`aws:SecureTransport` is `true`).
    RequiresTls {
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
    /// No allowed `PutObject` asks for encryption other than with this KMS key (a request without
    /// encryption headers gets the bucket's default encryption, taken to be this key).
    RequiresKmsKey {
        /// The key ARN.
        key: String,
        /// Scope.
        #[serde(flatten)]
        scope: Scope,
    },
}

/// Which requests a property speaks about.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scope {
    /// Resource ARNs (bucket ARNs also cover their objects); empty: the property's default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Principal ARNs the property is about; empty: every caller.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Action patterns the property is about; empty: every action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// A bad `--property` argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("property `{text}`: {message}")]
pub struct PropertyError {
    /// The argument.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

impl Property {
    /// The property's name.
    pub fn name(&self) -> &'static str {
        match self {
            Property::OnlyPrincipals { .. } => "only-principals",
            Property::OnlyViaVpce { .. } => "only-via-vpce",
            Property::NotPublic { .. } => "not-public",
            Property::NoActions { .. } => "no-actions",
            Property::RequiresTls { .. } => "requires-tls",
            Property::RequiresKmsKey { .. } => "requires-kms-key",
        }
    }

    fn scope(&self) -> &Scope {
        match self {
            Property::OnlyPrincipals { scope, .. }
            | Property::OnlyViaVpce { scope, .. }
            | Property::NotPublic { scope }
            | Property::NoActions { scope, .. }
            | Property::RequiresTls { scope }
            | Property::RequiresKmsKey { scope, .. } => scope,
        }
    }

    /// The property in `NAME=ARGS` form.
    pub fn display(&self) -> String {
        let list = |v: &[String]| v.join(",");
        let head = match self {
            Property::OnlyPrincipals { principals, .. } => {
                format!("only-principals={}", list(principals))
            }
            Property::OnlyViaVpce { endpoints, .. } => format!("only-via-vpce={}", list(endpoints)),
            Property::NotPublic { .. } => "not-public".into(),
            Property::NoActions { actions, .. } => format!("no-actions={}", list(actions)),
            Property::RequiresTls { .. } => "requires-tls".into(),
            Property::RequiresKmsKey { key, .. } => format!("requires-kms-key={key}"),
        };
        let s = self.scope();
        let mut out = head;
        if !s.resources.is_empty() {
            out.push_str(&format!(";resources={}", list(&s.resources)));
        }
        if !s.principals.is_empty() {
            out.push_str(&format!(";principals={}", list(&s.principals)));
        }
        if !s.actions.is_empty() {
            out.push_str(&format!(";actions={}", list(&s.actions)));
        }
        out
    }

    /// Parses `NAME[=ARG,ARG...][;resources=..][;principals=..][;actions=..]`.
    pub fn parse(text: &str) -> Result<Property, PropertyError> {
        let err = |m: &str| PropertyError {
            text: text.to_string(),
            message: m.to_string(),
        };
        let mut parts = text.split(';');
        let head = parts.next().unwrap_or("").trim();
        let (name, args) = match head.split_once('=') {
            Some((n, a)) => (
                n.trim(),
                a.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            None => (head, Vec::new()),
        };
        let mut scope = Scope::default();
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                return Err(err(&format!("`{p}` is not KEY=VALUES")));
            };
            let vals: Vec<String> = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            match k.trim() {
                "resources" | "resource" => scope.resources = vals,
                "principals" | "principal" => scope.principals = vals,
                "actions" | "action" => scope.actions = vals,
                other => {
                    return Err(err(&format!(
                        "unknown qualifier `{other}` (resources, principals, actions)"
                    )));
                }
            }
        }
        let need = |args: &Vec<String>, what: &str| {
            if args.is_empty() {
                Err(err(&format!("needs {what} after `=`")))
            } else {
                Ok(args.clone())
            }
        };
        Ok(match name {
            "only-principals" => Property::OnlyPrincipals {
                principals: need(&args, "principal ARNs")?,
                scope,
            },
            "only-via-vpce" => Property::OnlyViaVpce {
                endpoints: need(&args, "VPC endpoint ids")?,
                scope,
            },
            "not-public" => Property::NotPublic { scope },
            "no-actions" => Property::NoActions {
                actions: need(&args, "action patterns")?,
                scope,
            },
            "requires-tls" => Property::RequiresTls { scope },
            "requires-kms-key" => {
                let a = need(&args, "a KMS key ARN")?;
                Property::RequiresKmsKey {
                    key: a[0].clone(),
                    scope,
                }
            }
            other => {
                return Err(err(&format!(
                    "unknown property `{other}` (only-principals, only-via-vpce, not-public, no-actions, requires-tls, requires-kms-key)"
                )));
            }
        })
    }
}

/// A concrete request that breaks a property.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counterexample {
    /// The caller class it was found in.
    pub caller_class: String,
    /// The request.
    pub request: Request,
    /// For callers whose IAM policies the setup does not list: the identity policy assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_identity_policy: Option<serde_json::Value>,
    /// The decision the prover derived.
    pub decision: Decision,
    /// The decision `airlock_policy::evaluate` gives when the request is replayed.
    pub replayed: Decision,
}

impl Counterexample {
    /// One-line summary.
    pub fn summary(&self) -> String {
        let who = match &self.request.principal {
            Principal::Anonymous => "anonymous".to_string(),
            Principal::Service { name } => name.clone(),
            p => p.arn().unwrap_or_default(),
        };
        let mut ctx: Vec<String> = self
            .request
            .context
            .iter()
            .map(|(k, v)| match v {
                ContextValue::Single(s) => format!("{k}={s}"),
                ContextValue::Multi(m) => format!("{k}=[{}]", m.join(",")),
            })
            .collect();
        if ctx.is_empty() {
            ctx.push("no context keys".into());
        }
        let assumed = if self.assumed_identity_policy.is_some() {
            " (with an IAM policy of its own allowing it)"
        } else {
            ""
        };
        format!(
            "{who}{assumed} {} {} [{}] -> {:?}",
            self.request.action,
            self.request.resource.arn,
            ctx.join(", "),
            self.decision
        )
    }
}

/// The outcome of one property.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Holds for every request.
    Proved,
    /// Fails.
    Violated {
        /// A request that breaks it (absent only for the syntactic part of `not-public`).
        #[serde(skip_serializing_if = "Option::is_none")]
        counterexample: Option<Box<Counterexample>>,
        /// Why, in words.
        reason: String,
    },
    /// Could not be decided.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// A property with its outcome and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyResult {
    /// `NAME=ARGS`.
    pub property: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall-clock time in milliseconds.
    pub millis: f64,
    /// Solver queries run (caller class × resource pairs that were not decided by folding).
    pub queries: usize,
}

/// A query as run, for cross-checking with another solver.
#[derive(Debug, Clone)]
pub struct RecordedQuery {
    /// SMT-LIB text.
    pub smtlib: String,
    /// Our verdict.
    pub sat: bool,
}

/// Options for checking.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Record every solver query in SMT-LIB.
    pub record: bool,
}

/// The checker of one setup.
pub struct Checker<'s> {
    /// The request space.
    pub universe: Universe<'s>,
    fams: BTreeMap<String, BTreeSet<Fam>>,
    /// Recorded queries (with [`CheckOptions::record`]).
    pub recorded: Vec<RecordedQuery>,
    opts: CheckOptions,
}

/// What a query asks about a class and target.
pub type Violation<'a> = dyn Fn(&mut Query<'_, '_>) -> Result<Formula, String> + 'a;

impl<'s> Checker<'s> {
    /// Prepares the request space of a setup.
    pub fn new(setup: &'s Setup, opts: CheckOptions) -> Checker<'s> {
        let universe = Universe::new(setup);
        let pols = all_policies(setup);
        let fams = key_families(pols.iter().map(|p| &*p.policy));
        Checker {
            universe,
            fams,
            recorded: Vec::new(),
            opts,
        }
    }

    /// The setup.
    pub fn setup(&self) -> &'s Setup {
        self.universe.setup
    }

    fn targets_in(&self, scope: &Scope, default: &[ResourceType]) -> Vec<usize> {
        self.universe
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                if scope.resources.is_empty() {
                    default.contains(&t.kind)
                } else {
                    scope.resources.iter().any(|r| {
                        r == &t.arn
                            || (t.kind == ResourceType::Object
                                && r.strip_suffix("/*") == Some(t.arn.as_str()))
                    })
                }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Searches every caller class × target for a request with decision Allow satisfying
    /// `violation` (and the realism axioms). The first one found is replayed and returned.
    pub fn search(
        &mut self,
        targets: &[usize],
        classes: &[usize],
        violation: &Violation<'_>,
    ) -> (Result<Option<Counterexample>, String>, usize) {
        let mut unknown: Vec<String> = Vec::new();
        let mut queries = 0;
        for &t in targets {
            for &c in classes {
                let mut q = match Query::new(&self.universe, c, t, &self.fams) {
                    Ok(q) => q,
                    Err(e) => {
                        unknown.push(e.0);
                        continue;
                    }
                };
                let v = match violation(&mut q) {
                    Ok(v) => v,
                    Err(e) => {
                        unknown.push(e);
                        continue;
                    }
                };
                if v == Formula::f() {
                    continue;
                }
                let dec = match q.decision(None) {
                    Ok(d) => d,
                    Err(e) => {
                        unknown.push(format!(
                            "{} on {}: {}",
                            self.universe.classes[c].label,
                            self.universe.targets[t].label(),
                            e.0
                        ));
                        continue;
                    }
                };
                if dec.allow == Formula::f() {
                    continue;
                }
                let ax = q.axioms();
                let f = Formula::and([dec.allow, v, ax]);
                if f == Formula::f() {
                    continue;
                }
                queries += 1;
                let mut solver = Solver::new(&q.p);
                let r = solver.solve(&f);
                if self.opts.record
                    && let Ok(r) = &r
                {
                    self.recorded.push(RecordedQuery {
                        smtlib: crate::smt::to_smtlib(&q.p, &f),
                        sat: matches!(r, Sat::Sat(_)),
                    });
                }
                match r {
                    Ok(Sat::Unsat) => {}
                    Ok(Sat::Sat(m)) => {
                        let cx = counterexample(&q, &m, Decision::Allow);
                        return (Ok(Some(cx)), queries);
                    }
                    Err(
                        e @ (SolveError::Unsupported(_)
                        | SolveError::Budget(_)
                        | SolveError::Internal(_)),
                    ) => unknown.push(format!(
                        "{} on {}: {e}",
                        self.universe.classes[c].label,
                        self.universe.targets[t].label()
                    )),
                }
            }
        }
        if unknown.is_empty() {
            (Ok(None), queries)
        } else {
            unknown.sort();
            unknown.dedup();
            (Err(unknown.join("; ")), queries)
        }
    }

    /// Every class, in the order counterexamples are searched: the setup's roles, its users,
    /// unlisted principals, roots, anonymous callers, services.
    fn all_classes(&self) -> Vec<usize> {
        let rank = |c: &ClassKind| match c {
            ClassKind::Known(i) => match self.setup().principals()[*i].kind {
                SetupPrincipalKind::Role => 0,
                SetupPrincipalKind::User => 1,
                SetupPrincipalKind::Root => 3,
            },
            ClassKind::Other { .. } => 2,
            ClassKind::Root { .. } => 3,
            ClassKind::Anonymous => 4,
            ClassKind::Service(_) => 5,
            ClassKind::Federated(_) => 6,
        };
        let mut v: Vec<usize> = (0..self.universe.classes.len()).collect();
        v.sort_by_key(|&i| rank(&self.universe.classes[i].kind));
        v
    }

    fn classes_for_principals(&self, principals: &[String]) -> Vec<usize> {
        if principals.is_empty() {
            return self.all_classes();
        }
        self.universe
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| match &c.kind {
                ClassKind::Known(i) => principals.contains(&self.setup().principals()[*i].arn),
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Checks one property.
    pub fn check(&mut self, prop: &Property) -> PropertyResult {
        let start = Instant::now();
        let data = [ResourceType::Bucket, ResourceType::Object];
        let all = [
            ResourceType::Bucket,
            ResourceType::Object,
            ResourceType::Key,
            ResourceType::Role,
        ];
        let scope = prop.scope().clone();
        let action_scope = scope.actions.clone();
        let with_actions = move |q: &mut Query<'_, '_>, f: Formula| -> Formula {
            if action_scope.is_empty() {
                f
            } else {
                let a = Formula::or(
                    action_scope
                        .iter()
                        .map(|p| q.action_glob(p))
                        .collect::<Vec<_>>(),
                );
                Formula::and([a, f])
            }
        };
        let classes = self.classes_for_principals(&scope.principals);
        let (res, queries, reason): (Result<Option<Counterexample>, String>, usize, String) =
            match prop {
                Property::OnlyPrincipals { principals, .. } => {
                    let targets = self.targets_in(&scope, &data);
                    let ps = principals.clone();
                    let (r, n) = self.search(&targets, &classes, &|q| {
                        let v = outside(q, &ps);
                        Ok(with_actions(q, v))
                    });
                    (
                        r,
                        n,
                        format!(
                            "a principal other than {} is allowed",
                            principals.join(", ")
                        ),
                    )
                }
                Property::OnlyViaVpce { endpoints, .. } => {
                    let targets = self.targets_in(&scope, &data);
                    let eps = endpoints.clone();
                    let (r, n) = self.search(&targets, &classes, &|q| {
                        let src = q.key_src("aws:sourcevpce", Fam::Str).map_err(|e| e.0)?;
                        let via = match src {
                            KeySrc::Var(v) => {
                                let pr = q.p.present(v);
                                let is = q.p.str_in(v, Re::lits(eps.iter().map(String::as_str)));
                                Formula::and([pr, is])
                            }
                            _ => Formula::f(),
                        };
                        Ok(with_actions(q, via.not()))
                    });
                    (
                        r,
                        n,
                        format!("a request not through {} is allowed", endpoints.join(", ")),
                    )
                }
                Property::NotPublic { .. } => {
                    let targets = self.targets_in(&scope, &all);
                    let outside_classes: Vec<usize> = classes
                        .iter()
                        .copied()
                        .filter(|&c| {
                            matches!(
                                self.universe.classes[c].kind,
                                ClassKind::Anonymous
                                    | ClassKind::Federated(_)
                                    | ClassKind::Other { account: None, .. }
                                    | ClassKind::Root { account: None }
                            )
                        })
                        .collect();
                    let (r, n) = self.search(&targets, &outside_classes, &|q| {
                        Ok(with_actions(q, Formula::t()))
                    });
                    // Amazon S3's syntactic definition, on the bucket policies in scope.
                    let mut public = Vec::new();
                    for &t in &targets {
                        let tg = &self.universe.targets[t];
                        if tg.kind == ResourceType::Bucket
                            && let Some(p) = &tg.policy
                        {
                            for s in airlock_policy::public::public_statements(&p.policy) {
                                public.push(format!(
                                    "{} statement {}{}: {}",
                                    tg.arn,
                                    s.index,
                                    s.sid.map(|x| format!(" ({x})")).unwrap_or_default(),
                                    s.reason
                                ));
                            }
                        }
                    }
                    match r {
                        Ok(None) if !public.is_empty() => {
                            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                            return PropertyResult {
                                property: prop.display(),
                                outcome: Outcome::Violated {
                                    counterexample: None,
                                    reason: format!(
                                        "public by Amazon S3's definition: {}",
                                        public.join("; ")
                                    ),
                                },
                                millis: elapsed,
                                queries: n,
                            };
                        }
                        r => (
                            r,
                            n,
                            "a caller outside the setup's accounts (or anonymous) is allowed"
                                .to_string(),
                        ),
                    }
                }
                Property::NoActions { actions, .. } => {
                    let targets = self.targets_in(&scope, &all);
                    let acts = actions.clone();
                    let (r, n) = self.search(&targets, &classes, &|q| {
                        let a =
                            Formula::or(acts.iter().map(|p| q.action_glob(p)).collect::<Vec<_>>());
                        Ok(with_actions(q, a))
                    });
                    (
                        r,
                        n,
                        format!("an action matching {} is allowed", actions.join(", ")),
                    )
                }
                Property::RequiresTls { .. } => {
                    let targets = self.targets_in(&scope, &data);
                    let (r, n) = self.search(&targets, &classes, &|q| {
                        let src = q
                            .key_src("aws:securetransport", Fam::Str)
                            .map_err(|e| e.0)?;
                        let plain = match src {
                            KeySrc::Var(v) => q.p.str_in(v, Re::lit("false")),
                            _ => Formula::f(),
                        };
                        Ok(with_actions(q, plain))
                    });
                    (
                        r,
                        n,
                        "a request without TLS (aws:SecureTransport=false) is allowed".to_string(),
                    )
                }
                Property::RequiresKmsKey { key, .. } => {
                    let targets: Vec<usize> = self
                        .targets_in(&scope, &data)
                        .into_iter()
                        .filter(|&t| self.universe.targets[t].kind == ResourceType::Object)
                        .collect();
                    let mut accepted = vec![key.clone()];
                    if let Some(id) = key.rsplit('/').next() {
                        accepted.push(id.to_string());
                    }
                    if let Some(r) = self.setup().resource(key) {
                        for a in &r.aliases {
                            accepted.push(a.clone());
                            if let Some(prefix) = key.split(":key/").next() {
                                accepted.push(format!("{prefix}:{a}"));
                            }
                        }
                    }
                    let (r, n) = self.search(&targets, &classes, &|q| {
                        let put = q.action_in(&["s3:PutObject"]);
                        let kid = q
                            .key_src("s3:x-amz-server-side-encryption-aws-kms-key-id", Fam::Str)
                            .map_err(|e| e.0)?;
                        let sse = q
                            .key_src("s3:x-amz-server-side-encryption", Fam::Str)
                            .map_err(|e| e.0)?;
                        let other_key = match kid {
                            KeySrc::Var(v) => {
                                let pr = q.p.present(v);
                                let ok =
                                    q.p.str_in(v, Re::lits(accepted.iter().map(String::as_str)));
                                Formula::and([pr, ok.not()])
                            }
                            _ => Formula::f(),
                        };
                        let other_alg = match sse {
                            KeySrc::Var(v) => {
                                let pr = q.p.present(v);
                                let ok = q.p.str_in(v, Re::lits(["aws:kms", "aws:kms:dsse"]));
                                Formula::and([pr, ok.not()])
                            }
                            _ => Formula::f(),
                        };
                        Ok(with_actions(
                            q,
                            Formula::and([put, Formula::or([other_key, other_alg])]),
                        ))
                    });
                    (
                        r,
                        n,
                        format!(
                            "a PutObject asking for encryption other than with {key} is allowed"
                        ),
                    )
                }
            };
        let outcome = match res {
            Ok(None) => Outcome::Proved,
            Ok(Some(cx)) => {
                if cx.replayed != cx.decision {
                    Outcome::Unknown {
                        reason: format!(
                            "internal disagreement: the prover derived {:?} for {} but the engine decides {:?}",
                            cx.decision,
                            cx.summary(),
                            cx.replayed
                        ),
                    }
                } else {
                    Outcome::Violated {
                        counterexample: Some(Box::new(cx)),
                        reason,
                    }
                }
            }
            Err(e) => Outcome::Unknown { reason: e },
        };
        PropertyResult {
            property: prop.display(),
            outcome,
            millis: start.elapsed().as_secs_f64() * 1000.0,
            queries,
        }
    }
}

/// The caller is none of the listed principals.
fn outside(q: &mut Query<'_, '_>, principals: &[String]) -> Formula {
    if let ClassKind::Known(i) = &q.u.classes[q.class].kind {
        let sp = &q.u.setup.principals()[*i];
        if principals.contains(&sp.arn) {
            return Formula::f();
        }
        if sp.kind != SetupPrincipalKind::Role {
            return Formula::t();
        }
    }
    let mut named = Vec::new();
    if let Some(pa) = q.principal_arn() {
        named.push(q.str_in(&pa, Re::lits(principals.iter().map(String::as_str))));
    }
    if let ClassKind::Service(Some(s)) = &q.u.classes[q.class].kind {
        named.push(Formula::Const(principals.contains(s)));
    }
    Formula::or(named).not()
}

fn term_value(m: &Model, src: &StrSrc) -> Option<String> {
    match src {
        StrSrc::Const(c) => Some(c.clone()),
        StrSrc::Term(parts) => {
            let mut s = String::new();
            for p in parts {
                match p {
                    Part::Lit(l) => s.push_str(l),
                    Part::Var(v) => s.push_str(m.str(*v)?),
                }
            }
            Some(s)
        }
    }
}

fn var_value(q: &Query<'_, '_>, m: &Model, v: crate::logic::VarId) -> Option<ContextValue> {
    let sort = q.p.decl(v).sort;
    Some(match (m.get(v), sort) {
        (Value::Absent, _) => return None,
        (Value::Str(s), _) => ContextValue::Single(s.clone()),
        (Value::Set(xs), _) => ContextValue::Multi(xs.clone()),
        (Value::Num(Some(x)), Sort::Date) => {
            ContextValue::Single(airlock_policy::operand::render_date(*x as i128))
        }
        (Value::Num(Some(x)), _) => ContextValue::Single(format!("{x}")),
        (Value::Num(None), _) | (Value::Ip(None), _) => ContextValue::Single("not-a-value".into()),
        (Value::Ip(Some((f, x))), _) => ContextValue::Single(render_ip(*f, *x)),
    })
}

/// Turns a model into a request, replays it through the engine and records both decisions.
pub fn counterexample(q: &Query<'_, '_>, m: &Model, decision: Decision) -> Counterexample {
    let u = q.u;
    let setup = u.setup;
    let t = q.target();
    let sv = |v: Option<crate::logic::VarId>| v.and_then(|v| m.str(v)).unwrap_or("").to_string();
    let acct = q
        .caller
        .acct
        .as_ref()
        .and_then(|a| term_value(m, a))
        .unwrap_or_default();
    let principal = match &u.classes[q.class].kind {
        ClassKind::Known(i) => {
            let sp = &setup.principals()[*i];
            match sp.kind {
                SetupPrincipalKind::Root => Principal::Root {
                    account: sp.account.clone(),
                },
                SetupPrincipalKind::User => Principal::User {
                    account: sp.account.clone(),
                    name: sp.name.clone(),
                    path: sp.path.clone(),
                    id: sp.id.clone(),
                    tags: sp.tags.clone(),
                },
                SetupPrincipalKind::Role => Principal::RoleSession {
                    account: sp.account.clone(),
                    role_name: sp.name.clone(),
                    role_path: sp.path.clone(),
                    role_id: sp.id.clone(),
                    session_name: sv(q.vars.session),
                    tags: sp.tags.clone(),
                    source_identity: None,
                },
            }
        }
        ClassKind::Other { user, .. } => {
            let tags: BTreeMap<String, String> = q
                .vars
                .tags
                .iter()
                .filter_map(|(k, v)| m.str(*v).map(|s| (k.clone(), s.to_string())))
                .collect();
            if *user {
                Principal::User {
                    account: acct,
                    name: sv(q.vars.name),
                    path: sv(q.vars.path),
                    id: sv(q.vars.uid),
                    tags,
                }
            } else {
                Principal::RoleSession {
                    account: acct,
                    role_name: sv(q.vars.name),
                    role_path: sv(q.vars.path),
                    role_id: sv(q.vars.uid),
                    session_name: sv(q.vars.session),
                    tags,
                    source_identity: q
                        .vars
                        .source_identity
                        .and_then(|v| m.str(v))
                        .map(str::to_string),
                }
            }
        }
        ClassKind::Root { .. } => Principal::Root { account: acct },
        ClassKind::Anonymous => Principal::Anonymous,
        ClassKind::Service(Some(s)) => Principal::Service { name: s.clone() },
        ClassKind::Federated(Some(f)) => Principal::Federated {
            provider: f.clone(),
        },
        ClassKind::Federated(None) => Principal::Federated {
            provider: sv(q.vars.svc),
        },
        ClassKind::Service(None) => Principal::Service {
            name: sv(q.vars.svc),
        },
    };
    let action = sv(Some(q.vars.action));
    let arn = match q.vars.object_key {
        Some(k) => format!("{}/{}", t.arn, m.str(k).unwrap_or("")),
        None => t.arn.clone(),
    };
    let mut context = Context::new();
    for (k, src) in &q.vars.context {
        let val = match src {
            KeySrc::Absent => None,
            KeySrc::Var(v) => var_value(q, m, *v),
            KeySrc::Str { present, val } => {
                if m.eval(&q.p, present) {
                    term_value(m, val).map(ContextValue::Single)
                } else {
                    None
                }
            }
        };
        if let Some(v) = val {
            context.insert(k, v);
        }
    }
    let request = Request {
        principal,
        action: action.clone(),
        resource: Resource {
            arn: arn.clone(),
            account: Some(t.account.clone()),
        },
        context,
    };
    let mut stmts = Vec::new();
    if m.flag(FLAG_ID_ALLOW) {
        stmts.push(serde_json::json!({"Effect": "Allow", "Action": action, "Resource": arn}));
    }
    if m.flag(FLAG_ID_DENY) {
        stmts.push(serde_json::json!({"Effect": "Deny", "Action": action, "Resource": arn}));
    }
    let assumed = if stmts.is_empty() || !q.caller.symbolic_identity {
        None
    } else {
        Some(serde_json::json!({"Version": "2012-10-17", "Statement": stmts}))
    };
    let replayed = replay(setup, &request, assumed.as_ref());
    Counterexample {
        caller_class: u.classes[q.class].label.clone(),
        request,
        assumed_identity_policy: assumed,
        decision,
        replayed,
    }
}

/// Decides a request with the engine, as the setup assembles its policies, plus an assumed
/// identity policy for a caller the setup does not list.
pub fn replay(setup: &Setup, request: &Request, assumed: Option<&serde_json::Value>) -> Decision {
    let mut set = setup.policy_set(request);
    if let Some(a) = assumed
        && let Ok(p) = Policy::parse(&a.to_string(), PolicyKind::Identity)
    {
        set.identity.push(NamedPolicy {
            id: PolicyId {
                kind: PolicyKind::Identity,
                name: "assumed identity policy of the caller".into(),
            },
            policy: Arc::new(p),
        });
    }
    airlock_policy::evaluate(request, &set).decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn property_syntax() {
        let p = Property::parse("no-actions=s3:Delete*,s3:Put*;principals=arn:aws:iam::1:role/r;resources=arn:aws:s3:::b")
            .expect("parses");
        assert_eq!(Property::parse(&p.display()).expect("round trip"), p);
        assert!(Property::parse("no-actions").is_err());
        assert!(Property::parse("nope").is_err());
        assert!(Property::parse("not-public;colour=blue").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".{0,80}") {
            if let Ok(p) = Property::parse(&s) {
                prop_assert_eq!(Property::parse(&p.display()).ok(), Some(p));
            }
        }
    }
}
