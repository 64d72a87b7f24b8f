//! How condition operators read their operands: numbers, dates (epoch seconds or ISO 8601, as
//! milliseconds since the Unix epoch, and back to text), CIDR blocks and base64. The engine and
//! the prover share these so that what the prover reasons about is what the engine decides.

use std::net::IpAddr;

/// Parses a date as AWS's date operators accept it: epoch seconds, or ISO 8601
/// (`2020-01-01`, `2020-01-01T12:00:00Z`, with fractions and `±hh:mm` offsets). Returns
/// milliseconds since the Unix epoch.
pub fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
        || (s.starts_with('-') && s.len() > 1 && s[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        let secs: i128 = s.parse().ok()?;
        return secs.checked_mul(1000);
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut ms: i128 = i128::from(days_from_civil(year, month, day)) * 86_400_000;
    let mut i = 10;
    if i == b.len() {
        return Some(ms);
    }
    if !matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        return None;
    }
    i += 1;
    let hour = num(i, 2)?;
    if b.get(i + 2) != Some(&b':') {
        return None;
    }
    let minute = num(i + 3, 2)?;
    i += 5;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2)?;
        i += 3;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += i128::from((hour * 3600 + minute * 60 + second) * 1000);
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        let mut f: i128 = frac.parse().ok()?;
        for _ in frac.len()..3 {
            f *= 10;
        }
        ms += f;
    }
    match b.get(i) {
        // AWS requires a zone designator on date-times? It accepts `Z`; a missing one is read
        // as UTC here.
        None => Some(ms),
        Some(b'Z' | b'z') if i + 1 == b.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = if b.get(i + 3) == Some(&b':') {
                num(i + 4, 2)?
            } else {
                num(i + 3, 2)?
            };
            let end = if b.get(i + 3) == Some(&b':') {
                i + 6
            } else {
                i + 5
            };
            if end != b.len() || oh > 23 || om > 59 {
                return None;
            }
            let off = i128::from((oh * 60 + om) * 60_000);
            Some(if sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// A number as the `Numeric*` operators read it: integers and decimals, never `inf`/`nan`.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A CIDR block or a single address (IPv4 or IPv6) with its prefix length.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                return None;
            }
            p.parse().ok().filter(|&n| n <= max)?
        }
        None => max,
    };
    Some((addr, prefix))
}

/// Standard base64 with optional padding; `None` if malformed.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return None;
    }
    Some(out)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Renders milliseconds since the epoch so that [`parse_date`] reads them back exactly:
/// ISO 8601 with milliseconds inside years 0000-9999, epoch seconds otherwise (whole seconds).
pub fn render_date(ms: i128) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days as i64);
    if (0..=9999).contains(&y) {
        let (h, mi, s, f) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000,
        );
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
    } else {
        format!("{}", ms.div_euclid(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn round_trip() {
        for ms in [
            0i128,
            1,
            999,
            1_582_977_600_500,
            -86_400_001,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_date(&render_date(ms)), Some(ms), "{ms}");
        }
    }
}
