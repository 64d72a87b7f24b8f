//! Regular languages over Unicode scalar values: a small regular-expression AST ([`Re`]) that is
//! both compiled to deterministic automata ([`Dfa`]) for the solver and printed as SMT-LIB
//! regular expressions for the Z3 cross-check.
//!
//! Automata work over an *alphabet partition*: the code-point space is cut into intervals at every
//! boundary that any language of one variable mentions, so that all characters of one interval
//! behave alike in every automaton of that variable. Products and complements are then exact.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// A fast non-cryptographic hasher (FxHash) for the automata's internal tables.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A `HashMap` with [`Fx`].
pub type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// Highest Unicode scalar value.
pub const MAX_CHAR: u32 = 0x10_FFFF;
const SURR_LO: u32 = 0xD800;
const SURR_HI: u32 = 0xDFFF;

/// A set of characters: sorted, disjoint, non-adjacent inclusive ranges of scalar values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CharSet(Vec<(u32, u32)>);

impl CharSet {
    /// The empty set.
    pub fn empty() -> Self {
        CharSet(Vec::new())
    }
    /// Every scalar value.
    pub fn any() -> Self {
        CharSet(vec![(0, SURR_LO - 1), (SURR_HI + 1, MAX_CHAR)])
    }
    /// One character.
    pub fn single(c: char) -> Self {
        CharSet(vec![(c as u32, c as u32)])
    }
    /// A range of characters.
    pub fn range(lo: char, hi: char) -> Self {
        CharSet::from_ranges(vec![(lo as u32, hi as u32)])
    }
    /// Normalizes arbitrary ranges (clipping surrogates).
    pub fn from_ranges(mut r: Vec<(u32, u32)>) -> Self {
        r.retain(|(a, b)| a <= b);
        r.sort();
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (a, b) in r {
            // clip surrogates
            let parts: Vec<(u32, u32)> = if b < SURR_LO || a > SURR_HI {
                vec![(a, b)]
            } else {
                let mut p = Vec::new();
                if a < SURR_LO {
                    p.push((a, SURR_LO - 1));
                }
                if b > SURR_HI {
                    p.push((SURR_HI + 1, b));
                }
                p
            };
            for (a, b) in parts {
                let b = b.min(MAX_CHAR);
                if let Some(last) = out.last_mut()
                    && a <= last.1.saturating_add(1)
                {
                    last.1 = last.1.max(b);
                    continue;
                }
                out.push((a, b));
            }
        }
        CharSet(out)
    }
    /// Union.
    pub fn union(&self, o: &CharSet) -> CharSet {
        let mut r = self.0.clone();
        r.extend_from_slice(&o.0);
        CharSet::from_ranges(r)
    }
    /// Complement within the scalar values.
    pub fn complement(&self) -> CharSet {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(a, b) in &self.0 {
            if a > next {
                out.push((next, a - 1));
            }
            next = b + 1;
        }
        if next <= MAX_CHAR {
            out.push((next, MAX_CHAR));
        }
        CharSet::from_ranges(out)
    }
    /// The ranges.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }
    /// True if no character is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Membership.
    pub fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.0.iter().any(|&(a, b)| a <= c && c <= b)
    }
}

/// A regular expression over scalar values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Re {
    /// One character from the set (the empty set denotes the empty language).
    Set(CharSet),
    /// The empty string.
    Eps,
    /// Concatenation.
    Concat(Vec<Re>),
    /// Union.
    Union(Vec<Re>),
    /// Kleene star.
    Star(Box<Re>),
    /// Intersection.
    Inter(Vec<Re>),
    /// Complement relative to all strings.
    Not(Box<Re>),
}

/// ASCII case variants of a character (the only case folding AWS applies to names and actions).
pub fn ascii_case_set(c: char) -> CharSet {
    if c.is_ascii_alphabetic() {
        CharSet::single(c.to_ascii_lowercase()).union(&CharSet::single(c.to_ascii_uppercase()))
    } else {
        CharSet::single(c)
    }
}

