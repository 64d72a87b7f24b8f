//! Policies to formulas, with exactly the semantics of `airlock_policy::evaluate` (read
//! alongside `airlock-policy/src/eval.rs` and `condition.rs`): statement matching, condition
//! operators with their missing-key and multi-value rules, `...IfExists`, set qualifiers, globs,
//! ARN field matching, principal matching with account delegation, the same-account OR and
//! cross-account AND, KMS key policies and trust policies as roots of trust, SCPs, RCPs,
//! boundaries, endpoint policies, `RestrictPublicBuckets` and the bucket-owner root exception.
//!
//! One [`Query`] covers one caller class and one target resource. Its formulas are over the
//! request's free parts: the action, the object key, the caller's symbolic attributes, and every
//! context key a policy mentions.

use std::collections::{BTreeMap, BTreeSet};

use airlock_policy::model::{
    ActionClause, Condition, Effect, OperatorKind as O, PrincipalClause, PrincipalEntry,
    Principals, ResourceClause, SetQualifier, Statement, Version,
};
use airlock_policy::operand::{base64_decode, parse_cidr, parse_date, parse_number};
use airlock_policy::setup::SetupPrincipalKind;
use airlock_policy::{NamedPolicy, Policy, PolicyKind};

use crate::catalog::{self, KeyType, ResourceType};
use crate::lang::{CharSet, Re};
use crate::logic::{Atom, Formula, Part, Problem, Sort, VarId};
use crate::sets::{Family, IpSet, NumSet};
use crate::space::{ClassKind, Target, Universe};

/// Why a query cannot be encoded exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

type R<T> = Result<T, Unsupported>;

/// A string-valued source: a constant or a concatenation of variables and literals.
#[derive(Debug, Clone, PartialEq)]
pub enum StrSrc {
    /// Known text.
    Const(String),
    /// Symbolic.
    Term(Vec<Part>),
}

/// Where a condition key's value comes from for one caller class.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySrc {
    /// Never present.
    Absent,
    /// A string value that is present when `present` holds.
    Str {
        /// Presence.
        present: Formula,
        /// Value.
        val: StrSrc,
    },
    /// A context variable of its own sort.
    Var(VarId),
}

/// Kind of caller, as the engine distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Anonymous, service and federated callers: only resource policies can allow.
    ResourceOnly,
    /// The root user.
    Root,
    /// IAM users and role sessions.
    Iam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PKind {
    Root,
    User,
    Role,
    Anonymous,
    Service,
    Federated,
}

#[derive(Debug, Clone)]
enum Tags {
    Const(BTreeMap<String, String>),
    Symbolic,
}

/// The caller of a query.
#[derive(Debug, Clone)]
pub struct Caller_ {
    kind: PKind,
    /// The account, if the caller has one.
    pub acct: Option<StrSrc>,
    path: StrSrc,
    name: StrSrc,
    session: Option<VarId>,
    uid: StrSrc,
    tags: Tags,
    source_identity: bool,
    svc: Option<StrSrc>,
    /// Whether the caller's identity policies are unknown (free flags).
    pub symbolic_identity: bool,
    identity: Vec<NamedPolicy>,
    boundary: Option<NamedPolicy>,
    scps: Vec<Vec<NamedPolicy>>,
}

/// The request variables a counterexample is read from.
#[derive(Debug, Clone)]
pub struct Vars {
    /// The action.
    pub action: VarId,
    /// The object key, for object targets.
    pub object_key: Option<VarId>,
    /// The caller's account, when symbolic.
    pub acct: Option<VarId>,
    /// Path, name, session, unique id, service name of the caller, when symbolic.
    pub path: Option<VarId>,
    /// Name.
    pub name: Option<VarId>,
    /// Session name.
    pub session: Option<VarId>,
    /// Unique id.
    pub uid: Option<VarId>,
    /// Service principal name.
    pub svc: Option<VarId>,
    /// Source identity.
    pub source_identity: Option<VarId>,
    /// Principal tags: lower-cased tag key to variable.
    pub tags: BTreeMap<String, VarId>,
    /// Context keys rendered into the request: lower-cased key to its source.
    pub context: BTreeMap<String, KeySrc>,
}

/// Flag names for a symbolic caller's own IAM policies.
pub const FLAG_ID_ALLOW: &str = "identity-allows";
/// See [`FLAG_ID_ALLOW`].
pub const FLAG_ID_DENY: &str = "identity-denies";

/// The decision formulas of one query.
#[derive(Debug, Clone)]
pub struct DecisionF {
    /// The request is allowed.
    pub allow: Formula,
    /// Some applicable statement denies.
    pub deny: Formula,
}

/// One caller class against one target.
pub struct Query<'u, 's> {
    /// The request space.
    pub u: &'u Universe<'s>,
    /// The caller class index.
    pub class: usize,
    /// The target index.
    pub target: usize,
    /// Variables and atoms.
    pub p: Problem,
    /// Request variables.
    pub vars: Vars,
    /// The caller.
    pub caller: Caller_,
    resource: StrSrc,
    key_families: &'u BTreeMap<String, BTreeSet<Fam>>,
}

/// Operator families, for choosing a context key's sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fam {
    /// String, ARN, Bool, Binary.
    Str,
    /// Numeric.
    Num,
    /// Date.
    Date,
    /// IP address.
    Ip,
    /// Null only.
    Null,
}

fn fam(k: O) -> Fam {
    match k {
        O::NumericEquals
        | O::NumericNotEquals
        | O::NumericLessThan
        | O::NumericLessThanEquals
        | O::NumericGreaterThan
        | O::NumericGreaterThanEquals => Fam::Num,
        O::DateEquals
        | O::DateNotEquals
        | O::DateLessThan
        | O::DateLessThanEquals
        | O::DateGreaterThan
        | O::DateGreaterThanEquals => Fam::Date,
        O::IpAddress | O::NotIpAddress => Fam::Ip,
        O::Null => Fam::Null,
        _ => Fam::Str,
    }
}

/// Which operator families each (lower-cased) condition key is used with across policies.
pub fn key_families<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
) -> BTreeMap<String, BTreeSet<Fam>> {
    let mut m: BTreeMap<String, BTreeSet<Fam>> = BTreeMap::new();
    for p in policies {
        for st in &p.statements {
            for c in &st.conditions {
                m.entry(c.key_lower())
                    .or_default()
                    .insert(fam(c.operator.kind));
            }
        }
    }
    m
}

/// IAM name characters (`[\w+=,.@-]`).
pub fn name_chars() -> CharSet {
    let mut s = CharSet::range('a', 'z')
        .union(&CharSet::range('A', 'Z'))
        .union(&CharSet::range('0', '9'));
    for c in ['_', '+', '=', ',', '.', '@', '-'] {
        s = s.union(&CharSet::single(c));
    }
    s
}

fn digits12() -> Re {
    Re::Set(CharSet::range('0', '9')).repeat(12)
}

fn no_colon() -> Re {
    Re::Star(Box::new(Re::Set(CharSet::single(':').complement())))
}

/// Pattern tokens after policy-variable substitution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PTok {
    /// A literal character.
    Lit(char),
    /// `*`.
    Star,
    /// `?`.
    One,
}

fn toks_plain(s: &str) -> Vec<PTok> {
    s.chars()
        .map(|c| match c {
            '*' => PTok::Star,
            '?' => PTok::One,
            c => PTok::Lit(c),
        })
        .collect()
}

fn glob_re(t: &[PTok]) -> Re {
    Re::Concat(
        t.iter()
            .map(|x| match x {
                PTok::Lit(c) => Re::Set(CharSet::single(*c)),
                PTok::Star => Re::any(),
                PTok::One => Re::any_char(),
            })
            .collect(),
    )
}

fn lit_text(t: &[PTok]) -> String {
    t.iter()
        .map(|x| match x {
            PTok::Lit(c) => *c,
            PTok::Star => '*',
            PTok::One => '?',
        })
        .collect()
}

