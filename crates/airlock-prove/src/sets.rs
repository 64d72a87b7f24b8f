//! Interval theories: numbers and dates (unions of intervals over the reals, endpoints open or
//! closed) and IP addresses (unions of inclusive ranges per address family, 32 or 128 bits).

use std::cmp::Ordering;

/// One endpoint-aware interval of reals. `lo`/`hi` may be infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Whether the lower bound is excluded.
    pub lo_open: bool,
    /// Upper bound.
    pub hi: f64,
    /// Whether the upper bound is excluded.
    pub hi_open: bool,
}

impl Interval {
    fn is_empty(&self) -> bool {
        match self.lo.partial_cmp(&self.hi) {
            Some(Ordering::Less) => false,
            Some(Ordering::Equal) => self.lo_open || self.hi_open || self.lo.is_infinite(),
            _ => true,
        }
    }
    fn contains(&self, x: f64) -> bool {
        let above = if self.lo_open {
            x > self.lo
        } else {
            x >= self.lo
        };
        let below = if self.hi_open {
            x < self.hi
        } else {
            x <= self.hi
        };
        above && below
    }
}

/// A finite union of real intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct NumSet(pub Vec<Interval>);

impl Eq for NumSet {}
impl std::hash::Hash for NumSet {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for i in &self.0 {
            i.lo.to_bits().hash(h);
            i.hi.to_bits().hash(h);
            i.lo_open.hash(h);
            i.hi_open.hash(h);
        }
    }
}

impl NumSet {
    /// All reals.
    pub fn all() -> NumSet {
        NumSet(vec![Interval {
            lo: f64::NEG_INFINITY,
            lo_open: true,
            hi: f64::INFINITY,
            hi_open: true,
        }])
    }
    /// `{x}`.
    pub fn point(x: f64) -> NumSet {
        NumSet(vec![Interval {
            lo: x,
            lo_open: false,
            hi: x,
            hi_open: false,
        }])
    }
    /// `x < v` (strict) or `x <= v`.
    pub fn below(v: f64, inclusive: bool) -> NumSet {
        NumSet(vec![Interval {
            lo: f64::NEG_INFINITY,
            lo_open: true,
            hi: v,
            hi_open: !inclusive,
        }])
    }
    /// `x > v` (strict) or `x >= v`.
    pub fn above(v: f64, inclusive: bool) -> NumSet {
        NumSet(vec![Interval {
            lo: v,
            lo_open: !inclusive,
            hi: f64::INFINITY,
            hi_open: true,
        }])
    }
    /// Union.
    pub fn union(&self, o: &NumSet) -> NumSet {
        let mut v = self.0.clone();
        v.extend_from_slice(&o.0);
        NumSet(v).normalize()
    }
    /// Intersection.
    pub fn intersect(&self, o: &NumSet) -> NumSet {
        let mut out = Vec::new();
        for a in &self.0 {
            for b in &o.0 {
                let (lo, lo_open) = match a.lo.partial_cmp(&b.lo) {
                    Some(Ordering::Less) => (b.lo, b.lo_open),
                    Some(Ordering::Greater) => (a.lo, a.lo_open),
                    _ => (a.lo, a.lo_open || b.lo_open),
                };
                let (hi, hi_open) = match a.hi.partial_cmp(&b.hi) {
                    Some(Ordering::Less) => (a.hi, a.hi_open),
                    Some(Ordering::Greater) => (b.hi, b.hi_open),
                    _ => (a.hi, a.hi_open || b.hi_open),
                };
                let i = Interval {
                    lo,
                    lo_open,
                    hi,
                    hi_open,
                };
                if !i.is_empty() {
                    out.push(i);
                }
            }
        }
        NumSet(out).normalize()
    }
    /// Complement within the reals.
    pub fn complement(&self) -> NumSet {
        let s = self.clone().normalize();
        let mut out = Vec::new();
        let mut lo = f64::NEG_INFINITY;
        let mut lo_open = true;
        for i in &s.0 {
            let gap = Interval {
                lo,
                lo_open,
                hi: i.lo,
                hi_open: !i.lo_open,
            };
            if !gap.is_empty() {
                out.push(gap);
            }
            lo = i.hi;
            lo_open = !i.hi_open;
        }
        let last = Interval {
            lo,
            lo_open,
            hi: f64::INFINITY,
            hi_open: true,
        };
        if !last.is_empty() {
            out.push(last);
        }
        NumSet(out)
    }
    fn normalize(mut self) -> NumSet {
        self.0.retain(|i| !i.is_empty());
        self.0.sort_by(|a, b| {
            a.lo.partial_cmp(&b.lo)
                .unwrap_or(Ordering::Equal)
                .then((a.lo_open).cmp(&b.lo_open))
        });
        let mut out: Vec<Interval> = Vec::new();
        for i in self.0 {
            if let Some(l) = out.last_mut() {
                let touches = match i.lo.partial_cmp(&l.hi) {
                    Some(Ordering::Less) => true,
                    Some(Ordering::Equal) => !(i.lo_open && l.hi_open),
                    _ => false,
                };
                if touches {
                    match i.hi.partial_cmp(&l.hi) {
                        Some(Ordering::Greater) => {
                            l.hi = i.hi;
                            l.hi_open = i.hi_open;
                        }
                        Some(Ordering::Equal) => l.hi_open = l.hi_open && i.hi_open,
                        _ => {}
                    }
                    continue;
                }
            }
            out.push(i);
        }
        NumSet(out)
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|i| i.is_empty())
    }
    /// Membership.
    pub fn contains(&self, x: f64) -> bool {
        self.0.iter().any(|i| i.contains(x))
    }
    /// An integer member (for dates, which are whole milliseconds).
    pub fn int_witness(&self) -> Option<f64> {
        for i in &self.0 {
            if i.is_empty() {
                continue;
            }
            let lo = if i.lo.is_infinite() {
                if i.hi.is_infinite() {
                    0.0
                } else {
                    i.hi.floor() - 1.0
                }
            } else {
                let c = i.lo.ceil();
                if i.lo_open && c == i.lo { c + 1.0 } else { c }
            };
            if lo.is_finite() && i.contains(lo) {
                return Some(lo);
            }
        }
        None
    }
    /// A member, preferring integers and small magnitudes.
    pub fn witness(&self) -> Option<f64> {
        for i in &self.0 {
            if i.is_empty() {
                continue;
            }
            // try an integer inside
            let cand = if i.lo.is_infinite() && i.hi.is_infinite() {
                0.0
            } else if i.lo.is_infinite() {
                (i.hi - 1.0).floor().min(i.hi)
            } else {
                i.lo.floor() + 1.0
            };
            for c in [cand, i.lo.ceil(), i.lo, i.hi, i.hi.floor()] {
                if c.is_finite() && i.contains(c) {
                    return Some(c);
                }
            }
            let mid = i.lo / 2.0 + i.hi / 2.0;
            if i.contains(mid) {
                return Some(mid);
            }
        }
        None
    }
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4: 32-bit values.
    V4,
    /// IPv6: 128-bit values.
    V6,
}