impl Re {
    /// The empty language.
    pub fn empty() -> Re {
        Re::Set(CharSet::empty())
    }
    /// Any single character.
    pub fn any_char() -> Re {
        Re::Set(CharSet::any())
    }
    /// Every string.
    pub fn any() -> Re {
        Re::Star(Box::new(Re::any_char()))
    }
    /// A literal string.
    pub fn lit(s: &str) -> Re {
        let v: Vec<Re> = s.chars().map(|c| Re::Set(CharSet::single(c))).collect();
        match v.len() {
            0 => Re::Eps,
            1 => v.into_iter().next().unwrap_or(Re::Eps),
            _ => Re::Concat(v),
        }
    }
    /// A literal string matched ignoring ASCII case.
    pub fn lit_ci(s: &str) -> Re {
        Re::Concat(s.chars().map(|c| Re::Set(ascii_case_set(c))).collect())
    }
    /// A finite union of literal strings.
    pub fn lits<'a>(it: impl IntoIterator<Item = &'a str>) -> Re {
        Re::Union(it.into_iter().map(Re::lit).collect())
    }
    /// A glob (`*` any string, `?` any one character), optionally ignoring ASCII case.
    pub fn glob(p: &str, ignore_case: bool) -> Re {
        let mut v = Vec::new();
        for c in p.chars() {
            v.push(match c {
                '*' => Re::any(),
                '?' => Re::any_char(),
                c if ignore_case => Re::Set(ascii_case_set(c)),
                c => Re::Set(CharSet::single(c)),
            });
        }
        Re::Concat(v)
    }
    /// Concatenation of two.
    pub fn then(self, o: Re) -> Re {
        Re::Concat(vec![self, o])
    }
    /// One or more.
    pub fn plus(self) -> Re {
        Re::Concat(vec![self.clone(), Re::Star(Box::new(self))])
    }
    /// Exactly `n` repetitions.
    pub fn repeat(self, n: usize) -> Re {
        Re::Concat(vec![self; n])
    }
    /// Complement.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Re {
        Re::Not(Box::new(self))
    }
    /// Intersection of two.
    pub fn and(self, o: Re) -> Re {
        Re::Inter(vec![self, o])
    }
    /// Union of two.
    pub fn or(self, o: Re) -> Re {
        Re::Union(vec![self, o])
    }

    /// [`Re::as_literals`], cached per thread.
    pub fn as_literals_cached(&self) -> Option<Rc<Vec<String>>> {
        thread_local! {
            static LITS: RefCell<FxMap<Re, Option<Rc<Vec<String>>>>> = RefCell::new(FxMap::default());
        }
        if let Some(v) = LITS.with(|c| c.borrow().get(self).cloned()) {
            return v;
        }
        let v = self.as_literals().map(Rc::new);
        LITS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 10_000 {
                c.clear();
            }
            c.insert(self.clone(), v.clone());
        });
        v
    }

    /// The strings of a finite language written as a union of literal strings, if it is one.
    pub fn as_literals(&self) -> Option<Vec<String>> {
        fn lit(r: &Re) -> Option<String> {
            match r {
                Re::Eps => Some(String::new()),
                Re::Set(cs) if cs.ranges().len() == 1 && cs.ranges()[0].0 == cs.ranges()[0].1 => {
                    char::from_u32(cs.ranges()[0].0).map(|c| c.to_string())
                }
                Re::Concat(v) => v
                    .iter()
                    .map(lit)
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.concat()),
                _ => None,
            }
        }
        match self {
            Re::Union(v) => v.iter().map(lit).collect(),
            r => lit(r).map(|s| vec![s]),
        }
    }

    /// Collects every character set mentioned (for the alphabet partition).
    pub fn collect_sets(&self, out: &mut Vec<CharSet>) {
        match self {
            Re::Set(s) => out.push(s.clone()),
            Re::Eps => {}
            Re::Concat(v) | Re::Union(v) | Re::Inter(v) => {
                v.iter().for_each(|r| r.collect_sets(out))
            }
            Re::Star(r) | Re::Not(r) => r.collect_sets(out),
        }
    }

    /// Membership test, through an automaton compiled once per expression (cached per thread).
    pub fn matches(&self, s: &str) -> bool {
        thread_local! {
            static MATCHERS: RefCell<FxMap<Re, Rc<(Alphabet, Dfa)>>> = RefCell::new(FxMap::default());
        }
        let m = MATCHERS.with(|c| c.borrow().get(self).cloned());
        let m = match m {
            Some(m) => m,
            None => {
                let mut sets = Vec::new();
                self.collect_sets(&mut sets);
                let alpha = Alphabet::new(&sets);
                let d = Dfa::compile(self, &alpha);
                let m = Rc::new((alpha, d));
                MATCHERS.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() > 50_000 {
                        c.clear();
                    }
                    c.insert(self.clone(), m.clone());
                });
                m
            }
        };
        m.1.accepts(&m.0, s)
    }

    /// SMT-LIB form (`RegLan`).
    pub fn to_smt(&self) -> String {
        let mut s = String::new();
        self.write_smt(&mut s);
        s
    }

    fn write_smt(&self, out: &mut String) {
        match self {
            Re::Set(cs) => {
                if cs.is_empty() {
                    out.push_str("re.none");
                } else if *cs == CharSet::any() {
                    out.push_str("re.allchar");
                } else {
                    let rs = cs.ranges();
                    if rs.len() > 1 {
                        out.push_str("(re.union");
                    }
                    for &(a, b) in rs {
                        if rs.len() > 1 {
                            out.push(' ');
                        }
                        if a == b {
                            out.push_str(&format!("(str.to_re {})", smt_char(a)));
                        } else {
                            out.push_str(&format!("(re.range {} {})", smt_char(a), smt_char(b)));
                        }
                    }
                    if rs.len() > 1 {
                        out.push(')');
                    }
                }
            }
            Re::Eps => out.push_str("(str.to_re \"\")"),
            Re::Concat(v) | Re::Union(v) | Re::Inter(v) => {
                let op = match self {
                    Re::Concat(_) => "re.++",
                    Re::Union(_) => "re.union",
                    _ => "re.inter",
                };
                match v.len() {
                    0 => out.push_str(match self {
                        Re::Concat(_) => "(str.to_re \"\")",
                        Re::Union(_) => "re.none",
                        _ => "re.all",
                    }),
                    1 => v[0].write_smt(out),
                    _ => {
                        out.push('(');
                        out.push_str(op);
                        for r in v {
                            out.push(' ');
                            r.write_smt(out);
                        }
                        out.push(')');
                    }
                }
            }
            Re::Star(r) => {
                out.push_str("(re.* ");
                r.write_smt(out);
                out.push(')');
            }
            Re::Not(r) => {
                out.push_str("(re.comp ");
                r.write_smt(out);
                out.push(')');
            }
        }
    }
}