/// The language of ARNs matched by a pattern (`airlock_policy`'s `arn_match`): five
/// colon-free fields matched separately, the rest by the last pattern field.
pub fn arn_re(t: &[PTok]) -> Re {
    let mut fields: Vec<Vec<PTok>> = Vec::new();
    let mut cur = Vec::new();
    for &x in t {
        if x == PTok::Lit(':') && fields.len() < 5 {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(x);
        }
    }
    fields.push(cur);
    let n = fields.len();
    let mut parts = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i + 1 < n {
            parts.push(glob_re(f).and(no_colon()));
            parts.push(Re::lit(":"));
        } else {
            parts.push(glob_re(f));
        }
    }
    Re::Concat(parts)
}

/// `{v : v.to_lowercase() == p.to_lowercase()}` (the engine's `StringEqualsIgnoreCase`).
pub fn ignore_case_re(p: &str) -> Re {
    let w: Vec<char> = p.chars().flat_map(char::to_lowercase).collect();
    let inv = crate::unicase::inverse_lower_table();
    // L[i]: words whose lowercase is w[i..]
    let mut l: Vec<Re> = vec![Re::Eps; w.len() + 1];
    for i in (0..w.len()).rev() {
        let mut alts = Vec::new();
        for len in 1..=3usize {
            if i + len > w.len() {
                break;
            }
            let u: String = w[i..i + len].iter().collect();
            let mut set = CharSet::empty();
            if len == 1 {
                let c = w[i];
                let lc: String = c.to_lowercase().collect();
                if lc == u {
                    set = set.union(&CharSet::single(c));
                }
            }
            if let Some(cs) = inv.get(&u) {
                for &c in cs {
                    set = set.union(&CharSet::single(c));
                }
            }
            if !set.is_empty() {
                alts.push(Re::Set(set).then(l[i + len].clone()));
            }
        }
        l[i] = Re::Union(alts);
    }
    l.swap_remove(0)
}

/// The request values a string-family operator's positive form matches for one policy value
/// (`raw` as written, `toks` after variable substitution); `None` for other operator families.
pub fn string_op_lang(kind: O, raw: &str, toks: &[PTok]) -> Option<Re> {
    Some(match kind {
        O::StringEquals | O::StringNotEquals => Re::lit(&lit_text(toks)),
        O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase => ignore_case_re(&lit_text(toks)),
        O::StringLike | O::StringNotLike => glob_re(toks),
        O::ArnEquals | O::ArnNotEquals | O::ArnLike | O::ArnNotLike => {
            // condition ARNs need six fields on both sides (the engine's `matches_one`)
            if raw.bytes().filter(|&b| b == b':').count() < 5 {
                return Some(Re::empty());
            }
            let six = Re::Concat(vec![no_colon(), Re::lit(":")])
                .repeat(5)
                .then(Re::any());
            arn_re(toks).and(six)
        }
        O::Bool => {
            let p = lit_text(toks);
            if p.eq_ignore_ascii_case("true") || p.eq_ignore_ascii_case("false") {
                ascii_ci_re(&p)
            } else {
                Re::empty()
            }
        }
        O::BinaryEquals => binary_re(raw),
        _ => return None,
    })
}

/// `{v : v.eq_ignore_ascii_case(p)}` (the engine's `Bool` on a Boolean policy value).
pub fn ascii_ci_re(p: &str) -> Re {
    Re::lit_ci(p)
}

/// The addresses a policy CIDR matches (the engine's `ip_in`).
pub fn cidr_set(p: &str) -> IpSet {
    use std::net::IpAddr;
    let Some((net, prefix)) = parse_cidr(p) else {
        return IpSet::default();
    };
    match net {
        IpAddr::V4(n) => IpSet::cidr(Family::V4, u32::from(n) as u128, prefix),
        IpAddr::V6(n) => {
            let mut s = IpSet::cidr(Family::V6, u128::from(n), prefix);
            if let Some(n4) = n.to_ipv4_mapped()
                && prefix >= 96
            {
                s = s.union(&IpSet::cidr(Family::V4, u32::from(n4) as u128, prefix - 96));
            }
            s
        }
    }
}

/// The base64 strings the engine's `BinaryEquals` matches against policy value `p`.
pub fn binary_re(p: &str) -> Re {
    let Some(bytes) = base64_decode(p) else {
        return Re::lit(p);
    };
    // The encoding has k characters with k mod 4 != 1; trailing '=' are ignored.
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let k = bits.len().div_ceil(6);
    let mut parts = Vec::new();
    for i in 0..k {
        let mut allowed = CharSet::empty();
        for v in 0u8..64 {
            let ok = (0..6).all(|j| {
                let bit = (v >> (5 - j)) & 1;
                match bits.get(i * 6 + j) {
                    Some(&b) => b == bit,
                    None => true, // leftover bits are not checked
                }
            });
            if ok {
                for c in b64_chars(v) {
                    allowed = allowed.union(&CharSet::single(c));
                }
            }
        }
        parts.push(Re::Set(allowed));
    }
    parts.push(Re::Star(Box::new(Re::lit("="))));
    Re::Concat(parts)
}

fn b64_chars(v: u8) -> Vec<char> {
    match v {
        0..=25 => vec![(b'A' + v) as char],
        26..=51 => vec![(b'a' + v - 26) as char],
        52..=61 => vec![(b'0' + v - 52) as char],
        62 => vec!['+', '-'],
        _ => vec!['/', '_'],
    }
}

/// How a resource-policy statement's principal clause matched (the engine's `PMatch`).
#[derive(Debug, Clone)]
struct PM {
    direct: Formula,
    role: Formula,
    account: Formula,
}

impl PM {
    fn any(&self) -> Formula {
        Formula::or([self.direct.clone(), self.role.clone(), self.account.clone()])
    }
}

struct Hit {
    effect: Effect,
    applies: Formula,
    pm: PM,
}

