//! The symbolic request space of a setup: which callers and which resources a request may
//! involve. Callers are grouped into finitely many *classes*; within a class the free parts of the
//! caller (names, ids, session names, tags) stay symbolic and are chosen by the solver.

use std::collections::BTreeSet;

use airlock_policy::model::{PrincipalClause, PrincipalEntry, Principals};
use airlock_policy::setup::{Setup, SetupPrincipalKind, SetupResourceKind};
use airlock_policy::{NamedPolicy, Policy};

use crate::catalog::ResourceType;

/// One class of callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassKind {
    /// A principal the setup lists (index into `Setup::principals`); a role stands for its sessions.
    Known(usize),
    /// Any other IAM user (`user == true`) or role session of an account (`None`: an account the
    /// setup does not know). Its own IAM policies are unknown, so they may allow or deny anything.
    Other {
        /// The account, or `None` for any account outside the setup.
        account: Option<String>,
        /// A user rather than a role session.
        user: bool,
    },
    /// The root user of an account the setup does not list a root for (or of an unknown account).
    Root {
        /// The account, or `None` for any account outside the setup.
        account: Option<String>,
    },
    /// An unauthenticated caller.
    Anonymous,
    /// A service principal: one named by some policy, or (`None`) any other.
    Service(Option<String>),
    /// A web-identity or SAML federated caller: a provider named by some policy, or any other.
    Federated(Option<String>),
}

/// A class of callers with a label for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// What the class is.
    pub kind: ClassKind,
    /// A human label (`arn:aws:iam::111111111111:role/*`, `anonymous`, ...).
    pub label: String,
}

/// One resource a request may act on.
#[derive(Debug, Clone)]
pub struct Target {
    /// Bucket, object, key or role.
    pub kind: ResourceType,
    /// The ARN (for objects: the bucket's ARN; the object key is symbolic).
    pub arn: String,
    /// The owning account.
    pub account: String,
    /// The resource policy (bucket, key or trust policy).
    pub policy: Option<NamedPolicy>,
    /// Index into `Setup::resources` (buckets, objects, keys) or `Setup::principals` (roles).
    pub index: usize,
}

impl Target {
    /// A label: the ARN, with `/*` for objects.
    pub fn label(&self) -> String {
        match self.kind {
            ResourceType::Object => format!("{}/*", self.arn),
            _ => self.arn.clone(),
        }
    }
}

/// The request space of a setup.
#[derive(Debug, Clone)]
pub struct Universe<'s> {
    /// The setup.
    pub setup: &'s Setup,
    /// Account ids the setup or any of its policies mention.
    pub known_accounts: Vec<String>,
    /// Caller classes.
    pub classes: Vec<Class>,
    /// Resources.
    pub targets: Vec<Target>,
    /// Service principals named by policies.
    pub services: Vec<String>,
    /// Federated providers named by policies.
    pub federated: Vec<String>,
}

/// Every policy of a setup with the kind it plays.
pub fn all_policies(setup: &Setup) -> Vec<NamedPolicy> {
    let mut out = Vec::new();
    for p in setup.principals() {
        out.extend(p.identity.iter().cloned());
        out.extend(p.boundary.iter().cloned());
        out.extend(p.trust.iter().cloned());
    }
    for r in setup.resources() {
        out.extend(r.policy.iter().cloned());
    }
    for e in setup.endpoints() {
        out.push(e.policy.clone());
    }
    for (a, _) in setup.accounts() {
        for level in setup.scp_levels(a).iter().chain(setup.rcp_levels(a)) {
            out.extend(level.iter().cloned());
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert((format!("{:?}", p.id.kind), p.id.name.clone())));
    out
}

fn scan_text(s: &str, accounts: &mut BTreeSet<String>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 12 <= b.len() {
        if b[i..i + 12].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_digit())
            && (i + 12 == b.len() || !b[i + 12].is_ascii_digit())
        {
            accounts.insert(s[i..i + 12].to_string());
            i += 12;
        } else {
            i += 1;
        }
    }
}

fn scan_policy(
    p: &Policy,
    accounts: &mut BTreeSet<String>,
    services: &mut BTreeSet<String>,
    federated: &mut BTreeSet<String>,
) {
    for st in &p.statements {
        if let Some(
            PrincipalClause::Principal(Principals::Listed(es))
            | PrincipalClause::NotPrincipal(Principals::Listed(es)),
        ) = &st.principal
        {
            for e in es {
                match e {
                    PrincipalEntry::Account(a) => scan_text(a, accounts),
                    PrincipalEntry::Arn(a) => scan_text(a, accounts),
                    PrincipalEntry::Service(s) => {
                        services.insert(s.clone());
                    }
                    PrincipalEntry::Federated(f) => {
                        federated.insert(f.clone());
                    }
                    _ => {}
                }
            }
        }
        for c in &st.conditions {
            for v in &c.values {
                scan_text(v, accounts);
                if c.key.eq_ignore_ascii_case("aws:PrincipalServiceName")
                    || c.key.eq_ignore_ascii_case("kms:ViaService")
                {
                    // not principals
                }
            }
        }
        if let Some(r) = &st.resource {
            let pats = match r {
                airlock_policy::ResourceClause::Resource(p)
                | airlock_policy::ResourceClause::NotResource(p) => p,
            };
            for p in pats {
                scan_text(&p.0, accounts);
            }
        }
    }
}