/// A one-character SMT-LIB string literal (`"\u{..}"` escapes for everything but plain ASCII).
pub fn smt_char(c: u32) -> String {
    format!("\"{}\"", smt_escape_cp(c))
}

fn smt_escape_cp(c: u32) -> String {
    if (0x20..0x7f).contains(&c) && c != b'"' as u32 && c != b'\\' as u32 {
        char::from_u32(c).map(|c| c.to_string()).unwrap_or_default()
    } else {
        format!("\\u{{{c:x}}}")
    }
}

/// A string as an SMT-LIB string literal.
pub fn smt_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        o.push_str(&smt_escape_cp(c as u32));
    }
    o.push('"');
    o
}

/// A partition of the scalar values into intervals (classes) on which a family of languages agrees.
#[derive(Debug, Clone)]
pub struct Alphabet {
    /// Class `i` is the interval `[lo[i], hi[i]]`.
    lo: Vec<u32>,
    hi: Vec<u32>,
}

impl Alphabet {
    /// Builds the coarsest interval partition that refines every given set.
    pub fn new(sets: &[CharSet]) -> Alphabet {
        let mut cuts: BTreeSet<u32> = BTreeSet::new();
        cuts.insert(0);
        cuts.insert(SURR_HI + 1);
        // Preferred witness characters get their own cut points so representatives are readable.
        for &(a, b) in &[(0x61u32, 0x7au32), (0x30, 0x39)] {
            cuts.insert(a);
            cuts.insert(b + 1);
        }
        for s in sets {
            for &(a, b) in s.ranges() {
                cuts.insert(a);
                if b < MAX_CHAR {
                    cuts.insert(b + 1);
                }
            }
        }
        let cuts: Vec<u32> = cuts
            .into_iter()
            .filter(|&c| !(SURR_LO..=SURR_HI).contains(&c))
            .collect();
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        for (i, &a) in cuts.iter().enumerate() {
            let end = if i + 1 < cuts.len() {
                cuts[i + 1] - 1
            } else {
                MAX_CHAR
            };
            let end = if a < SURR_LO && end >= SURR_LO {
                SURR_LO - 1
            } else {
                end
            };
            lo.push(a);
            hi.push(end);
        }
        Alphabet { lo, hi }
    }
    /// The standard alphabet: one class per printable ASCII character and per given extra
    /// character, ranges in between. Problems whose sets it refines share compiled automata.
    pub fn standard(extra: &[char]) -> Rc<Alphabet> {
        thread_local! {
            static STD: RefCell<FxMap<Vec<char>, Rc<Alphabet>>> = RefCell::new(FxMap::default());
        }
        if let Some(a) = STD.with(|c| c.borrow().get(extra).cloned()) {
            return a;
        }
        let mut sets: Vec<CharSet> = (0x20u32..0x7f)
            .filter_map(char::from_u32)
            .map(CharSet::single)
            .collect();
        sets.extend(extra.iter().map(|&c| CharSet::single(c)));
        let a = Rc::new(Alphabet::new(&sets));
        STD.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 1000 {
                c.clear();
            }
            c.insert(extra.to_vec(), a.clone());
        });
        a
    }
    /// Whether every range of the set starts and ends on class boundaries.
    pub fn refines(&self, s: &CharSet) -> bool {
        s.ranges().iter().all(|&(a, b)| {
            let ca = self.lo.binary_search(&a).is_ok();
            let cb = match self.lo.binary_search(&b) {
                Ok(i) | Err(i) => {
                    let i = if self.lo.get(i) == Some(&b) {
                        i
                    } else {
                        i.saturating_sub(1)
                    };
                    self.hi[i] == b
                }
            };
            ca && cb
        })
    }
    /// A key identifying the partition.
    pub fn key(&self) -> &[u32] {
        &self.lo
    }
    /// Number of classes.
    pub fn len(&self) -> usize {
        self.lo.len()
    }
    /// True if there are no classes (never: the partition covers every scalar value).
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }
    /// The class of a character.
    pub fn class_of(&self, c: char) -> usize {
        let c = c as u32;
        match self.lo.binary_search(&c) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }
    /// The classes a set covers.
    pub fn classes_of(&self, s: &CharSet) -> Vec<usize> {
        let mut v = Vec::new();
        for &(a, b) in s.ranges() {
            let i = self.class_of(char::from_u32(a).unwrap_or('\0'));
            let mut j = i;
            while j < self.lo.len() && self.lo[j] <= b {
                v.push(j);
                j += 1;
            }
        }
        v
    }
    /// A readable representative character of a class.
    pub fn representative(&self, class: usize) -> char {
        let (a, b) = (self.lo[class], self.hi[class]);
        for &(pa, pb) in &[
            (0x61u32, 0x7au32),
            (0x30, 0x39),
            (0x41, 0x5a),
            (0x2d, 0x2e),
            (0x5f, 0x5f),
            (0x21, 0x7e),
            (0xa1, 0xd7ff),
        ] {
            let x = a.max(pa);
            if x <= b.min(pb)
                && let Some(c) = char::from_u32(x)
            {
                return c;
            }
        }
        char::from_u32(a).unwrap_or('x')
    }
}