impl<'u, 's> Query<'u, 's> {
    /// Sets up the variables of one caller class against one target.
    pub fn new(
        u: &'u Universe<'s>,
        class: usize,
        target: usize,
        key_families: &'u BTreeMap<String, BTreeSet<Fam>>,
    ) -> R<Query<'u, 's>> {
        let mut p = Problem::new();
        let t = &u.targets[target];
        let acts = catalog::actions_for(t.kind);
        let action = p.var("action", Sort::Str, false, Re::lits(acts.iter().copied()));
        let (resource, object_key) = match t.kind {
            ResourceType::Object => {
                let k = p.var("object-key", Sort::Str, false, Re::any_char().plus());
                (
                    StrSrc::Term(vec![Part::Lit(format!("{}/", t.arn)), Part::Var(k)]),
                    Some(k),
                )
            }
            _ => (StrSrc::Const(t.arn.clone()), None),
        };
        let mut vars = Vars {
            action,
            object_key,
            acct: None,
            path: None,
            name: None,
            session: None,
            uid: None,
            svc: None,
            source_identity: None,
            tags: BTreeMap::new(),
            context: BTreeMap::new(),
        };
        let setup = u.setup;
        let name_dom = Re::Set(name_chars()).plus();
        let path_dom = Re::lit("/").then(Re::Star(Box::new(
            Re::Set(CharSet::range('!', '~').and_not('/'))
                .plus()
                .then(Re::lit("/")),
        )));
        let acct_var = |p: &mut Problem, vars: &mut Vars| {
            let known: Vec<&str> = u.known_accounts.iter().map(String::as_str).collect();
            let v = p.var(
                "principal.account",
                Sort::Str,
                false,
                digits12().and(Re::lits(known).not()),
            );
            vars.acct = Some(v);
            StrSrc::Term(vec![Part::Var(v)])
        };
        let scps_of = |a: &Option<String>| -> Vec<Vec<NamedPolicy>> {
            a.as_ref()
                .map(|a| setup.scp_levels(a).to_vec())
                .unwrap_or_default()
        };
        let caller = match &u.classes[class].kind {
            ClassKind::Known(i) => {
                let sp = &setup.principals()[*i];
                let (kind, session) = match sp.kind {
                    SetupPrincipalKind::Root => (PKind::Root, None),
                    SetupPrincipalKind::User => (PKind::User, None),
                    SetupPrincipalKind::Role => {
                        let s = p.var(
                            "principal.session",
                            Sort::Str,
                            false,
                            Re::Set(name_chars())
                                .repeat(2)
                                .then(Re::Star(Box::new(Re::Set(name_chars())))),
                        );
                        vars.session = Some(s);
                        (PKind::Role, Some(s))
                    }
                };
                Caller_ {
                    kind,
                    acct: Some(StrSrc::Const(sp.account.clone())),
                    path: StrSrc::Const(sp.path.clone()),
                    name: StrSrc::Const(sp.name.clone()),
                    session,
                    uid: StrSrc::Const(sp.id.clone()),
                    tags: Tags::Const(sp.tags.clone()),
                    source_identity: false,
                    svc: None,
                    symbolic_identity: false,
                    identity: sp.identity.clone(),
                    boundary: sp.boundary.clone(),
                    scps: setup.scp_levels(&sp.account).to_vec(),
                }
            }
            ClassKind::Other { account, user } => {
                let acct = match account {
                    Some(a) => StrSrc::Const(a.clone()),
                    None => acct_var(&mut p, &mut vars),
                };
                let kind_s = if *user {
                    SetupPrincipalKind::User
                } else {
                    SetupPrincipalKind::Role
                };
                let taken: Vec<String> = setup
                    .principals()
                    .iter()
                    .filter(|sp| sp.kind == kind_s && Some(&sp.account) == account.as_ref())
                    .map(|sp| sp.name.clone())
                    .collect();
                let name = p.var(
                    "principal.name",
                    Sort::Str,
                    false,
                    name_dom
                        .clone()
                        .and(Re::lits(taken.iter().map(String::as_str)).not()),
                );
                let path = p.var("principal.path", Sort::Str, false, path_dom.clone());
                let idre = Re::lit(if *user { "AIDA" } else { "AROA" }).then(
                    Re::Set(CharSet::range('A', 'Z').union(&CharSet::range('0', '9'))).plus(),
                );
                let uid = p.var("principal.id", Sort::Str, false, idre);
                vars.name = Some(name);
                vars.path = Some(path);
                vars.uid = Some(uid);
                let session = if *user {
                    None
                } else {
                    let s = p.var(
                        "principal.session",
                        Sort::Str,
                        false,
                        Re::Set(name_chars())
                            .repeat(2)
                            .then(Re::Star(Box::new(Re::Set(name_chars())))),
                    );
                    vars.session = Some(s);
                    Some(s)
                };
                Caller_ {
                    kind: if *user { PKind::User } else { PKind::Role },
                    acct: Some(acct),
                    path: StrSrc::Term(vec![Part::Var(path)]),
                    name: StrSrc::Term(vec![Part::Var(name)]),
                    session,
                    uid: StrSrc::Term(vec![Part::Var(uid)]),
                    tags: Tags::Symbolic,
                    source_identity: !*user,
                    svc: None,
                    symbolic_identity: true,
                    identity: Vec::new(),
                    boundary: None,
                    scps: scps_of(account),
                }
            }
            ClassKind::Root { account } => {
                let acct = match account {
                    Some(a) => StrSrc::Const(a.clone()),
                    None => acct_var(&mut p, &mut vars),
                };
                Caller_ {
                    kind: PKind::Root,
                    acct: Some(acct),
                    path: StrSrc::Const("/".into()),
                    name: StrSrc::Const(String::new()),
                    session: None,
                    uid: StrSrc::Const(String::new()),
                    tags: Tags::Const(BTreeMap::new()),
                    source_identity: false,
                    svc: None,
                    symbolic_identity: false,
                    identity: Vec::new(),
                    boundary: None,
                    scps: scps_of(account),
                }
            }
            ClassKind::Federated(f) => {
                let fed = match f {
                    Some(f) => StrSrc::Const(f.clone()),
                    None => {
                        let known: Vec<&str> = u.federated.iter().map(String::as_str).collect();
                        let v = p.var(
                            "principal.provider",
                            Sort::Str,
                            false,
                            Re::any_char().plus().and(Re::lits(known).not()),
                        );
                        vars.svc = Some(v);
                        StrSrc::Term(vec![Part::Var(v)])
                    }
                };
                Caller_ {
                    kind: PKind::Federated,
                    acct: None,
                    path: StrSrc::Const("/".into()),
                    name: StrSrc::Const(String::new()),
                    session: None,
                    uid: StrSrc::Const(String::new()),
                    tags: Tags::Const(BTreeMap::new()),
                    source_identity: false,
                    svc: Some(fed),
                    symbolic_identity: false,
                    identity: Vec::new(),
                    boundary: None,
                    scps: Vec::new(),
                }
            }
            ClassKind::Anonymous | ClassKind::Service(_) => {
                let svc = match &u.classes[class].kind {
                    ClassKind::Service(Some(s)) => Some(StrSrc::Const(s.clone())),
                    ClassKind::Service(None) => {
                        let known: Vec<&str> = u.services.iter().map(String::as_str).collect();
                        let dom = Re::Set(
                            CharSet::range('a', 'z')
                                .union(&CharSet::range('0', '9'))
                                .union(&CharSet::single('-')),
                        )
                        .plus()
                        .then(Re::lit(".amazonaws.com"))
                        .and(Re::lits(known).not());
                        let v = p.var("principal.service", Sort::Str, false, dom);
                        vars.svc = Some(v);
                        Some(StrSrc::Term(vec![Part::Var(v)]))
                    }
                    _ => None,
                };
                Caller_ {
                    kind: if svc.is_some() {
                        PKind::Service
                    } else {
                        PKind::Anonymous
                    },
                    acct: None,
                    path: StrSrc::Const("/".into()),
                    name: StrSrc::Const(String::new()),
                    session: None,
                    uid: StrSrc::Const(String::new()),
                    tags: Tags::Const(BTreeMap::new()),
                    source_identity: false,
                    svc,
                    symbolic_identity: false,
                    identity: Vec::new(),
                    boundary: None,
                    scps: Vec::new(),
                }
            }
        };
        Ok(Query {
            u,
            class,
            target,
            p,
            vars,
            caller,
            resource,
            key_families,
        })
    }

    /// Points the query at the same caller class and target of another universe (another setup),
    /// keeping every request variable, so that two setups can be decided on the same requests.
    pub fn rebind(&mut self, u: &'u Universe<'s>, class: usize, target: usize) -> R<()> {
        let fresh = Query::new(u, class, target, self.key_families)?;
        self.caller.identity = fresh.caller.identity;
        self.caller.boundary = fresh.caller.boundary;
        self.caller.scps = fresh.caller.scps;
        self.caller.tags = fresh.caller.tags;
        self.u = u;
        self.class = class;
        self.target = target;
        Ok(())
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.u.targets[self.target]
    }

    /// The engine's caller category.
    pub fn caller_kind(&self) -> Caller {
        match self.caller.kind {
            PKind::Root => Caller::Root,
            PKind::User | PKind::Role => Caller::Iam,
            PKind::Anonymous | PKind::Service | PKind::Federated => Caller::ResourceOnly,
        }
    }

    /// `src ∈ L`, folded when the source is constant.
    pub fn str_in(&mut self, src: &StrSrc, re: Re) -> Formula {
        match src {
            StrSrc::Const(s) => Formula::Const(re.matches(s)),
            StrSrc::Term(parts) => {
                if parts.iter().all(|p| matches!(p, Part::Lit(_))) {
                    let s: String = parts
                        .iter()
                        .map(|p| match p {
                            Part::Lit(l) => l.as_str(),
                            Part::Var(_) => "",
                        })
                        .collect();
                    return Formula::Const(re.matches(&s));
                }
                self.p.atom(Atom::In(parts.clone(), re))
            }
        }
    }

