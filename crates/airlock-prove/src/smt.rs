//! SMT-LIB 2.6 form of a query, for cross-checking the solver with Z3: strings through the
//! sequence/regular-expression theory, numbers and dates as `Real`, IP addresses as 128-bit
//! bit-vectors. Set-valued variables use the small-model encoding: a set needs at most one element
//! per existential requirement, so `k` optional elements (`k` = number of set atoms) suffice.

use std::fmt::Write;

use crate::lang::smt_string;
use crate::logic::{Atom, Formula, Part, Problem, Sort, VarId};
use crate::sets::{Family, Interval};

fn vname(v: VarId) -> String {
    format!("v{}", v.0)
}

fn real(x: f64) -> String {
    let s = format!("{}", x.abs());
    let s = if s.contains('.') { s } else { format!("{s}.0") };
    if x < 0.0 { format!("(- {s})") } else { s }
}

fn bv(x: u128) -> String {
    format!("#x{x:032x}")
}

/// Prints the query `f` over `p` as a self-contained SMT-LIB script ending in `(check-sat)`.
pub fn to_smtlib(p: &Problem, f: &Formula) -> String {
    let mut out = String::new();
    // Only declare what the formula mentions (plus the variables of its atoms).
    let mut used_atoms = vec![false; p.atoms.len()];
    mark(f, &mut used_atoms);
    let mut set_sizes = vec![0usize; p.vars.len()];
    for (i, a) in p.atoms.iter().enumerate() {
        if let (true, Atom::SetAny(v, _) | Atom::SetAll(v, _)) = (used_atoms[i], a) {
            set_sizes[v.0 as usize] += 1;
        }
    }
    let mut used_vars = vec![false; p.vars.len()];
    for (i, a) in p.atoms.iter().enumerate() {
        if !used_atoms[i] {
            continue;
        }
        match a {
            Atom::Present(v)
            | Atom::SetAny(v, _)
            | Atom::SetAll(v, _)
            | Atom::Num(v, _)
            | Atom::Ip(v, _) => used_vars[v.0 as usize] = true,
            Atom::In(parts, _) => {
                for part in parts {
                    if let Part::Var(v) = part {
                        used_vars[v.0 as usize] = true;
                    }
                }
            }
            Atom::Flag(_) => {}
        }
    }
    for (i, d) in p.vars.iter().enumerate() {
        if !used_vars[i] {
            continue;
        }
        let v = vname(VarId(i as u32));
        let _ = writeln!(
            out,
            "; {} : {:?}{}",
            d.name.replace('\n', " "),
            d.sort,
            if d.optional { " (optional)" } else { "" }
        );
        if d.optional {
            let _ = writeln!(out, "(declare-const {v}_p Bool)");
        }
        match d.sort {
            Sort::Str => {
                let _ = writeln!(out, "(declare-const {v} String)");
                match d.domain.as_literals() {
                    // a finite domain (the action catalogue) as equalities, which Z3 splits on
                    Some(lits) => {
                        let eqs: Vec<String> = lits
                            .iter()
                            .map(|l| format!("(= {v} {})", smt_string(l)))
                            .collect();
                        let _ = writeln!(out, "(assert (or {}))", eqs.join(" "));
                    }
                    None => {
                        let _ = writeln!(out, "(assert (str.in_re {v} {}))", d.domain.to_smt());
                    }
                }
            }
            Sort::StrSet => {
                for k in 0..set_sizes[i].max(1) {
                    let _ = writeln!(out, "(declare-const {v}_e{k} String)");
                    let _ = writeln!(out, "(declare-const {v}_u{k} Bool)");
                    let _ = writeln!(out, "(assert (str.in_re {v}_e{k} {}))", d.domain.to_smt());
                }
            }
            Sort::Num | Sort::Date => {
                let _ = writeln!(
                    out,
                    "(declare-const {v} {})",
                    if d.sort == Sort::Date { "Int" } else { "Real" }
                );
                let _ = writeln!(out, "(declare-const {v}_n Bool)");
            }
            Sort::Ip => {
                let _ = writeln!(out, "(declare-const {v} (_ BitVec 128))");
                let _ = writeln!(out, "(declare-const {v}_4 Bool)");
                let _ = writeln!(out, "(declare-const {v}_n Bool)");
                let _ = writeln!(
                    out,
                    "(assert (=> {v}_4 (bvule {v} {})))",
                    bv(u32::MAX as u128)
                );
            }
        }
    }
    for (i, a) in p.atoms.iter().enumerate() {
        if let (true, Atom::Flag(_)) = (used_atoms[i], a) {
            let _ = writeln!(out, "(declare-const f{i} Bool)");
        }
    }
    let _ = writeln!(out, "(assert {})", formula(p, f, &set_sizes));
    out.push_str("(check-sat)\n");
    out
}