/// A complete deterministic automaton over an [`Alphabet`]'s classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dfa {
    ncls: usize,
    trans: Vec<u32>,
    accept: Vec<bool>,
    start: u32,
}

struct Nfa {
    // per state: epsilon targets, and (class set, target)
    eps: Vec<Vec<usize>>,
    edges: Vec<Vec<(Vec<usize>, usize)>>,
}

impl Nfa {
    fn state(&mut self) -> usize {
        self.eps.push(Vec::new());
        self.edges.push(Vec::new());
        self.eps.len() - 1
    }
    /// Builds a fragment; returns (start, end).
    fn build(&mut self, re: &Re, alpha: &Alphabet) -> (usize, usize) {
        match re {
            Re::Set(cs) => {
                let s = self.state();
                let e = self.state();
                let cl = alpha.classes_of(cs);
                if !cl.is_empty() {
                    self.edges[s].push((cl, e));
                }
                (s, e)
            }
            Re::Eps => {
                let s = self.state();
                (s, s)
            }
            Re::Concat(v) => {
                let s = self.state();
                let mut cur = s;
                for r in v {
                    let (a, b) = self.build(r, alpha);
                    self.eps[cur].push(a);
                    cur = b;
                }
                (s, cur)
            }
            Re::Union(v) => {
                let s = self.state();
                let e = self.state();
                for r in v {
                    let (a, b) = self.build(r, alpha);
                    self.eps[s].push(a);
                    self.eps[b].push(e);
                }
                (s, e)
            }
            Re::Star(r) => {
                let s = self.state();
                let e = self.state();
                let (a, b) = self.build(r, alpha);
                self.eps[s].push(a);
                self.eps[s].push(e);
                self.eps[b].push(a);
                self.eps[b].push(e);
                (s, e)
            }
            Re::Inter(_) | Re::Not(_) => {
                let d = Dfa::compile(re, alpha);
                self.embed(&d)
            }
        }
    }
    fn embed(&mut self, d: &Dfa) -> (usize, usize) {
        let base = self.eps.len();
        let n = d.accept.len();
        for _ in 0..n {
            self.state();
        }
        let e = self.state();
        for q in 0..n {
            let mut by_target: HashMap<u32, Vec<usize>> = HashMap::new();
            for c in 0..d.ncls {
                by_target
                    .entry(d.trans[q * d.ncls + c])
                    .or_default()
                    .push(c);
            }
            for (t, cls) in by_target {
                self.edges[base + q].push((cls, base + t as usize));
            }
            if d.accept[q] {
                self.eps[base + q].push(e);
            }
        }
        (base + d.start as usize, e)
    }
    fn closure(&self, set: &mut BTreeSet<usize>) {
        let mut stack: Vec<usize> = set.iter().copied().collect();
        while let Some(s) = stack.pop() {
            for &t in &self.eps[s] {
                if set.insert(t) {
                    stack.push(t);
                }
            }
        }
    }
}

