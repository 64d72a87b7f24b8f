//! IPv4 CIDR blocks.

use std::net::Ipv4Addr;

/// An IPv4 CIDR block such as `10.0.0.0/16`, normalized to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub base: u32,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; `None` for anything else or host bits set.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        if len > 32 {
            return None;
        }
        let base = u32::from(addr);
        let c = Cidr { base, len };
        if base & !c.mask() != 0 {
            return None;
        }
        Some(c)
    }

    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// The last address of the block.
    pub fn last(&self) -> u32 {
        self.base | !self.mask()
    }

    /// Whether `other` lies inside this block.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.len >= self.len && other.base & self.mask() == self.base
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// The `n`-th address of the block, as text.
    pub fn host(&self, n: u32) -> String {
        Ipv4Addr::from(self.base.wrapping_add(n)).to_string()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_relates() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let sub = Cidr::parse("10.0.1.0/24").unwrap();
        assert!(vpc.contains(&sub));
        assert!(!sub.contains(&vpc));
        assert!(vpc.overlaps(&sub));
        assert!(!Cidr::parse("10.1.0.0/24").unwrap().overlaps(&sub));
        assert_eq!(sub.host(4), "10.0.1.4");
        assert_eq!(Cidr::parse("10.0.0.1/16"), None);
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("10.0.0.0"), None);
        assert_eq!(vpc.to_string(), "10.0.0.0/16");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = Cidr::parse(&s);
        }
    }
}