    /// `src == s`.
    pub fn str_eq(&mut self, src: &StrSrc, s: &str) -> Formula {
        match src {
            StrSrc::Const(c) => Formula::Const(c == s),
            _ => self.str_in(src, Re::lit(s)),
        }
    }

    /// The action is one of the given names (case-insensitive).
    pub fn action_in(&mut self, names: &[&str]) -> Formula {
        let re = Re::Union(names.iter().map(|n| Re::lit_ci(n)).collect());
        let a = self.vars.action;
        self.p.str_in(a, re)
    }

    /// The action matches a glob (case-insensitive).
    pub fn action_glob(&mut self, pat: &str) -> Formula {
        let a = self.vars.action;
        self.p.str_in(a, Re::glob(pat, true))
    }

    fn concat(parts: &[&StrSrc], lits: &[&str]) -> StrSrc {
        // interleave: lits[0] parts[0] lits[1] parts[1] ... ; all constant folds
        let mut out: Vec<Part> = Vec::new();
        for i in 0..lits.len().max(parts.len()) {
            if let Some(l) = lits.get(i)
                && !l.is_empty()
            {
                out.push(Part::Lit((*l).to_string()));
            }
            if let Some(p) = parts.get(i) {
                match p {
                    StrSrc::Const(c) => {
                        if !c.is_empty() {
                            out.push(Part::Lit(c.clone()))
                        }
                    }
                    StrSrc::Term(t) => out.extend(t.iter().cloned()),
                }
            }
        }
        // merge adjacent literals
        let mut merged: Vec<Part> = Vec::new();
        for p in out {
            if let (Some(Part::Lit(a)), Part::Lit(b)) = (merged.last_mut(), &p) {
                a.push_str(b);
                continue;
            }
            merged.push(p);
        }
        if merged.iter().all(|p| matches!(p, Part::Lit(_))) {
            StrSrc::Const(
                merged
                    .into_iter()
                    .map(|p| match p {
                        Part::Lit(l) => l,
                        Part::Var(_) => String::new(),
                    })
                    .collect(),
            )
        } else {
            StrSrc::Term(merged)
        }
    }

    /// `aws:PrincipalArn` of the caller.
    pub fn principal_arn(&self) -> Option<StrSrc> {
        let c = &self.caller;
        let acct = c.acct.as_ref()?;
        Some(match c.kind {
            PKind::Root => Self::concat(&[acct], &["arn:aws:iam::", ":root"]),
            PKind::User => Self::concat(&[acct, &c.path, &c.name], &["arn:aws:iam::", ":user"]),
            PKind::Role => Self::concat(&[acct, &c.path, &c.name], &["arn:aws:iam::", ":role"]),
            _ => return None,
        })
    }

    fn org_of(&self, account: &str) -> Option<String> {
        let doc = self.u.setup.document();
        let org = doc.organization.as_ref()?;
        doc.accounts.get(account)?.organizational_unit.as_ref()?;
        Some(org.id.clone())
    }

    /// Where a condition key's value comes from.
    pub fn key_src(&mut self, lower: &str, fam_hint: Fam) -> R<KeySrc> {
        let t = Formula::t();
        let cs = |v: StrSrc| KeySrc::Str {
            present: Formula::t(),
            val: v,
        };
        let c = self.caller.clone();
        Ok(match lower {
            "aws:principalarn" => self.principal_arn().map(cs).unwrap_or(KeySrc::Absent),
            "aws:principalaccount" => c.acct.clone().map(cs).unwrap_or(KeySrc::Absent),
            "aws:userid" => match c.kind {
                PKind::Root => cs(c.acct.clone().unwrap_or(StrSrc::Const(String::new()))),
                PKind::User => cs(c.uid.clone()),
                PKind::Role => {
                    let sess = StrSrc::Term(vec![Part::Var(
                        c.session.ok_or_else(|| Unsupported("no session".into()))?,
                    )]);
                    cs(Self::concat(&[&c.uid, &sess], &["", ":"]))
                }
                PKind::Anonymous => cs(StrSrc::Const("anonymous".into())),
                PKind::Service | PKind::Federated => KeySrc::Absent,
            },
            "aws:username" => match c.kind {
                PKind::User => cs(c.name.clone()),
                _ => KeySrc::Absent,
            },
            "aws:principaltype" => match c.kind {
                PKind::Root => cs(StrSrc::Const("Account".into())),
                PKind::User => cs(StrSrc::Const("User".into())),
                PKind::Role => cs(StrSrc::Const("AssumedRole".into())),
                PKind::Anonymous => cs(StrSrc::Const("Anonymous".into())),
                PKind::Service | PKind::Federated => KeySrc::Absent,
            },
            "aws:principalisawsservice" => match c.kind {
                PKind::Anonymous => KeySrc::Absent,
                PKind::Service => cs(StrSrc::Const("true".into())),
                _ => cs(StrSrc::Const("false".into())),
            },
            "aws:principalservicename" => match c.kind {
                PKind::Service => c.svc.clone().map(cs).unwrap_or(KeySrc::Absent),
                _ => KeySrc::Absent,
            },
            "aws:resourceaccount" => cs(StrSrc::Const(self.target().account.clone())),
            "aws:sourceidentity" => {
                if c.source_identity {
                    let v = self
                        .p
                        .var("principal.source-identity", Sort::Str, true, Re::any());
                    self.vars.source_identity = Some(v);
                    KeySrc::Var(v)
                } else {
                    KeySrc::Absent
                }
            }
            k if k.starts_with("aws:principaltag/") => {
                let tag = &k["aws:principaltag/".len()..];
                match &c.tags {
                    Tags::Const(m) => m
                        .iter()
                        .find(|(kk, _)| kk.eq_ignore_ascii_case(tag))
                        .map(|(_, v)| cs(StrSrc::Const(v.clone())))
                        .unwrap_or(KeySrc::Absent),
                    Tags::Symbolic => {
                        let v =
                            self.p
                                .var(&format!("principal.tag/{tag}"), Sort::Str, true, Re::any());
                        self.vars.tags.insert(tag.to_string(), v);
                        KeySrc::Var(v)
                    }
                }
            }
            "kms:calleraccount" => match &c.acct {
                Some(a) => {
                    let present = self.action_glob("kms:*");
                    let src = KeySrc::Str {
                        present,
                        val: a.clone(),
                    };
                    self.vars.context.insert(lower.to_string(), src.clone());
                    src
                }
                None => KeySrc::Absent,
            },
            "aws:principalorgid" => {
                let src = match &c.acct {
                    None => KeySrc::Absent,
                    Some(StrSrc::Const(a)) => match self.org_of(a) {
                        Some(org) => cs(StrSrc::Const(org)),
                        None if self.u.setup.accounts().any(|(x, _)| x == a) => KeySrc::Absent,
                        None => self.ctx_var(lower, fam_hint, Some(self.our_org_excluded()))?,
                    },
                    Some(_) => self.ctx_var(lower, fam_hint, Some(self.our_org_excluded()))?,
                };
                self.vars.context.insert(lower.to_string(), src.clone());
                src
            }
            _ => {
                let src = self.ctx_var(lower, fam_hint, None)?;
                self.vars.context.insert(lower.to_string(), src.clone());
                let _ = t;
                src
            }
        })
    }

    fn our_org_excluded(&self) -> Re {
        match &self.u.setup.document().organization {
            Some(o) => Re::lit(&o.id).not(),
            None => Re::any(),
        }
    }