type DfaCache = FxMap<(Vec<u32>, Re), Rc<Dfa>>;

thread_local! {
    static COMPILED: RefCell<DfaCache> = RefCell::new(FxMap::default());
}

impl Dfa {
    /// [`Dfa::compile`] through a per-thread cache keyed by alphabet and expression.
    pub fn compile_cached(re: &Re, alpha: &Alphabet) -> Rc<Dfa> {
        let key = (alpha.key().to_vec(), re.clone());
        if let Some(d) = COMPILED.with(|c| c.borrow().get(&key).cloned()) {
            return d;
        }
        let d = Rc::new(Dfa::compile(re, alpha));
        COMPILED.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 50_000 {
                c.clear();
            }
            c.insert(key, d.clone());
        });
        d
    }

    /// Compiles a regular expression over an alphabet that refines all its character sets.
    pub fn compile(re: &Re, alpha: &Alphabet) -> Dfa {
        match re {
            Re::Not(r) => Dfa::compile(r, alpha).complement(),
            Re::Inter(v) => {
                let mut it = v.iter();
                let mut d = match it.next() {
                    Some(r) => Dfa::compile(r, alpha),
                    None => Dfa::all(alpha.len()),
                };
                for r in it {
                    d = d.product(&Dfa::compile(r, alpha), |a, b| a && b);
                }
                d.minimize()
            }
            _ => {
                let mut nfa = Nfa {
                    eps: Vec::new(),
                    edges: Vec::new(),
                };
                let (s, e) = nfa.build(re, alpha);
                let d = Dfa::determinize(&nfa, s, e, alpha.len());
                // Minimizing pays for itself on small automata (products stay small); large
                // ones (the action catalogue) are used by enumeration instead.
                if d.states() <= 256 { d.minimize() } else { d }
            }
        }
    }

    /// The language of all strings.
    pub fn all(ncls: usize) -> Dfa {
        Dfa {
            ncls,
            trans: vec![0; ncls],
            accept: vec![true],
            start: 0,
        }
    }

    fn determinize(nfa: &Nfa, s: usize, e: usize, ncls: usize) -> Dfa {
        let mut start = BTreeSet::new();
        start.insert(s);
        nfa.closure(&mut start);
        let mut ids: FxMap<BTreeSet<usize>, u32> = FxMap::default();
        let mut sets: Vec<BTreeSet<usize>> = Vec::new();
        let mut trans: Vec<u32> = Vec::new();
        let mut accept = Vec::new();
        ids.insert(start.clone(), 0);
        sets.push(start);
        let mut i = 0;
        while i < sets.len() {
            let cur = sets[i].clone();
            accept.push(cur.contains(&e));
            let mut targets: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); ncls];
            for &st in &cur {
                for (cls, t) in &nfa.edges[st] {
                    for &c in cls {
                        targets[c].insert(*t);
                    }
                }
            }
            for mut t in targets {
                nfa.closure(&mut t);
                let id = match ids.get(&t) {
                    Some(&id) => id,
                    None => {
                        let id = sets.len() as u32;
                        ids.insert(t.clone(), id);
                        sets.push(t);
                        id
                    }
                };
                trans.push(id);
            }
            i += 1;
        }
        Dfa {
            ncls,
            trans,
            accept,
            start: 0,
        }
    }

    /// Complement.
    pub fn complement(mut self) -> Dfa {
        for a in &mut self.accept {
            *a = !*a;
        }
        self
    }

    /// Product automaton with an arbitrary acceptance combination.
    pub fn product(&self, o: &Dfa, f: impl Fn(bool, bool) -> bool) -> Dfa {
        let mut ids: HashMap<(u32, u32), u32> = HashMap::new();
        let mut pairs = vec![(self.start, o.start)];
        ids.insert((self.start, o.start), 0);
        let mut trans = Vec::new();
        let mut accept = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let (a, b) = pairs[i];
            accept.push(f(self.accept[a as usize], o.accept[b as usize]));
            for c in 0..self.ncls {
                let t = (
                    self.trans[a as usize * self.ncls + c],
                    o.trans[b as usize * o.ncls + c],
                );
                let id = *ids.entry(t).or_insert_with(|| {
                    pairs.push(t);
                    (pairs.len() - 1) as u32
                });
                trans.push(id);
            }
            i += 1;
        }
        Dfa {
            ncls: self.ncls,
            trans,
            accept,
            start: 0,
        }
    }

    /// Moore partition refinement (also drops unreachable states).
    pub fn minimize(&self) -> Dfa {
        // reachable states
        let n = self.accept.len();
        let mut reach = vec![false; n];
        let mut order = vec![self.start as usize];
        reach[self.start as usize] = true;
        let mut i = 0;
        while i < order.len() {
            let q = order[i];
            for c in 0..self.ncls {
                let t = self.trans[q * self.ncls + c] as usize;
                if !reach[t] {
                    reach[t] = true;
                    order.push(t);
                }
            }
            i += 1;
        }
        let mut class: Vec<u32> = vec![0; n];
        for &q in &order {
            class[q] = u32::from(self.accept[q]);
        }
        let mut nclasses = {
            let s: BTreeSet<u32> = order.iter().map(|&q| class[q]).collect();
            s.len()
        };
        loop {
            let mut sig_ids: FxMap<Vec<u32>, u32> = FxMap::default();
            let mut newc = vec![0u32; n];
            for &q in &order {
                let mut sig = Vec::with_capacity(self.ncls + 1);
                sig.push(class[q]);
                for c in 0..self.ncls {
                    sig.push(class[self.trans[q * self.ncls + c] as usize]);
                }
                let l = sig_ids.len() as u32;
                newc[q] = *sig_ids.entry(sig).or_insert(l);
            }
            let k = sig_ids.len();
            class = newc;
            if k == nclasses {
                break;
            }
            nclasses = k;
        }
        // renumber with start = 0 in BFS order
        let mut map: HashMap<u32, u32> = HashMap::new();
        let mut reps: Vec<usize> = Vec::new();
        for &q in &order {
            if let std::collections::hash_map::Entry::Vacant(e) = map.entry(class[q]) {
                e.insert(reps.len() as u32);
                reps.push(q);
            }
        }
        let mut trans = Vec::with_capacity(reps.len() * self.ncls);
        let mut accept = Vec::with_capacity(reps.len());
        for &q in &reps {
            accept.push(self.accept[q]);
            for c in 0..self.ncls {
                trans.push(map[&class[self.trans[q * self.ncls + c] as usize]]);
            }
        }
        Dfa {
            ncls: self.ncls,
            trans,
            accept,
            start: 0,
        }
    }

    /// Number of states.
    pub fn states(&self) -> usize {
        self.accept.len()
    }
    /// The start state.
    pub fn start(&self) -> u32 {
        self.start
    }
    /// Transition.
    pub fn next(&self, q: u32, class: usize) -> u32 {
        self.trans[q as usize * self.ncls + class]
    }
    /// Whether a state accepts.
    pub fn is_accepting(&self, q: u32) -> bool {
        self.accept[q as usize]
    }
    /// The same automaton started in another state.
    pub fn with_start(&self, q: u32) -> Dfa {
        Dfa {
            start: q,
            ..self.clone()
        }
        .minimize()
    }
    /// The same automaton accepting exactly in the given states.
    pub fn with_accepting(&self, acc: &[u32]) -> Dfa {
        let mut d = self.clone();
        for (i, a) in d.accept.iter_mut().enumerate() {
            *a = acc.contains(&(i as u32));
        }
        d.minimize()
    }
    pub(crate) fn set_accepting(&mut self, acc: &[u32]) {
        for (i, a) in self.accept.iter_mut().enumerate() {
            *a = acc.contains(&(i as u32));
        }
    }
    /// Runs a string from a state.
    pub fn run(&self, alpha: &Alphabet, q: u32, s: &str) -> u32 {
        s.chars().fold(q, |q, c| self.next(q, alpha.class_of(c)))
    }
    /// Membership.
    pub fn accepts(&self, alpha: &Alphabet, s: &str) -> bool {
        self.is_accepting(self.run(alpha, self.start, s))
    }
    /// True if the language is empty.
    pub fn is_empty(&self) -> bool {
        !self.accept.iter().any(|&a| a)
    }
}