impl Family {
    /// Largest value of the family.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
}

/// A finite union of inclusive address ranges, per family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IpSet(pub Vec<(Family, u128, u128)>);

impl IpSet {
    /// Every address of both families.
    pub fn all() -> IpSet {
        IpSet(vec![
            (Family::V4, 0, Family::V4.max()),
            (Family::V6, 0, Family::V6.max()),
        ])
    }
    /// A CIDR block.
    pub fn cidr(fam: Family, addr: u128, prefix: u32) -> IpSet {
        let bits = match fam {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        let prefix = prefix.min(bits);
        let host = bits - prefix;
        let mask: u128 = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        let lo = addr & !mask & fam.max();
        IpSet(vec![(fam, lo, lo | mask & fam.max())])
    }
    /// Union.
    pub fn union(&self, o: &IpSet) -> IpSet {
        let mut v = self.0.clone();
        v.extend_from_slice(&o.0);
        IpSet(v).normalize()
    }
    /// Intersection.
    pub fn intersect(&self, o: &IpSet) -> IpSet {
        let mut out = Vec::new();
        for &(f, a, b) in &self.0 {
            for &(g, c, d) in &o.0 {
                if f == g && a.max(c) <= b.min(d) {
                    out.push((f, a.max(c), b.min(d)));
                }
            }
        }
        IpSet(out).normalize()
    }
    /// Complement within both families.
    pub fn complement(&self) -> IpSet {
        let s = self.clone().normalize();
        let mut out = Vec::new();
        for fam in [Family::V4, Family::V6] {
            let mut next: Option<u128> = Some(0);
            for &(f, a, b) in &s.0 {
                if f != fam {
                    continue;
                }
                if let Some(n) = next
                    && a > n
                {
                    out.push((fam, n, a - 1));
                }
                next = if b == fam.max() { None } else { Some(b + 1) };
            }
            if let Some(n) = next {
                out.push((fam, n, fam.max()));
            }
        }
        IpSet(out)
    }
    fn normalize(mut self) -> IpSet {
        self.0.sort();
        let mut out: Vec<(Family, u128, u128)> = Vec::new();
        for (f, a, b) in self.0 {
            if let Some(l) = out.last_mut()
                && l.0 == f
                && (a <= l.2 || a == l.2.saturating_add(1))
            {
                l.2 = l.2.max(b);
                continue;
            }
            out.push((f, a, b));
        }
        IpSet(out)
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Membership.
    pub fn contains(&self, fam: Family, x: u128) -> bool {
        self.0.iter().any(|&(f, a, b)| f == fam && a <= x && x <= b)
    }
    /// A member, preferring IPv4 and a non-network address of the first range.
    pub fn witness(&self) -> Option<(Family, u128)> {
        let mut v = self.0.clone();
        v.sort_by_key(|&(f, _, _)| f);
        v.first()
            .map(|&(f, a, b)| (f, if b > a { a + 1 } else { a }))
    }
}

/// Renders an address.
pub fn render_ip(fam: Family, x: u128) -> String {
    match fam {
        Family::V4 => std::net::Ipv4Addr::from(x as u32).to_string(),
        Family::V6 => std::net::Ipv6Addr::from(x).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_sets() {
        let a = NumSet::above(3.0, false).intersect(&NumSet::below(5.0, true));
        assert!(a.contains(5.0) && !a.contains(3.0));
        let c = a.complement();
        assert!(c.contains(3.0) && !c.contains(4.0) && c.contains(5.5));
        assert!(
            NumSet::point(2.0)
                .intersect(&NumSet::point(2.0).complement())
                .is_empty()
        );
        assert_eq!(NumSet::above(3.0, false).witness(), Some(4.0));
        assert!(
            NumSet::above(3.0, false)
                .intersect(&NumSet::below(3.0, true))
                .is_empty()
        );
    }

    #[test]
    fn ip_sets() {
        let s = IpSet::cidr(Family::V4, 0x0a00_0000, 8);
        assert!(s.contains(Family::V4, 0x0a01_0203));
        let c = s.complement();
        assert!(!c.contains(Family::V4, 0x0a01_0203) && c.contains(Family::V6, 5));
        assert!(s.intersect(&c).is_empty());
        assert_eq!(render_ip(Family::V4, 0x0a00_0001), "10.0.0.1");
    }
}