    /// The context variable of a key, declared on first use with the sort its usage implies.
    fn ctx_var(&mut self, lower: &str, fam_hint: Fam, domain: Option<Re>) -> R<KeySrc> {
        let name = format!("ctx:{lower}");
        if let Some(v) = self.p.var_named(&name) {
            return Ok(KeySrc::Var(v));
        }
        let fams: BTreeSet<Fam> = self
            .key_families
            .get(lower)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain([fam_hint])
            .filter(|f| *f != Fam::Null)
            .collect();
        let multi = catalog::key_type(lower) == Some(KeyType::StrList);
        if fams.len() > 1 {
            return Err(Unsupported(format!(
                "condition key {lower} is compared with operators of different types ({fams:?})"
            )));
        }
        let f = fams
            .into_iter()
            .next()
            .unwrap_or(match catalog::key_type(lower) {
                Some(KeyType::Num) => Fam::Num,
                Some(KeyType::Date) => Fam::Date,
                Some(KeyType::Ip) => Fam::Ip,
                _ => Fam::Str,
            });
        let sort = match (f, multi) {
            (Fam::Str | Fam::Null, true) => Sort::StrSet,
            (_, true) => {
                return Err(Unsupported(format!(
                    "multi-valued key {lower} compared as {f:?}"
                )));
            }
            (Fam::Str | Fam::Null, false) => Sort::Str,
            (Fam::Num, false) => Sort::Num,
            (Fam::Date, false) => Sort::Date,
            (Fam::Ip, false) => Sort::Ip,
        };
        // Keys AWS always sets on authenticated requests.
        let (optional, dom) = match lower {
            "aws:securetransport" => (false, Re::lits(["true", "false"])),
            "aws:currenttime" | "aws:epochtime" => (false, Re::any()),
            _ => (true, domain.unwrap_or_else(Re::any)),
        };
        let v = self.p.var(&name, sort, optional, dom);
        Ok(KeySrc::Var(v))
    }