/// Finds a shortest string in the intersection of the given automata (each possibly complemented),
/// or `None` if the intersection is empty. All automata must share one alphabet.
pub fn intersect_witness(alpha: &Alphabet, parts: &[(&Dfa, bool)]) -> Option<String> {
    if parts.is_empty() {
        return Some(String::new());
    }
    let ncls = alpha.len();
    let k = parts.len();
    let acc = |st: &[u32]| {
        parts
            .iter()
            .zip(st)
            .all(|((d, pos), &q)| d.is_accepting(q) == *pos)
    };
    // states stored flat: node i occupies states[i*k..(i+1)*k]
    let mut states: Vec<u32> = parts.iter().map(|(d, _)| d.start).collect();
    let mut parent: Vec<(usize, usize)> = vec![(usize::MAX, 0)];
    let mut seen: FxMap<Vec<u32>, ()> = FxMap::default();
    seen.insert(states.clone(), ());
    // Visit classes in an order that prefers readable characters.
    let mut cls_order: Vec<usize> = (0..ncls).collect();
    cls_order.sort_by_key(|&c| {
        let r = alpha.representative(c);
        (
            !r.is_ascii_lowercase(),
            !r.is_ascii_digit(),
            !r.is_ascii_alphanumeric(),
            !r.is_ascii_graphic(),
            c,
        )
    });
    // A class leads nowhere new if every part's dead-state test says so; prune by live states.
    let mut i = 0;
    let mut nxt = vec![0u32; k];
    while i < parent.len() {
        let cur = states[i * k..(i + 1) * k].to_vec();
        if acc(&cur) {
            let mut chars = Vec::new();
            let mut j = i;
            while parent[j].0 != usize::MAX {
                chars.push(alpha.representative(parent[j].1));
                j = parent[j].0;
            }
            chars.reverse();
            return Some(chars.into_iter().collect());
        }
        for &c in &cls_order {
            for (slot, ((d, _), &s)) in nxt.iter_mut().zip(parts.iter().zip(&cur)) {
                *slot = d.next(s, c);
            }
            if !seen.contains_key(&nxt) {
                seen.insert(nxt.clone(), ());
                states.extend_from_slice(&nxt);
                parent.push((i, c));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(re: &Re, yes: &[&str], no: &[&str]) {
        for s in yes {
            assert!(re.matches(s), "{re:?} should match {s:?}");
        }
        for s in no {
            assert!(!re.matches(s), "{re:?} should not match {s:?}");
        }
    }

    #[test]
    fn globs() {
        check(
            &Re::glob("s3:Get*", true),
            &["s3:GetObject", "S3:gEt", "s3:get"],
            &["s3:PutObject", "s3:Ge"],
        );
        check(
            &Re::glob("a?c", false),
            &["abc", "aéc"],
            &["ac", "abbc", "Abc"],
        );
        check(&Re::glob("*", false), &["", "x"], &[]);
    }

    #[test]
    fn boolean_ops() {
        let r = Re::glob("arn:*", false).and(Re::glob("*:root", false).not());
        check(
            &r,
            &["arn:aws:iam::1:role/x"],
            &["arn:aws:iam::1:root", "foo"],
        );
        let w = {
            let mut sets = Vec::new();
            r.collect_sets(&mut sets);
            let a = Alphabet::new(&sets);
            let d = Dfa::compile(&r, &a);
            intersect_witness(&a, &[(&d, true)])
        };
        assert_eq!(w.as_deref(), Some("arn:"));
    }

    #[test]
    fn witness_of_empty_intersection() {
        let a_re = Re::lit("vpce-1");
        let mut sets = Vec::new();
        a_re.collect_sets(&mut sets);
        let a = Alphabet::new(&sets);
        let d = Dfa::compile(&a_re, &a);
        assert_eq!(intersect_witness(&a, &[(&d, true), (&d, false)]), None);
        assert_eq!(intersect_witness(&a, &[(&d, false)]).as_deref(), Some(""));
    }
}
