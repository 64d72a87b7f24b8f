//! Queries: typed variables, theory atoms over them, and Boolean formulas of atoms.
//!
//! Semantics of atoms (shared by the solver, the model checker and the SMT-LIB printer):
//! - an *optional* variable may be absent (a context key the request does not carry); every value
//!   atom (`In`, `SetAny`, `SetAll`, `Num`, `Ip`) is **false** on an absent variable;
//! - `In(term, L)`: the concatenation of the term's parts is in the regular language `L`;
//! - `SetAny(v, L)` / `SetAll(v, L)`: some / every element of the set value is in `L`;
//! - `Num(v, S)`: the value is a number and lies in `S` (a non-numeric value satisfies no `Num`);
//! - `Ip(v, S)`: the value is an IP address in `S` (a non-address satisfies no `Ip`);
//! - `Flag(name)`: a free Boolean (e.g. "the unlisted principal's own IAM policies allow").

use std::collections::HashMap;

use crate::lang::Re;
use crate::sets::{Family, IpSet, NumSet};

/// Index of a variable in a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// Index of an atom in a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AtomId(pub u32);

/// The sort of a variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    /// One string.
    Str,
    /// A set of strings (multi-valued context key).
    StrSet,
    /// A number (or a non-numeric string).
    Num,
    /// A date, as seconds since the epoch (or an unparsable string).
    Date,
    /// An IP address (or a non-address string).
    Ip,
}

/// A variable declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDecl {
    /// Human name (`aws:SourceVpce`, `action`, `principal.arn`, ...).
    pub name: String,
    /// Sort.
    pub sort: Sort,
    /// Whether the variable may be absent.
    pub optional: bool,
    /// For string sorts: the language every (element) value belongs to.
    pub domain: Re,
}

/// A part of a string term.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// A string variable's value.
    Var(VarId),
    /// Literal text.
    Lit(String),
}

/// A theory atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Atom {
    /// The variable is present.
    Present(VarId),
    /// The concatenation of the parts is in the language.
    In(Vec<Part>, Re),
    /// Some element of the set is in the language.
    SetAny(VarId, Re),
    /// Every element of the set is in the language (false when absent).
    SetAll(VarId, Re),
    /// Numeric (or date) value within the set.
    Num(VarId, NumSet),
    /// IP address within the set.
    Ip(VarId, IpSet),
    /// A free Boolean.
    Flag(String),
}

/// A Boolean formula over atoms.
#[derive(Debug, Clone, PartialEq)]
pub enum Formula {
    /// A constant.
    Const(bool),
    /// An atom.
    Atom(AtomId),
    /// Negation.
    Not(Box<Formula>),
    /// Conjunction.
    And(Vec<Formula>),
    /// Disjunction.
    Or(Vec<Formula>),
}

impl Formula {
    /// True.
    pub fn t() -> Formula {
        Formula::Const(true)
    }
    /// False.
    pub fn f() -> Formula {
        Formula::Const(false)
    }
    /// Negation with constant folding.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Formula {
        match self {
            Formula::Const(b) => Formula::Const(!b),
            Formula::Not(x) => *x,
            x => Formula::Not(Box::new(x)),
        }
    }
    /// Conjunction with constant folding and flattening.
    pub fn and(v: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for f in v {
            match f {
                Formula::Const(true) => {}
                Formula::Const(false) => return Formula::Const(false),
                Formula::And(xs) => out.extend(xs),
                x => out.push(x),
            }
        }
        match out.len() {
            0 => Formula::Const(true),
            1 => out.pop().unwrap_or(Formula::Const(true)),
            _ => Formula::And(out),
        }
    }
    /// Disjunction with constant folding and flattening.
    pub fn or(v: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for f in v {
            match f {
                Formula::Const(false) => {}
                Formula::Const(true) => return Formula::Const(true),
                Formula::Or(xs) => out.extend(xs),
                x => out.push(x),
            }
        }
        match out.len() {
            0 => Formula::Const(false),
            1 => out.pop().unwrap_or(Formula::Const(false)),
            _ => Formula::Or(out),
        }
    }
    /// Implication.
    pub fn implies(a: Formula, b: Formula) -> Formula {
        Formula::or([a.not(), b])
    }
    /// Equivalence.
    pub fn iff(a: Formula, b: Formula) -> Formula {
        Formula::and([
            Formula::implies(a.clone(), b.clone()),
            Formula::implies(b, a),
        ])
    }
    /// Number of nodes.
    pub fn size(&self) -> usize {
        match self {
            Formula::Const(_) | Formula::Atom(_) => 1,
            Formula::Not(x) => 1 + x.size(),
            Formula::And(v) | Formula::Or(v) => 1 + v.iter().map(Formula::size).sum::<usize>(),
        }
    }
}