    /// Substitutes policy variables; `Ok(None)` when one is unresolvable (statement void).
    fn expand(&mut self, s: &str, version: Version) -> R<Option<Vec<PTok>>> {
        if version != Version::V2012_10_17 || !s.contains("${") {
            return Ok(Some(toks_plain(s)));
        }
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.extend(toks_plain(&rest[..i]));
            let after = &rest[i + 2..];
            let Some(close) = after.find('}') else {
                out.extend(toks_plain(&rest[i..]));
                rest = "";
                break;
            };
            let inner = &after[..close];
            rest = &after[close + 1..];
            match inner {
                "*" => out.push(PTok::Lit('*')),
                "?" => out.push(PTok::Lit('?')),
                "$" => out.push(PTok::Lit('$')),
                _ => {
                    let (key, default) = match inner.split_once(',') {
                        Some((k, d)) => {
                            let d = d.trim();
                            (
                                k.trim(),
                                d.strip_prefix('\'')
                                    .and_then(|d| d.strip_suffix('\''))
                                    .map(str::to_string),
                            )
                        }
                        None => (inner.trim(), None),
                    };
                    let src = self.key_src(&key.to_ascii_lowercase(), Fam::Str)?;
                    let val = match src {
                        KeySrc::Absent => None,
                        KeySrc::Str {
                            present: Formula::Const(true),
                            val: StrSrc::Const(v),
                        } => Some(v),
                        KeySrc::Str {
                            present: Formula::Const(false),
                            ..
                        } => None,
                        _ => {
                            return Err(Unsupported(format!(
                                "policy variable ${{{key}}} relates the request's {key} to another request value"
                            )));
                        }
                    };
                    match val.or(default) {
                        Some(v) => out.extend(v.chars().map(PTok::Lit)),
                        None => return Ok(None),
                    }
                }
            }
        }
        out.extend(toks_plain(rest));
        Ok(Some(out))
    }

    /// The language of request values matching policy value `p` under a string-family operator.
    fn str_lang(&mut self, kind: O, p: &str, version: Version) -> R<Option<Re>> {
        let vars = version == Version::V2012_10_17
            && p.contains("${")
            && matches!(
                kind,
                O::StringEquals
                    | O::StringNotEquals
                    | O::StringEqualsIgnoreCase
                    | O::StringNotEqualsIgnoreCase
                    | O::StringLike
                    | O::StringNotLike
                    | O::ArnEquals
                    | O::ArnNotEquals
                    | O::ArnLike
                    | O::ArnNotLike
                    | O::Bool
            );
        if matches!(
            kind,
            O::ArnEquals | O::ArnNotEquals | O::ArnLike | O::ArnNotLike
        ) && p.bytes().filter(|&b| b == b':').count() < 5
        {
            return Ok(Some(Re::empty()));
        }
        let toks = if vars {
            match self.expand(p, version)? {
                Some(t) => t,
                None => return Ok(None),
            }
        } else {
            toks_plain(p)
        };
        match string_op_lang(kind, p, &toks) {
            Some(l) => Ok(Some(l)),
            None => Err(Unsupported(format!("{kind:?} on a string value"))),
        }
    }

    /// One condition (the engine's `condition::holds`). `Ok(None)`: the statement is void.
    fn condition(&mut self, c: &Condition, version: Version) -> R<Option<Formula>> {
        let op = c.operator;
        let key = c.key_lower();
        let src = self.key_src(&key, fam(op.kind))?;
        let present = match &src {
            KeySrc::Absent => Formula::f(),
            KeySrc::Str { present, .. } => present.clone(),
            KeySrc::Var(v) => self.p.present(*v),
        };
        if op.kind == O::Null {
            let mut alts = Vec::new();
            for v in &c.values {
                if v.eq_ignore_ascii_case("true") {
                    alts.push(present.clone().not());
                } else if v.eq_ignore_ascii_case("false") {
                    alts.push(present.clone());
                }
            }
            return Ok(Some(Formula::or(alts)));
        }
        let missing = if op.if_exists {
            true
        } else {
            match op.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => op.kind.is_negated(),
            }
        };
        let negated = op.kind.is_negated();
        let when_present: Formula = match &src {
            KeySrc::Absent => Formula::f(),
            KeySrc::Str { val, .. } => {
                let val = val.clone();
                let a = self.accept_lang(c, version)?;
                self.str_in(&val, a)
            }
            KeySrc::Var(v) => {
                let v = *v;
                match self.p.decl(v).sort {
                    Sort::Str => {
                        let a = self.accept_lang(c, version)?;
                        self.p.str_in(v, a)
                    }
                    Sort::StrSet => match op.qualifier {
                        None => Formula::f(),
                        Some(q) => {
                            let a = self.accept_lang(c, version)?;
                            match q {
                                SetQualifier::ForAnyValue => self.p.atom(Atom::SetAny(v, a)),
                                SetQualifier::ForAllValues => self.p.atom(Atom::SetAll(v, a)),
                            }
                        }
                    },
                    Sort::Num | Sort::Date => {
                        let date = self.p.decl(v).sort == Sort::Date;
                        let mut s = NumSet(Vec::new());
                        for pv in &c.values {
                            let x = if date {
                                parse_date(pv).map(|x| x as f64)
                            } else {
                                parse_number(pv)
                            };
                            let Some(x) = x else { continue };
                            let part = match op.kind {
                                O::NumericEquals
                                | O::NumericNotEquals
                                | O::DateEquals
                                | O::DateNotEquals => NumSet::point(x),
                                O::NumericLessThan | O::DateLessThan => NumSet::below(x, false),
                                O::NumericLessThanEquals | O::DateLessThanEquals => {
                                    NumSet::below(x, true)
                                }
                                O::NumericGreaterThan | O::DateGreaterThan => {
                                    NumSet::above(x, false)
                                }
                                O::NumericGreaterThanEquals | O::DateGreaterThanEquals => {
                                    NumSet::above(x, true)
                                }
                                _ => {
                                    return Err(Unsupported(format!(
                                        "{:?} on a numeric key",
                                        op.kind
                                    )));
                                }
                            };
                            s = s.union(&part);
                        }
                        if (fam(op.kind) == Fam::Date) != date {
                            return Err(Unsupported(format!(
                                "key {key} compared as number and as date"
                            )));
                        }
                        let m = self.p.atom(Atom::Num(v, s));
                        if negated { m.not() } else { m }
                    }
                    Sort::Ip => {
                        if fam(op.kind) != Fam::Ip {
                            return Err(Unsupported(format!(
                                "key {key} compared as IP address and otherwise"
                            )));
                        }
                        let mut s = IpSet::default();
                        for pv in &c.values {
                            s = s.union(&cidr_set(pv));
                        }
                        let m = self.p.atom(Atom::Ip(v, s));
                        if negated { m.not() } else { m }
                    }
                }
            }
        };
        Ok(Some(Formula::or([
            Formula::and([present.clone().not(), Formula::Const(missing)]),
            Formula::and([present, when_present]),
        ])))
    }

    /// The request values one string-family condition accepts (the engine's `base`): for a
    /// positive operator, those matching some resolvable policy value; for a negated one, those
    /// matching none, unless a policy value has an unresolvable variable (then none).
    fn accept_lang(&mut self, c: &Condition, version: Version) -> R<Re> {
        let mut alts = Vec::new();
        let mut unresolved = false;
        for v in &c.values {
            match self.str_lang(c.operator.kind, v, version)? {
                Some(l) => alts.push(l),
                None => unresolved = true,
            }
        }
        let l = Re::Union(alts);
        Ok(if !c.operator.kind.is_negated() {
            l
        } else if unresolved {
            Re::empty()
        } else {
            l.not()
        })
    }

    fn entry_pm(&mut self, e: &PrincipalEntry) -> PM {
        let f = Formula::f;
        let c = self.caller.clone();
        let none = PM {
            direct: f(),
            role: f(),
            account: f(),
        };
        match e {
            PrincipalEntry::AwsAny => PM {
                direct: Formula::t(),
                ..none
            },
            PrincipalEntry::Account(a) => match (c.kind, &c.acct) {
                (PKind::Root, Some(acct)) => PM {
                    direct: self.str_eq(acct, a),
                    ..none
                },
                (PKind::User | PKind::Role, Some(acct)) => PM {
                    account: self.str_eq(acct, a),
                    ..none
                },
                _ => none,
            },
            PrincipalEntry::Arn(arn) => match c.kind {
                PKind::User => {
                    let Some(pa) = self.principal_arn() else {
                        return none;
                    };
                    PM {
                        direct: self.str_eq(&pa, arn),
                        ..none
                    }
                }
                PKind::Role => {
                    let direct = self.session_arn_match(arn);
                    let Some(pa) = self.principal_arn() else {
                        return none;
                    };
                    PM {
                        direct,
                        role: self.str_eq(&pa, arn),
                        ..none
                    }
                }
                _ => none,
            },
            PrincipalEntry::UniqueId(id) => match c.kind {
                PKind::User => PM {
                    direct: self.str_eq(&c.uid, id),
                    ..none
                },
                PKind::Role => PM {
                    role: self.str_eq(&c.uid, id),
                    ..none
                },
                _ => none,
            },
            PrincipalEntry::Service(s) => match (&c.kind, &c.svc) {
                (PKind::Service, Some(n)) => PM {
                    direct: self.str_eq(n, s),
                    ..none
                },
                _ => none,
            },
            PrincipalEntry::Federated(f) => match (&c.kind, &c.svc) {
                (PKind::Federated, Some(n)) => PM {
                    direct: self.str_eq(n, f),
                    ..none
                },
                _ => none,
            },
            PrincipalEntry::CanonicalUser(_) => none,
        }
    }

    /// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` names this caller's session.
    fn session_arn_match(&mut self, arn: &str) -> Formula {
        let c = self.caller.clone();
        let Some(rest) = arn.strip_prefix("arn:aws:sts::") else {
            return Formula::f();
        };
        let (Some(acct), Some(sess)) = (&c.acct, c.session) else {
            return Formula::f();
        };
        // account: the text up to the first ':' must equal the caller's account (12 digits)
        let Some((a, rest)) = rest.split_once(':') else {
            return Formula::f();
        };
        let Some(rest) = rest.strip_prefix("assumed-role/") else {
            return Formula::f();
        };
        // the role name has no '/', the session name neither (both name characters)
        let Some((n, s)) = rest.split_once('/') else {
            return Formula::f();
        };
        let fa = self.str_eq(acct, a);
        let fn_ = self.str_eq(&c.name, n);
        let fs = self.p.str_in(sess, Re::lit(s));
        Formula::and([fa, fn_, fs])
    }

    fn principal_pm(&mut self, p: &Principals) -> PM {
        match p {
            Principals::Any => PM {
                direct: Formula::t(),
                role: Formula::f(),
                account: Formula::f(),
            },
            Principals::Listed(es) => {
                let mut d = Vec::new();
                let mut r = Vec::new();
                let mut a = Vec::new();
                for e in es {
                    let pm = self.entry_pm(e);
                    d.push(pm.direct);
                    r.push(pm.role);
                    a.push(pm.account);
                }
                PM {
                    direct: Formula::or(d),
                    role: Formula::or(r),
                    account: Formula::or(a),
                }
            }
        }
    }

    /// The engine's `not_principal_excludes`.
    fn not_principal_excludes(&mut self, p: &Principals) -> Formula {
        let es = match p {
            Principals::Any => return Formula::t(),
            Principals::Listed(es) => es,
        };
        if es.contains(&PrincipalEntry::AwsAny) {
            return Formula::t();
        }
        let c = self.caller.clone();
        let mut account_named = Vec::new();
        if let Some(acct) = &c.acct {
            for e in es {
                if let PrincipalEntry::Account(a) = e {
                    account_named.push(self.str_eq(acct, a));
                }
            }
        }
        let account_named = Formula::or(account_named);
        let pms: Vec<PM> = es.iter().map(|e| self.entry_pm(e)).collect();
        match c.kind {
            PKind::Anonymous => Formula::f(),
            PKind::Root => account_named,
            PKind::User => Formula::and([
                account_named,
                Formula::or(pms.iter().map(|m| m.direct.clone())),
            ]),
            PKind::Role => {
                let role = Formula::or(pms.iter().map(|m| m.role.clone()));
                let mut sess = Vec::new();
                for e in es {
                    if let PrincipalEntry::Arn(arn) = e {
                        sess.push(self.session_arn_match(arn));
                    }
                }
                Formula::and([account_named, role, Formula::or(sess)])
            }
            PKind::Service | PKind::Federated => Formula::or(pms.iter().map(PM::any)),
        }
    }

    /// Whether some resource pattern matches, and whether some pattern had an unresolvable
    /// policy variable (the engine's `resources_hit`).
    fn resource_hit(
        &mut self,
        pats: &[airlock_policy::ResourcePattern],
        version: Version,
    ) -> R<(Formula, bool)> {
        let mut alts = Vec::new();
        let mut unresolved = false;
        let res = self.resource.clone();
        for p in pats {
            match self.expand(&p.0, version)? {
                Some(toks) => alts.push(self.str_in(&res, arn_re(&toks))),
                None => unresolved = true,
            }
        }
        Ok((Formula::or(alts), unresolved))
    }

    /// Whether a statement applies, and how its principal clause matched.
    fn statement(
        &mut self,
        st: &Statement,
        version: Version,
        boundary_present: bool,
    ) -> R<(Formula, PM)> {
        let void = || {
            (
                Formula::f(),
                PM {
                    direct: Formula::f(),
                    role: Formula::f(),
                    account: Formula::f(),
                },
            )
        };
        let act = match &st.action {
            ActionClause::Action(ps) => Formula::or(
                ps.iter()
                    .map(|p| self.action_glob(&p.0))
                    .collect::<Vec<_>>(),
            ),
            ActionClause::NotAction(ps) => Formula::or(
                ps.iter()
                    .map(|p| self.action_glob(&p.0))
                    .collect::<Vec<_>>(),
            )
            .not(),
        };
        if act == Formula::f() {
            return Ok(void());
        }
        let res = match &st.resource {
            None => Formula::t(),
            Some(ResourceClause::Resource(p)) => self.resource_hit(p, version)?.0,
            // an unresolvable pattern cannot be "not matched" either
            Some(ResourceClause::NotResource(p)) => match self.resource_hit(p, version)? {
                (f, false) => f.not(),
                (_, true) => Formula::f(),
            },
        };
        if res == Formula::f() {
            return Ok(void());
        }
        let pm = match &st.principal {
            None => PM {
                direct: Formula::t(),
                role: Formula::f(),
                account: Formula::f(),
            },
            Some(PrincipalClause::Principal(p)) => self.principal_pm(p),
            Some(PrincipalClause::NotPrincipal(p)) => {
                let forced = st.effect == Effect::Deny && boundary_present;
                let d = if forced {
                    Formula::t()
                } else {
                    self.not_principal_excludes(p).not()
                };
                PM {
                    direct: d,
                    role: Formula::f(),
                    account: Formula::f(),
                }
            }
        };
        let mut conds = Vec::new();
        for c in &st.conditions {
            match self.condition(c, version)? {
                Some(f) => conds.push(f),
                None => return Ok(void()),
            }
        }
        Ok((Formula::and([act, res, Formula::and(conds)]), pm))
    }

    fn scan(&mut self, policy: &Policy, boundary_present: bool) -> R<Vec<Hit>> {
        let mut out = Vec::new();
        for st in &policy.statements {
            let (applies, pm) = self.statement(st, policy.version, boundary_present)?;
            out.push(Hit {
                effect: st.effect,
                applies,
                pm,
            });
        }
        Ok(out)
    }

    /// The statement-level applicability of every statement of one policy (for findings).
    pub fn statement_applies(&mut self, policy: &Policy, index: usize) -> R<Formula> {
        let st = &policy.statements[index];
        let (a, pm) = self.statement(st, policy.version, false)?;
        Ok(Formula::and([a, pm.any()]))
    }

    fn allows(hits: &[Hit]) -> Formula {
        Formula::or(
            hits.iter()
                .filter(|h| h.effect == Effect::Allow)
                .map(|h| Formula::and([h.applies.clone(), h.pm.any()])),
        )
    }
    fn denies(hits: &[Hit]) -> Formula {
        Formula::or(
            hits.iter()
                .filter(|h| h.effect == Effect::Deny)
                .map(|h| Formula::and([h.applies.clone(), h.pm.any()])),
        )
    }

    /// The resource policy as the setup assembles it for this caller (RestrictPublicBuckets).
    pub fn effective_resource_policy(&self) -> Option<NamedPolicy> {
        let t = self.target();
        let pol = t.policy.clone()?;
        if matches!(t.kind, ResourceType::Bucket | ResourceType::Object) {
            let setup = self.u.setup;
            let r = &setup.resources()[t.index];
            if setup
                .effective_public_access_block(r)
                .restrict_public_buckets
                && airlock_policy::public::is_public(&pol.policy)
            {
                let inside = match self.caller.kind {
                    PKind::Service => true,
                    PKind::Anonymous => false,
                    _ => matches!(&self.caller.acct, Some(StrSrc::Const(a)) if *a == t.account),
                };
                if !inside {
                    let denies = Policy {
                        version: pol.policy.version,
                        id: pol.policy.id.clone(),
                        statements: pol
                            .policy
                            .statements
                            .iter()
                            .filter(|s| s.effect == Effect::Deny)
                            .cloned()
                            .collect(),
                    };
                    return Some(NamedPolicy {
                        id: airlock_policy::PolicyId {
                            kind: pol.id.kind,
                            name: format!(
                                "{} (RestrictPublicBuckets: allows ignored)",
                                pol.id.name
                            ),
                        },
                        policy: std::sync::Arc::new(denies),
                    });
                }
            }
        }
        Some(pol)
    }

    /// The decision of the setup for this class and target, as formulas. `resource_override`
    /// replaces the target's resource policy (for `no-new-access`).
    pub fn decision(&mut self, resource_override: Option<Option<NamedPolicy>>) -> R<DecisionF> {
        let caller = self.caller_kind();
        let t = self.target().clone();
        let resource_policy = match resource_override {
            Some(p) => p,
            None => self.effective_resource_policy(),
        };
        let cross = match (&self.caller.acct, caller) {
            (_, Caller::ResourceOnly) => Formula::f(),
            (Some(StrSrc::Const(a)), _) => Formula::Const(*a != t.account),
            (Some(_), _) => Formula::t(), // unknown accounts are never the owner
            (None, _) => Formula::f(),
        };
        let c = self.caller.clone();
        let boundary_present = caller == Caller::Iam && c.boundary.is_some();
        let mut deny = Vec::new();
        // identity side
        let mut identity_allows = match caller {
            Caller::Root => Formula::t(),
            Caller::ResourceOnly => Formula::f(),
            Caller::Iam => Formula::f(),
        };
        let mut boundary_ok = Formula::t();
        if caller == Caller::Iam {
            if c.symbolic_identity {
                identity_allows = self.p.flag(FLAG_ID_ALLOW);
                deny.push(self.p.flag(FLAG_ID_DENY));
            } else {
                let mut hits = Vec::new();
                for pol in &c.identity {
                    hits.extend(self.scan(&pol.policy, boundary_present)?);
                }
                identity_allows = Self::allows(&hits);
                deny.push(Self::denies(&hits));
            }
            if let Some(b) = &c.boundary {
                let hits = self.scan(&b.policy, boundary_present)?;
                boundary_ok = Self::allows(&hits);
                deny.push(Self::denies(&hits));
            }
        }
        let mut scp_ok = Vec::new();
        if caller != Caller::ResourceOnly {
            for level in &c.scps {
                let mut hits = Vec::new();
                for pol in level {
                    hits.extend(self.scan(&pol.policy, boundary_present)?);
                }
                scp_ok.push(Self::allows(&hits));
                deny.push(Self::denies(&hits));
            }
        }
        {
            // RCPs bind every caller, service principals included
            for level in self.u.setup.rcp_levels(&t.account).to_vec() {
                let mut hits = Vec::new();
                for pol in &level {
                    hits.extend(self.scan(&pol.policy, boundary_present)?);
                }
                scp_ok.push(Self::allows(&hits));
                deny.push(Self::denies(&hits));
            }
        }
        // endpoint policies, chosen by aws:SourceVpce
        let mut ep_ok = Vec::new();
        let endpoints = self.u.setup.endpoints().to_vec();
        if !endpoints.is_empty() {
            let KeySrc::Var(vpce) = self.key_src("aws:sourcevpce", Fam::Str)? else {
                return Err(Unsupported("aws:SourceVpce is not a context key".into()));
            };
            for e in &endpoints {
                let via = Formula::and([self.p.present(vpce), self.p.str_in(vpce, Re::lit(&e.id))]);
                let hits = self.scan(&e.policy.policy, boundary_present)?;
                ep_ok.push(Formula::implies(via.clone(), Self::allows(&hits)));
                deny.push(Formula::and([via, Self::denies(&hits)]));
            }
        }
        // resource policy
        let (res_direct, res_role, res_acct, res_deny) = match &resource_policy {
            Some(rp) => {
                let hits = self.scan(&rp.policy, boundary_present)?;
                let allow_hits: Vec<&Hit> =
                    hits.iter().filter(|h| h.effect == Effect::Allow).collect();
                let d = Formula::or(
                    allow_hits
                        .iter()
                        .map(|h| Formula::and([h.applies.clone(), h.pm.direct.clone()])),
                );
                let r = Formula::or(
                    allow_hits
                        .iter()
                        .map(|h| Formula::and([h.applies.clone(), h.pm.role.clone()])),
                );
                let a = Formula::or(
                    allow_hits
                        .iter()
                        .map(|h| Formula::and([h.applies.clone(), h.pm.account.clone()])),
                );
                (d, r, a, Self::denies(&hits))
            }
            None => (Formula::f(), Formula::f(), Formula::f(), Formula::f()),
        };
        // the bucket owner's root may always manage the bucket policy
        let root_exc = if c.kind == PKind::Root
            && matches!(
                resource_policy.as_ref().map(|p| p.id.kind),
                Some(PolicyKind::Resource)
            ) {
            let a = self.action_in(&[
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
            ]);
            Formula::and([cross.clone().not(), a])
        } else {
            Formula::f()
        };
        deny.push(Formula::and([res_deny, root_exc.not()]));
        let deny = Formula::or(deny);

        let identity_side = Formula::and([identity_allows, boundary_ok.clone()]);
        let res_some = Formula::or([res_direct.clone(), res_role.clone(), res_acct]);
        let res_direct_ok = Formula::or([res_direct, Formula::and([res_role, boundary_ok])]);
        let root_of_trust = matches!(
            resource_policy.as_ref().map(|p| p.id.kind),
            Some(PolicyKind::Key | PolicyKind::Trust)
        );
        let core = match caller {
            Caller::ResourceOnly => res_some.clone(),
            _ => {
                let cross_rule = Formula::and([res_some.clone(), identity_side.clone()]);
                let same_rule = if root_of_trust {
                    Formula::or([res_direct_ok, Formula::and([res_some, identity_side])])
                } else {
                    Formula::or([identity_side, res_direct_ok])
                };
                Formula::or([
                    Formula::and([cross.clone(), cross_rule]),
                    Formula::and([cross.not(), same_rule]),
                ])
            }
        };
        let allow = Formula::and([
            deny.clone().not(),
            Formula::and(scp_ok),
            Formula::and(ep_ok),
            core,
        ]);
        Ok(DecisionF { allow, deny })
    }

    /// Facts every real request satisfies (network keys, service keys, endpoint identity).
    pub fn axioms(&mut self) -> Formula {
        let mut ax = Vec::new();
        let vars: Vec<(String, VarId)> = self
            .p
            .vars
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.name
                    .strip_prefix("ctx:")
                    .map(|k| (k.to_string(), VarId(i as u32)))
            })
            .collect();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let vpce = get("aws:sourcevpce");
        let vpc = get("aws:sourcevpc");
        let vpce_acct = get("aws:vpceaccount");
        let sip = get("aws:sourceip");
        let via = get("kms:viaservice");
        // endpoint keys come together
        let net: Vec<VarId> = [vpce, vpc, vpce_acct].into_iter().flatten().collect();
        for w in net.windows(2) {
            let a = self.p.present(w[0]);
            let b = self.p.present(w[1]);
            ax.push(Formula::iff(a, b));
        }
        if let (Some(e), Some(ip)) = (net.first().copied(), sip) {
            let a = self.p.present(e);
            let b = self.p.present(ip);
            ax.push(Formula::implies(a, b.not()));
        }
        if let (Some(v), Some(e)) = (via, net.first().copied()) {
            let a = self.p.present(v);
            let b = self.p.present(e);
            ax.push(Formula::implies(a, b.not()));
        }
        if let Some(vpce) = vpce {
            for e in self.u.setup.endpoints().to_vec() {
                let is_e = self.p.str_in(vpce, Re::lit(&e.id));
                let svc = e.service.rsplit('.').next().unwrap_or("").to_string();
                let mut cons = vec![self.action_glob(&format!("{svc}:*"))];
                if let (Some(vv), Some(id)) = (vpc, &e.vpc) {
                    cons.push(self.p.str_in(vv, Re::lit(id)));
                }
                if let Some(va) = vpce_acct {
                    cons.push(self.p.str_in(va, Re::lit(&e.account)));
                }
                ax.push(Formula::implies(is_e, Formula::and(cons)));
            }
        }
        // service keys exist only on their service's actions; some only on specific actions
        for (k, v) in &vars {
            let present = self.p.present(*v);
            if let Some(svc) = catalog::key_service(k) {
                let only: Option<&[&str]> = match k.as_str() {
                    "s3:x-amz-server-side-encryption"
                    | "s3:x-amz-server-side-encryption-aws-kms-key-id" => Some(&["s3:PutObject"]),
                    "s3:prefix" | "s3:delimiter" | "s3:max-keys" => {
                        Some(&["s3:ListBucket", "s3:ListBucketVersions"])
                    }
                    _ => None,
                };
                let cond = match only {
                    Some(acts) => self.action_in(acts),
                    None => self.action_glob(&format!("{svc}:*")),
                };
                ax.push(Formula::implies(present, cond));
            }
        }
        Formula::and(ax)
    }
}

