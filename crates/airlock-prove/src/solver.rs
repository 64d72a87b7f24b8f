//! The decision procedure: DPLL(T) over the Boolean structure of a [`Formula`], with one theory
//! solver per variable (regular languages by automata products, sets of strings, real intervals,
//! IP ranges, presence). Sound and complete for the atoms of [`crate::logic`]; every model is
//! re-checked by direct evaluation before it is returned.

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::rc::Rc;

use crate::lang::{Alphabet, CharSet, Dfa, Re, intersect_witness};
use crate::logic::{Atom, Formula, Model, Part, Problem, Sort, Value, VarId};
use crate::sets::{Family, IpSet, NumSet};

/// Why a query could not be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    /// The query is outside the decidable fragment the solver handles.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The search exceeded its budget.
    #[error("search budget exhausted after {0} decisions")]
    Budget(u64),
    /// A model failed the independent re-check: a solver bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Outcome of one satisfiability query.
#[derive(Debug, Clone, PartialEq)]
pub enum Sat {
    /// Satisfiable, with a model.
    Sat(Model),
    /// Unsatisfiable.
    Unsat,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SAtom {
    Present(VarId),
    In(VarId, usize),
    SetAny(VarId, usize),
    SetAll(VarId, usize),
    Num(VarId, NumSet),
    Ip(VarId, IpSet),
    Flag(String),
}

impl SAtom {
    fn var(&self) -> Option<VarId> {
        match self {
            SAtom::Present(v)
            | SAtom::In(v, _)
            | SAtom::SetAny(v, _)
            | SAtom::SetAll(v, _)
            | SAtom::Num(v, _)
            | SAtom::Ip(v, _) => Some(*v),
            SAtom::Flag(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
enum N {
    Const(bool),
    Lit(u32, bool),
    And(Vec<N>),
    Or(Vec<N>),
}

/// Statistics of one solver instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Branching decisions.
    pub decisions: u64,
    /// Theory checks that were not served from the cache.
    pub theory_checks: u64,
}

/// A compiled problem: automata for every string atom over one alphabet, ready for many queries.
pub struct Solver<'p> {
    p: &'p Problem,
    alpha: Alphabet,
    dfas: Vec<Rc<Dfa>>,
    domain: Vec<Option<usize>>,
    satoms: Vec<SAtom>,
    satom_ids: crate::lang::FxMap<SAtom, u32>,
    atom_n: Vec<Option<Result<N, SolveError>>>,
    var_satoms: Vec<Vec<u32>>,
    cache: crate::lang::FxMap<(u32, Vec<(u32, bool)>), bool>,
    finite: Vec<Option<Rc<Vec<String>>>>,
    nonempty: Option<Rc<Dfa>>,
    readable: std::cell::Cell<bool>,
    /// Counters.
    pub stats: Stats,
    /// Maximum branching decisions per query.
    pub budget: u64,
}

impl<'p> Solver<'p> {
    /// Compiles every atom of the problem.
    pub fn new(p: &'p Problem) -> Solver<'p> {
        let mut sets: Vec<CharSet> = Vec::new();
        // Finite domains (the action catalogue) are decided by enumeration, not by automata:
        // their characters need no place in the alphabet.
        let finite: Vec<Option<Rc<Vec<String>>>> = p
            .vars
            .iter()
            .map(|v| {
                if v.sort == Sort::Str {
                    v.domain.as_literals_cached()
                } else {
                    None
                }
            })
            .collect();
        for (v, fin) in p.vars.iter().zip(&finite) {
            if fin.is_none() {
                v.domain.collect_sets(&mut sets);
            }
        }
        for a in &p.atoms {
            match a {
                Atom::In(parts, re) => {
                    re.collect_sets(&mut sets);
                    for part in parts {
                        if let Part::Lit(l) = part {
                            Re::lit(l).collect_sets(&mut sets);
                        }
                    }
                }
                Atom::SetAny(_, re) | Atom::SetAll(_, re) => re.collect_sets(&mut sets),
                _ => {}
            }
        }
        sets.sort();
        sets.dedup();
        // Prefer the standard alphabet (shared, cached automata); fall back to the exact partition.
        let mut extra: Vec<char> = Vec::new();
        for set in &sets {
            for &(a, b) in set.ranges() {
                if a >= 0x80 && b - a < 64 {
                    extra.extend((a..=b).filter_map(char::from_u32));
                }
            }
        }
        extra.sort();
        extra.dedup();
        let std_alpha = Alphabet::standard(&extra);
        let alpha = if sets.iter().all(|s| std_alpha.refines(s)) {
            (*std_alpha).clone()
        } else {
            Alphabet::new(&sets)
        };
        let mut s = Solver {
            p,
            alpha,
            dfas: Vec::new(),
            domain: vec![None; p.vars.len()],
            satoms: Vec::new(),
            satom_ids: Default::default(),
            atom_n: vec![None; p.atoms.len()],
            var_satoms: vec![Vec::new(); p.vars.len()],
            cache: Default::default(),
            finite,
            nonempty: None,
            readable: std::cell::Cell::new(false),
            stats: Stats::default(),
            budget: 2_000_000,
        };
        s.nonempty = Some(Dfa::compile_cached(&Re::any_char().plus(), &s.alpha));
        for (i, v) in p.vars.iter().enumerate() {
            if matches!(v.sort, Sort::Str | Sort::StrSet) && s.finite[i].is_none() {
                let d = Dfa::compile_cached(&v.domain, &s.alpha);
                s.dfas.push(d);
                s.domain[i] = Some(s.dfas.len() - 1);
            }
        }
        s
    }

    fn dfa_id(&mut self, d: Rc<Dfa>) -> usize {
        if let Some(i) = self.dfas.iter().position(|x| Rc::ptr_eq(x, &d)) {
            return i;
        }
        self.dfas.push(d);
        self.dfas.len() - 1
    }

    fn satom(&mut self, a: SAtom) -> u32 {
        if let Some(&i) = self.satom_ids.get(&a) {
            return i;
        }
        let i = self.satoms.len() as u32;
        if let Some(v) = a.var() {
            self.var_satoms[v.0 as usize].push(i);
        }
        self.satoms.push(a.clone());
        self.satom_ids.insert(a, i);
        i
    }

    fn atom_nnf(&mut self, idx: usize) -> Result<N, SolveError> {
        if let Some(r) = &self.atom_n[idx] {
            return r.clone();
        }
        let a = self.p.atoms[idx].clone();
        let r = match a {
            Atom::Present(v) => Ok(N::Lit(self.satom(SAtom::Present(v)), true)),
            Atom::Flag(f) => Ok(N::Lit(self.satom(SAtom::Flag(f)), true)),
            Atom::Num(v, s) => Ok(N::Lit(self.satom(SAtom::Num(v, s)), true)),
            Atom::Ip(v, s) => Ok(N::Lit(self.satom(SAtom::Ip(v, s)), true)),
            Atom::SetAny(v, re) => {
                let d = Dfa::compile_cached(&re, &self.alpha);
                let id = self.dfa_id(d);
                Ok(N::Lit(self.satom(SAtom::SetAny(v, id)), true))
            }
            Atom::SetAll(v, re) => {
                let d = Dfa::compile_cached(&re, &self.alpha);
                let id = self.dfa_id(d);
                Ok(N::Lit(self.satom(SAtom::SetAll(v, id)), true))
            }
            Atom::In(parts, re) => {
                let d = Dfa::compile_cached(&re, &self.alpha);
                if let [Part::Var(v)] = parts.as_slice() {
                    let id = self.dfa_id(d);
                    Ok(N::Lit(self.satom(SAtom::In(*v, id)), true))
                } else {
                    let start = d.start();
                    self.decompose(&parts, &d.clone(), start)
                }
            }
        };
        self.atom_n[idx] = Some(r.clone());
        r
    }

    /// Splits `term ∈ L` into a disjunction over automaton states of per-variable constraints:
    /// `x·y ∈ L` iff for the state `q` that `x` reaches, `y` leads from `q` to acceptance. Exact
    /// for any term, since the values of the parts determine the run.
    fn decompose(&mut self, parts: &[Part], d: &Dfa, q: u32) -> Result<N, SolveError> {
        match parts.split_first() {
            None => Ok(N::Const(d.is_accepting(q))),
            Some((Part::Lit(l), rest)) => {
                let q2 = d.run(&self.alpha, q, l);
                self.decompose(rest, d, q2)
            }
            Some((Part::Var(v), rest)) => {
                let dom = self.domain[v.0 as usize].ok_or_else(|| {
                    SolveError::Unsupported("non-string variable in a string term".into())
                })?;
                if rest.is_empty() {
                    let dd = Rc::new(d.with_start(q));
                    let id = self.dfa_id(dd);
                    return Ok(N::Lit(self.satom(SAtom::In(*v, id)), true));
                }
                // states of L reachable from q by a domain word
                let domd = self.dfas[dom].clone();
                let mut seen: HashSet<(u32, u32)> = HashSet::new();
                let mut queue = VecDeque::new();
                queue.push_back((domd.start(), q));
                seen.insert((domd.start(), q));
                let mut ends: Vec<u32> = Vec::new();
                while let Some((a, b)) = queue.pop_front() {
                    if domd.is_accepting(a) && !ends.contains(&b) {
                        ends.push(b);
                    }
                    for c in 0..self.alpha.len() {
                        let t = (domd.next(a, c), d.next(b, c));
                        if seen.insert(t) {
                            queue.push_back(t);
                        }
                    }
                }
                let mut disj = Vec::new();
                for e in ends {
                    let acc_e = Rc::new(restart_accept(d, q, e));
                    let id = self.dfa_id(acc_e);
                    let lit = N::Lit(self.satom(SAtom::In(*v, id)), true);
                    let tail = self.decompose(rest, d, e)?;
                    disj.push(N::And(vec![lit, tail]));
                }
                Ok(N::Or(disj))
            }
        }
    }

    fn nnf(&mut self, f: &Formula, pos: bool) -> Result<N, SolveError> {
        Ok(match f {
            Formula::Const(b) => N::Const(*b == pos),
            Formula::Atom(a) => {
                let n = self.atom_nnf(a.0 as usize)?;
                if pos { n } else { negate(n) }
            }
            Formula::Not(x) => self.nnf(x, !pos)?,
            Formula::And(v) | Formula::Or(v) => {
                let mut out = Vec::with_capacity(v.len());
                for x in v {
                    out.push(self.nnf(x, pos)?);
                }
                let is_and = matches!(f, Formula::And(_)) == pos;
                if is_and { N::And(out) } else { N::Or(out) }
            }
        })
    }

    /// Decides a formula: a model (re-checked by evaluation) or unsatisfiable.
    pub fn solve(&mut self, f: &Formula) -> Result<Sat, SolveError> {
        let n = self.nnf(f, true)?;
        let mut st = State {
            assign: vec![0; self.satoms.len()],
            trail: Vec::new(),
            decisions: 0,
        };
        let ok = self.search(&n, &mut st)?;
        self.stats.decisions += st.decisions;
        if !ok {
            return Ok(Sat::Unsat);
        }
        let model = self.model(&st)?;
        if !model.eval(self.p, f) {
            return Err(SolveError::Internal(format!(
                "model does not satisfy the query: {model:?}"
            )));
        }
        Ok(Sat::Sat(model))
    }

    fn eval(&self, n: &N, st: &State) -> i8 {
        match n {
            N::Const(b) => {
                if *b {
                    1
                } else {
                    -1
                }
            }
            N::Lit(a, pos) => {
                let v = st.assign[*a as usize];
                if *pos { v } else { -v }
            }
            N::And(v) => {
                let mut r = 1;
                for x in v {
                    match self.eval(x, st) {
                        -1 => return -1,
                        0 => r = 0,
                        _ => {}
                    }
                }
                r
            }
            N::Or(v) => {
                let mut r = -1;
                for x in v {
                    match self.eval(x, st) {
                        1 => return 1,
                        0 => r = 0,
                        _ => {}
                    }
                }
                r
            }
        }
    }

    /// A literal that must hold for `n` to be true under the current assignment, if one is found.
    fn forced(&self, n: &N, st: &State) -> Option<(u32, bool)> {
        match n {
            N::Lit(a, pos) if st.assign[*a as usize] == 0 => Some((*a, *pos)),
            N::And(v) => v.iter().find_map(|x| {
                if self.eval(x, st) == 0 {
                    self.forced(x, st)
                } else {
                    None
                }
            }),
            N::Or(v) => {
                let mut open = v.iter().filter(|x| self.eval(x, st) != -1);
                let first = open.next()?;
                if open.next().is_some() {
                    return None;
                }
                self.forced(first, st)
            }
            _ => None,
        }
    }

    fn pick(&self, n: &N, st: &State) -> Option<(u32, bool)> {
        match n {
            N::Lit(a, pos) if st.assign[*a as usize] == 0 => Some((*a, *pos)),
            N::And(v) | N::Or(v) => v.iter().find_map(|x| {
                if self.eval(x, st) == 0 {
                    self.pick(x, st)
                } else {
                    None
                }
            }),
            _ => None,
        }
    }

    fn search(&mut self, n: &N, st: &mut State) -> Result<bool, SolveError> {
        let mark = st.trail.len();
        loop {
            match self.eval(n, st) {
                1 => return Ok(true),
                -1 => {
                    st.undo(mark);
                    return Ok(false);
                }
                _ => {}
            }
            let Some((a, val)) = self.forced(n, st) else {
                break;
            };
            if !self.assign(st, a, val) {
                st.undo(mark);
                return Ok(false);
            }
        }
        let Some((a, val)) = self.pick(n, st) else {
            st.undo(mark);
            return Ok(false);
        };
        st.decisions += 1;
        if st.decisions > self.budget {
            return Err(SolveError::Budget(st.decisions));
        }
        // Absent context keys make the plainest counterexamples: try absence first.
        let order = if matches!(self.satoms[a as usize], SAtom::Present(_)) {
            [false, true]
        } else {
            [val, !val]
        };
        for v in order {
            let m2 = st.trail.len();
            if self.assign(st, a, v) && self.search(n, st)? {
                return Ok(true);
            }
            st.undo(m2);
        }
        st.undo(mark);
        Ok(false)
    }

    fn assign(&mut self, st: &mut State, a: u32, val: bool) -> bool {
        st.assign[a as usize] = if val { 1 } else { -1 };
        st.trail.push(a);
        match self.satoms[a as usize].var() {
            Some(v) => self.theory_ok(v, st),
            None => true,
        }
    }

    fn lits_of(&self, v: VarId, st: &State) -> Vec<(u32, bool)> {
        self.var_satoms[v.0 as usize]
            .iter()
            .filter(|&&i| st.assign[i as usize] != 0)
            .map(|&i| (i, st.assign[i as usize] > 0))
            .collect()
    }

    fn theory_ok(&mut self, v: VarId, st: &State) -> bool {
        let lits = self.lits_of(v, st);
        let key = (v.0, lits);
        if let Some(&r) = self.cache.get(&key) {
            return r;
        }
        self.stats.theory_checks += 1;
        let r = self.value_for(v, &key.1).is_some();
        self.cache.insert(key, r);
        r
    }

    /// A value satisfying the given literals of one variable, or `None` if they conflict.
    fn value_for(&self, v: VarId, lits: &[(u32, bool)]) -> Option<Value> {
        let decl = self.p.decl(v);
        let mut present: Option<bool> = if decl.optional { None } else { Some(true) };
        let mut any_pos = false;
        for &(a, pos) in lits {
            match &self.satoms[a as usize] {
                SAtom::Present(_) => {
                    if present == Some(!pos) {
                        return None;
                    }
                    present = Some(pos);
                }
                _ => any_pos |= pos,
            }
        }
        if present == Some(false) {
            return if any_pos { None } else { Some(Value::Absent) };
        }
        let must = present == Some(true) || any_pos;
        if !must && decl.optional {
            // absent satisfies every negative literal; chosen whenever nothing requires presence
            return Some(Value::Absent);
        }
        let value = match decl.sort {
            Sort::Str if self.finite[v.0 as usize].is_some() => {
                // finite domain (actions): test each candidate against the literals
                let cands = self.finite[v.0 as usize].as_ref()?;
                cands
                    .iter()
                    .find(|c| {
                        lits.iter().all(|&(a, pos)| match &self.satoms[a as usize] {
                            SAtom::In(_, d) => self.dfas[*d].accepts(&self.alpha, c) == pos,
                            _ => true,
                        })
                    })
                    .map(|c| Value::Str(c.clone()))
            }
            Sort::Str => {
                let dom = self.domain[v.0 as usize]?;
                let mut parts: Vec<(&Dfa, bool)> = vec![(&self.dfas[dom], true)];
                for &(a, pos) in lits {
                    if let SAtom::In(_, d) = &self.satoms[a as usize] {
                        parts.push((&self.dfas[*d], pos));
                    }
                }
                // Readable models: a placeholder that reads as one when it satisfies every
                // literal (any value that does is as good a witness), else the shortest string,
                // an empty one only when nothing else fits.
                if self.readable.get()
                    && let Some(c) = placeholders(&decl.name)
                        .iter()
                        .find(|c| self.fits(&parts, c))
                {
                    return Some(Value::Str((*c).to_string()));
                }
                let nonempty = self.nonempty.as_ref().filter(|_| self.readable.get());
                match nonempty {
                    Some(ne) => {
                        let mut with = parts.clone();
                        with.push((ne, true));
                        intersect_witness(&self.alpha, &with)
                            .or_else(|| intersect_witness(&self.alpha, &parts))
                            .map(Value::Str)
                    }
                    None => intersect_witness(&self.alpha, &parts).map(Value::Str),
                }
            }
            Sort::StrSet => {
                let dom = self.domain[v.0 as usize]?;
                let mut universe: Vec<(&Dfa, bool)> = vec![(&self.dfas[dom], true)];
                let mut needs: Vec<(&Dfa, bool)> = Vec::new();
                for &(a, pos) in lits {
                    match &self.satoms[a as usize] {
                        SAtom::SetAll(_, d) if pos => universe.push((&self.dfas[*d], true)),
                        SAtom::SetAll(_, d) => needs.push((&self.dfas[*d], false)),
                        SAtom::SetAny(_, d) if pos => needs.push((&self.dfas[*d], true)),
                        SAtom::SetAny(_, d) => universe.push((&self.dfas[*d], false)),
                        _ => {}
                    }
                }
                let mut elems: Vec<String> = Vec::new();
                for need in needs {
                    let mut parts = universe.clone();
                    parts.push(need);
                    let readable = placeholders(&decl.name)
                        .iter()
                        .find(|c| self.readable.get() && self.fits(&parts, c))
                        .map(|c| (*c).to_string());
                    let w = match readable {
                        Some(w) => w,
                        None => intersect_witness(&self.alpha, &parts)?,
                    };
                    if !elems.contains(&w) {
                        elems.push(w);
                    }
                }
                Some(Value::Set(elems))
            }
            Sort::Num | Sort::Date => {
                let mut s = NumSet::all();
                let mut numeric = false;
                for &(a, pos) in lits {
                    if let SAtom::Num(_, n) = &self.satoms[a as usize] {
                        if pos {
                            numeric = true;
                            s = s.intersect(n);
                        } else {
                            s = s.intersect(&n.complement());
                        }
                    }
                }
                if numeric {
                    s.witness().map(|x| Value::Num(Some(x)))
                } else {
                    Some(Value::Num(None))
                }
            }
            Sort::Ip => {
                let mut s = IpSet::all();
                let mut is_ip = false;
                for &(a, pos) in lits {
                    if let SAtom::Ip(_, n) = &self.satoms[a as usize] {
                        if pos {
                            is_ip = true;
                            s = s.intersect(n);
                        } else {
                            s = s.intersect(&n.complement());
                        }
                    }
                }
                if is_ip {
                    // documentation addresses (RFC 5737, RFC 3849) when the set allows them
                    let readable = [
                        (
                            Family::V4,
                            u128::from(u32::from(Ipv4Addr::new(203, 0, 113, 1))),
                        ),
                        (
                            Family::V4,
                            u128::from(u32::from(Ipv4Addr::new(198, 51, 100, 1))),
                        ),
                        (
                            Family::V4,
                            u128::from(u32::from(Ipv4Addr::new(192, 0, 2, 1))),
                        ),
                        (Family::V6, 0x2001_0db8_u128 << 96 | 1),
                    ]
                    .into_iter()
                    .find(|&(f, x)| self.readable.get() && s.contains(f, x));
                    readable.or_else(|| s.witness()).map(|x| Value::Ip(Some(x)))
                } else {
                    Some(Value::Ip(None))
                }
            }
        }?;
        Some(value)
    }

    /// True if `s` satisfies every part (membership or not, as each says).
    fn fits(&self, parts: &[(&Dfa, bool)], s: &str) -> bool {
        parts
            .iter()
            .all(|(d, pos)| d.accepts(&self.alpha, s) == *pos)
    }

    fn model(&self, st: &State) -> Result<Model, SolveError> {
        self.readable.set(true);
        let m = self.model_inner(st);
        self.readable.set(false);
        m
    }

    fn model_inner(&self, st: &State) -> Result<Model, SolveError> {
        let mut m = Model::default();
        for i in 0..self.p.vars.len() {
            let v = VarId(i as u32);
            let lits = self.lits_of(v, st);
            let val = self.value_for(v, &lits).ok_or_else(|| {
                SolveError::Internal(format!("no value for {}", self.p.decl(v).name))
            })?;
            m.values.push(val);
        }
        for (i, a) in self.satoms.iter().enumerate() {
            if let SAtom::Flag(name) = a
                && st.assign[i] > 0
            {
                m.flags.push(name.clone());
            }
        }
        Ok(m)
    }
}

fn restart_accept(d: &Dfa, q: u32, e: u32) -> Dfa {
    let mut x = d.clone();
    // set start, then restrict acceptance to `e` (indices of the unminimized clone are stable)
    x = x.with_accepting_raw(e);
    x.with_start(q)
}

impl Dfa {
    fn with_accepting_raw(&self, e: u32) -> Dfa {
        let n = self.states() as u32;
        let acc: Vec<u32> = (0..n).filter(|&s| s == e).collect();
        let mut d = self.clone();
        d.set_accepting(&acc);
        d
    }
}

fn negate(n: N) -> N {
    match n {
        N::Const(b) => N::Const(!b),
        N::Lit(a, p) => N::Lit(a, !p),
        N::And(v) => N::Or(v.into_iter().map(negate).collect()),
        N::Or(v) => N::And(v.into_iter().map(negate).collect()),
    }
}

struct State {
    assign: Vec<i8>,
    trail: Vec<u32>,
    decisions: u64,
}

impl State {
    fn undo(&mut self, mark: usize) {
        while self.trail.len() > mark {
            if let Some(a) = self.trail.pop() {
                self.assign[a as usize] = 0;
            }
        }
    }
}

/// Readable values to try, in order, for a string variable of a model before the shortest
/// string its constraints allow: a counterexample then reads `someone` or `example-value`
/// rather than `a`. Each is used only if it satisfies the variable's constraints.
pub fn placeholders(var: &str) -> &'static [&'static str] {
    const GENERIC: &[&str] = &["example-value", "example"];
    let key = var.strip_prefix("ctx:").unwrap_or(var);
    match key {
        "object-key" => &["example-object.txt", "example-object", "example-value"],
        "principal.session" => &["example-session", "example-value"],
        "principal.name" => &["someone", "example-name", "example-value"],
        "principal.path" => &["/", "/example/"],
        "principal.id" => &["AIDAEXAMPLE000000000", "AROAEXAMPLE000000000"],
        "principal.account" => &["999999999999", "999999999998"],
        "principal.service" => &["example.amazonaws.com"],
        "principal.provider" => &["arn:aws:iam::999999999999:oidc-provider/example.com"],
        "principal.source-identity" => &["someone", "example-value"],
        _ if key.ends_with("vpce") => &["vpce-00000000000000000", "example-value"],
        _ if key.ends_with("vpc") => &["vpc-00000000000000000", "example-value"],
        _ if key.ends_with("account") => &["999999999999", "999999999998", "example-value"],
        _ if key.ends_with("arn") => &[
            "arn:aws:iam::999999999999:user/someone",
            "arn:aws:s3:::example-bucket",
            "example-value",
        ],
        _ if key.ends_with("orgid") => &["o-exampleorgid", "example-value"],
        _ if key.ends_with("username") => &["someone", "example-value"],
        _ if key.ends_with("userid") => &["AIDAEXAMPLE000000000", "example-value"],
        _ if key.ends_with("encryption") => &["AES256", "aws:kms", "example-value"],
        _ => GENERIC,
    }
}