/// Variables and atoms of one family of queries.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    /// Variables.
    pub vars: Vec<VarDecl>,
    /// Atoms.
    pub atoms: Vec<Atom>,
    atom_ids: HashMap<Atom, AtomId>,
    var_ids: HashMap<String, VarId>,
}

impl Problem {
    /// An empty problem.
    pub fn new() -> Problem {
        Problem::default()
    }
    /// Declares a variable (or returns the existing one of that name).
    pub fn var(&mut self, name: &str, sort: Sort, optional: bool, domain: Re) -> VarId {
        if let Some(&v) = self.var_ids.get(name) {
            return v;
        }
        let id = VarId(self.vars.len() as u32);
        self.vars.push(VarDecl {
            name: name.to_string(),
            sort,
            optional,
            domain,
        });
        self.var_ids.insert(name.to_string(), id);
        id
    }
    /// Looks a variable up by name.
    pub fn var_named(&self, name: &str) -> Option<VarId> {
        self.var_ids.get(name).copied()
    }
    /// The declaration of a variable.
    pub fn decl(&self, v: VarId) -> &VarDecl {
        &self.vars[v.0 as usize]
    }
    /// Interns an atom and returns it as a formula. `Present` of a non-optional variable is `true`.
    pub fn atom(&mut self, a: Atom) -> Formula {
        if let Atom::Present(v) = &a
            && !self.decl(*v).optional
        {
            return Formula::t();
        }
        if let Some(&id) = self.atom_ids.get(&a) {
            return Formula::Atom(id);
        }
        let id = AtomId(self.atoms.len() as u32);
        self.atoms.push(a.clone());
        self.atom_ids.insert(a, id);
        Formula::Atom(id)
    }
    /// `v ∈ L` for one string variable.
    pub fn str_in(&mut self, v: VarId, l: Re) -> Formula {
        self.atom(Atom::In(vec![Part::Var(v)], l))
    }
    /// Presence.
    pub fn present(&mut self, v: VarId) -> Formula {
        self.atom(Atom::Present(v))
    }
    /// A free Boolean.
    pub fn flag(&mut self, name: &str) -> Formula {
        self.atom(Atom::Flag(name.to_string()))
    }
}

/// The value of one variable in a model.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent.
    Absent,
    /// A string.
    Str(String),
    /// A set of strings.
    Set(Vec<String>),
    /// A number (`None`: a non-numeric string).
    Num(Option<f64>),
    /// An IP address (`None`: not an address).
    Ip(Option<(Family, u128)>),
}

/// A satisfying assignment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// Per variable.
    pub values: Vec<Value>,
    /// Free Booleans that are true.
    pub flags: Vec<String>,
}

impl Model {
    /// The value of a variable.
    pub fn get(&self, v: VarId) -> &Value {
        self.values.get(v.0 as usize).unwrap_or(&Value::Absent)
    }
    /// A string variable's value, if present.
    pub fn str(&self, v: VarId) -> Option<&str> {
        match self.get(v) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Whether a flag is true.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// Evaluates an atom directly on concrete values (the solver-independent check).
    pub fn eval_atom(&self, p: &Problem, a: &Atom) -> bool {
        match a {
            Atom::Present(v) => !matches!(self.get(*v), Value::Absent),
            Atom::In(parts, re) => {
                let mut s = String::new();
                for part in parts {
                    match part {
                        Part::Lit(l) => s.push_str(l),
                        Part::Var(v) => match self.get(*v) {
                            Value::Str(x) => s.push_str(x),
                            _ => return false,
                        },
                    }
                }
                re.matches(&s)
            }
            Atom::SetAny(v, re) => match self.get(*v) {
                Value::Set(xs) => xs.iter().any(|x| re.matches(x)),
                _ => false,
            },
            Atom::SetAll(v, re) => match self.get(*v) {
                Value::Set(xs) => xs.iter().all(|x| re.matches(x)),
                _ => false,
            },
            Atom::Num(v, s) => matches!(self.get(*v), Value::Num(Some(x)) if s.contains(*x)),
            Atom::Ip(v, s) => matches!(self.get(*v), Value::Ip(Some((f, x))) if s.contains(*f, *x)),
            Atom::Flag(n) => {
                let _ = p;
                self.flag(n)
            }
        }
    }

    /// Evaluates a formula.
    pub fn eval(&self, p: &Problem, f: &Formula) -> bool {
        match f {
            Formula::Const(b) => *b,
            Formula::Atom(a) => self.eval_atom(p, &p.atoms[a.0 as usize]),
            Formula::Not(x) => !self.eval(p, x),
            Formula::And(v) => v.iter().all(|x| self.eval(p, x)),
            Formula::Or(v) => v.iter().any(|x| self.eval(p, x)),
        }
    }
}