trait AndNot {
    fn and_not(self, c: char) -> CharSet;
}
impl AndNot for CharSet {
    fn and_not(self, c: char) -> CharSet {
        let out: Vec<(u32, u32)> = self
            .ranges()
            .iter()
            .flat_map(|&(a, b)| {
                let c = c as u32;
                if c < a || c > b {
                    vec![(a, b)]
                } else {
                    let mut v = Vec::new();
                    if c > a {
                        v.push((a, c - 1));
                    }
                    if c < b {
                        v.push((c + 1, b));
                    }
                    v
                }
            })
            .collect();
        CharSet::from_ranges(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(p: &str, s: &str) -> bool {
        arn_re(&toks_plain(p)).matches(s)
    }

    #[test]
    fn arn_fields_like_the_engine() {
        // the engine's own cases (airlock-policy glob.rs)
        assert!(arn("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b"));
        assert!(!arn("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        assert!(arn("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket"));
        assert!(arn(
            "arn:aws:kms:*:222222222222:key/*",
            "arn:aws:kms:us-east-1:222222222222:key/k"
        ));
        assert!(!arn(
            "arn:aws:ec2:us-*:1:instance/x",
            "arn:aws:ec2:us-east:1:1:instance/x"
        ));
        assert!(arn("arn:aws:iam::*", "arn:aws:iam::123456789012:role/x"));
        assert!(arn(
            "arn:aws:logs:us-east-1:1:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:a:b"
        ));
        assert!(arn("*", "*"));
        assert!(!arn("arn:aws:s3:::b", "*"));
        assert!(!arn("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/x"));
    }

    #[test]
    fn ignore_case_follows_unicode_lowercase() {
        let r = ignore_case_re("Dev");
        assert!(r.matches("dev") && r.matches("DEV") && !r.matches("de"));
        // KELVIN SIGN lower-cases to 'k'
        assert!(ignore_case_re("k").matches("\u{212A}"));
    }

    #[test]
    fn binary_equals_accepts_every_encoding_of_the_bytes() {
        let r = binary_re("QmluYXJ5VmFsdWU=");
        assert!(
            r.matches("QmluYXJ5VmFsdWU=")
                && r.matches("QmluYXJ5VmFsdWU")
                && r.matches("QmluYXJ5VmFsdWU==")
        );
        // the last character carries two unchecked bits (the engine ignores them too)
        assert!(r.matches("QmluYXJ5VmFsdWV"));
        assert!(!r.matches("QmluYXJ5VmFsdWZ"));
        assert!(binary_re("!!").matches("!!"));
    }

    #[test]
    fn cidr_sets_like_the_engine() {
        assert!(cidr_set("10.0.0.0/8").contains(Family::V4, 0x0a01_0203));
        assert!(cidr_set("::ffff:10.0.0.0/104").contains(Family::V4, 0x0a01_0203));
        assert!(!cidr_set("2001:db8::/32").contains(Family::V4, 0x0a01_0203));
        assert!(cidr_set("10.0.0.0/33").is_empty());
    }
}