impl<'s> Universe<'s> {
    /// Builds the request space of a setup.
    pub fn new(setup: &'s Setup) -> Universe<'s> {
        let mut accounts: BTreeSet<String> = setup.accounts().map(|(a, _)| a.to_string()).collect();
        let mut services = BTreeSet::new();
        let mut federated = BTreeSet::new();
        for p in all_policies(setup) {
            scan_policy(&p.policy, &mut accounts, &mut services, &mut federated);
        }
        for p in setup.principals() {
            accounts.insert(p.account.clone());
        }
        for r in setup.resources() {
            accounts.insert(r.account.clone());
        }
        let setup_accounts: Vec<String> = setup.accounts().map(|(a, _)| a.to_string()).collect();
        let mut classes = Vec::new();
        for (i, p) in setup.principals().iter().enumerate() {
            let label = match p.kind {
                SetupPrincipalKind::Role => format!("{} (any session)", p.arn),
                _ => p.arn.clone(),
            };
            classes.push(Class {
                kind: ClassKind::Known(i),
                label,
            });
        }
        for a in &setup_accounts {
            if !setup
                .principals()
                .iter()
                .any(|p| p.kind == SetupPrincipalKind::Root && &p.account == a)
            {
                classes.push(Class {
                    kind: ClassKind::Root {
                        account: Some(a.clone()),
                    },
                    label: format!("arn:aws:iam::{a}:root"),
                });
            }
            classes.push(Class {
                kind: ClassKind::Other {
                    account: Some(a.clone()),
                    user: false,
                },
                label: format!("any other role session of {a}"),
            });
            classes.push(Class {
                kind: ClassKind::Other {
                    account: Some(a.clone()),
                    user: true,
                },
                label: format!("any other IAM user of {a}"),
            });
        }
        // Accounts mentioned by policies but absent from the setup are "other accounts" too, yet
        // they may be named explicitly: give each its own classes so that grants to them show.
        for a in accounts.iter().filter(|a| !setup_accounts.contains(a)) {
            classes.push(Class {
                kind: ClassKind::Root {
                    account: Some(a.clone()),
                },
                label: format!("arn:aws:iam::{a}:root"),
            });
            classes.push(Class {
                kind: ClassKind::Other {
                    account: Some(a.clone()),
                    user: false,
                },
                label: format!("any role session of {a}"),
            });
            classes.push(Class {
                kind: ClassKind::Other {
                    account: Some(a.clone()),
                    user: true,
                },
                label: format!("any IAM user of {a}"),
            });
        }
        classes.push(Class {
            kind: ClassKind::Root { account: None },
            label: "the root user of any other account".into(),
        });
        classes.push(Class {
            kind: ClassKind::Other {
                account: None,
                user: false,
            },
            label: "any role session of any other account".into(),
        });
        classes.push(Class {
            kind: ClassKind::Other {
                account: None,
                user: true,
            },
            label: "any IAM user of any other account".into(),
        });
        classes.push(Class {
            kind: ClassKind::Anonymous,
            label: "anonymous".into(),
        });
        for s in &services {
            classes.push(Class {
                kind: ClassKind::Service(Some(s.clone())),
                label: format!("service {s}"),
            });
        }
        classes.push(Class {
            kind: ClassKind::Service(None),
            label: "any other service principal".into(),
        });
        for f in &federated {
            classes.push(Class {
                kind: ClassKind::Federated(Some(f.clone())),
                label: format!("federated caller of {f}"),
            });
        }
        classes.push(Class {
            kind: ClassKind::Federated(None),
            label: "a federated caller of any other provider".into(),
        });

        let mut targets = Vec::new();
        for (i, r) in setup.resources().iter().enumerate() {
            match r.kind {
                SetupResourceKind::S3Bucket => {
                    targets.push(Target {
                        kind: ResourceType::Bucket,
                        arn: r.arn.clone(),
                        account: r.account.clone(),
                        policy: r.policy.clone(),
                        index: i,
                    });
                    targets.push(Target {
                        kind: ResourceType::Object,
                        arn: r.arn.clone(),
                        account: r.account.clone(),
                        policy: r.policy.clone(),
                        index: i,
                    });
                }
                SetupResourceKind::KmsKey => targets.push(Target {
                    kind: ResourceType::Key,
                    arn: r.arn.clone(),
                    account: r.account.clone(),
                    policy: r.policy.clone(),
                    index: i,
                }),
                SetupResourceKind::Other => {}
            }
        }
        for (i, p) in setup.principals().iter().enumerate() {
            if p.kind == SetupPrincipalKind::Role {
                targets.push(Target {
                    kind: ResourceType::Role,
                    arn: p.arn.clone(),
                    account: p.account.clone(),
                    policy: p.trust.clone(),
                    index: i,
                });
            }
        }
        Universe {
            setup,
            known_accounts: accounts.into_iter().collect(),
            classes,
            targets,
            services: services.into_iter().collect(),
            federated: federated.into_iter().collect(),
        }
    }
}