fn mark(f: &Formula, used: &mut [bool]) {
    match f {
        Formula::Const(_) => {}
        Formula::Atom(a) => used[a.0 as usize] = true,
        Formula::Not(x) => mark(x, used),
        Formula::And(v) | Formula::Or(v) => v.iter().for_each(|x| mark(x, used)),
    }
}

fn present(p: &Problem, v: VarId) -> String {
    if p.decl(v).optional {
        format!("{}_p", vname(v))
    } else {
        "true".into()
    }
}

fn int(x: f64) -> String {
    if x < 0.0 {
        format!("(- {})", -x as i128)
    } else {
        format!("{}", x as i128)
    }
}

fn interval(v: &str, i: &Interval, is_int: bool) -> String {
    let k = |x: f64| if is_int { int(x) } else { real(x) };
    let mut c = Vec::new();
    if i.lo.is_finite() {
        c.push(format!(
            "({} {} {v})",
            if i.lo_open { "<" } else { "<=" },
            k(i.lo)
        ));
    }
    if i.hi.is_finite() {
        c.push(format!(
            "({} {v} {})",
            if i.hi_open { "<" } else { "<=" },
            k(i.hi)
        ));
    }
    match c.len() {
        0 => "true".into(),
        1 => c.remove(0),
        _ => format!("(and {})", c.join(" ")),
    }
}

fn atom(p: &Problem, idx: usize, set_sizes: &[usize]) -> String {
    match &p.atoms[idx] {
        Atom::Present(v) => present(p, *v),
        Atom::Flag(_) => format!("f{idx}"),
        Atom::In(parts, re) => {
            let mut pres = Vec::new();
            let mut terms = Vec::new();
            for part in parts {
                match part {
                    Part::Lit(l) => terms.push(smt_string(l)),
                    Part::Var(v) => {
                        pres.push(present(p, *v));
                        terms.push(vname(*v));
                    }
                }
            }
            let t = if terms.len() == 1 {
                terms.remove(0)
            } else {
                format!("(str.++ {})", terms.join(" "))
            };
            format!("(and {} (str.in_re {t} {}))", pres.join(" "), re.to_smt())
        }
        Atom::SetAny(v, re) | Atom::SetAll(v, re) => {
            let n = vname(*v);
            let r = re.to_smt();
            let k = set_sizes[v.0 as usize].max(1);
            let any = matches!(p.atoms[idx], Atom::SetAny(..));
            let elems: Vec<String> = (0..k)
                .map(|i| {
                    if any {
                        format!("(and {n}_u{i} (str.in_re {n}_e{i} {r}))")
                    } else {
                        format!("(=> {n}_u{i} (str.in_re {n}_e{i} {r}))")
                    }
                })
                .collect();
            format!(
                "(and {} ({} {}))",
                present(p, *v),
                if any { "or" } else { "and" },
                elems.join(" ")
            )
        }
        Atom::Num(v, s) => {
            let n = vname(*v);
            let is_int = p.decl(*v).sort == Sort::Date;
            let ors: Vec<String> = s.0.iter().map(|i| interval(&n, i, is_int)).collect();
            format!(
                "(and {} {n}_n (or false {}))",
                present(p, *v),
                ors.join(" ")
            )
        }
        Atom::Ip(v, s) => {
            let n = vname(*v);
            let ors: Vec<String> =
                s.0.iter()
                    .map(|&(f, lo, hi)| {
                        let fam = if f == Family::V4 {
                            format!("{n}_4")
                        } else {
                            format!("(not {n}_4)")
                        };
                        format!("(and {fam} (bvule {} {n}) (bvule {n} {}))", bv(lo), bv(hi))
                    })
                    .collect();
            format!(
                "(and {} {n}_n (or false {}))",
                present(p, *v),
                ors.join(" ")
            )
        }
    }
}

fn formula(p: &Problem, f: &Formula, set_sizes: &[usize]) -> String {
    match f {
        Formula::Const(b) => b.to_string(),
        Formula::Atom(a) => atom(p, a.0 as usize, set_sizes),
        Formula::Not(x) => format!("(not {})", formula(p, x, set_sizes)),
        Formula::And(v) | Formula::Or(v) => {
            let op = if matches!(f, Formula::And(_)) {
                "and"
            } else {
                "or"
            };
            let parts: Vec<String> = v.iter().map(|x| formula(p, x, set_sizes)).collect();
            format!("({op} {})", parts.join(" "))
        }
    }
}
