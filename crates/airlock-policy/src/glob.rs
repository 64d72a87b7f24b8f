//! Wildcard matching as the policy language uses it: `*` matches any run of characters
//! (including none), `?` matches exactly one character. Allocation-free.
//!
//! Patterns come in two forms: plain policy text, where `*` and `?` are wildcards, and
//! token lists produced by policy-variable substitution, where substituted values and the
//! escapes `${*}`, `${?}`, `${$}` are literal characters.

/// One pattern element at byte granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A literal byte (multi-byte characters are consecutive literal bytes).
    Lit(u8),
    /// `*`.
    Star,
    /// `?`.
    One,
}

/// A pattern: indexable tokens, cheaply sliceable.
pub(crate) trait Pattern: Copy {
    fn len(self) -> usize;
    fn tok(self, i: usize) -> Tok;
    fn slice(self, from: usize, to: usize) -> Self;
}

/// Policy text in which `*` and `?` are wildcards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wild<'a>(pub(crate) &'a [u8]);

impl Pattern for Wild<'_> {
    fn len(self) -> usize {
        self.0.len()
    }
    fn tok(self, i: usize) -> Tok {
        match self.0[i] {
            b'*' => Tok::Star,
            b'?' => Tok::One,
            b => Tok::Lit(b),
        }
    }
    fn slice(self, from: usize, to: usize) -> Self {
        Wild(&self.0[from..to])
    }
}

impl Pattern for &[Tok] {
    fn len(self) -> usize {
        <[Tok]>::len(self)
    }
    fn tok(self, i: usize) -> Tok {
        self[i]
    }
    fn slice(self, from: usize, to: usize) -> Self {
        &self[from..to]
    }
}

/// Length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        // Continuation byte: only reachable on malformed input; advance one byte.
        _ => 1,
    }
}

/// Matches `text` against the whole pattern. With `fold`, ASCII letters compare ignoring case.
///
/// Greedy matching with a single backtrack point: linear in practice, O(n·m) worst case.
pub(crate) fn glob<P: Pattern>(pat: P, text: &[u8], fold: bool) -> bool {
    let (plen, tlen) = (pat.len(), text.len());
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < tlen {
        if p < plen {
            match pat.tok(p) {
                Tok::Star => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                Tok::One => {
                    t += char_len(text[t]);
                    p += 1;
                    continue;
                }
                Tok::Lit(b) => {
                    let c = text[t];
                    if b == c || (fold && b.eq_ignore_ascii_case(&c)) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match backtrack {
            Some((sp, st)) => {
                let nt = st + char_len(text[st]);
                backtrack = Some((sp, nt));
                p = sp + 1;
                t = nt;
            }
            None => return false,
        }
    }
    while p < plen && pat.tok(p) == Tok::Star {
        p += 1;
    }
    p == plen && t <= tlen
}

/// Matches a string against policy text with wildcards, fast paths first.
pub(crate) fn wild_match(pattern: &str, text: &str, fold: bool) -> bool {
    let pb = pattern.as_bytes();
    if pb == b"*" {
        return true;
    }
    // The glob itself fails fast on the first literal mismatch, which is how most patterns
    // fail; no separate scan for wildcards is needed.
    glob(Wild(pb), text.as_bytes(), fold)
}

/// Finds the end of the next colon-separated field of a pattern starting at `from`.
fn next_colon<P: Pattern>(pat: P, from: usize) -> Option<usize> {
    (from..pat.len()).find(|&i| pat.tok(i) == Tok::Lit(b':'))
}

/// ARN matching as AWS does for `Resource` and the `Arn*` condition operators: the six
/// colon-separated fields (`arn`, partition, service, region, account, resource) are matched
/// separately, each with wildcards, case-sensitively. The last field of the pattern absorbs
/// the rest of the ARN, so a trailing `*` "can expand to match beyond the colon boundaries"
/// (IAM JSON policy elements: Resource) and `*` alone matches everything.
pub(crate) fn arn_match<P: Pattern>(pat: P, arn: &str) -> bool {
    let text = arn.as_bytes();
    let (mut ps, mut ts) = (0usize, 0usize);
    for _ in 0..5 {
        let Some(pe) = next_colon(pat, ps) else {
            // Last pattern field: match it against everything that is left.
            return glob(pat.slice(ps, pat.len()), &text[ts..], false);
        };
        let Some(te) = text[ts..].iter().position(|&b| b == b':').map(|i| ts + i) else {
            return false;
        };
        if !glob(pat.slice(ps, pe), &text[ts..te], false) {
            return false;
        }
        ps = pe + 1;
        ts = te + 1;
    }
    glob(pat.slice(ps, pat.len()), &text[ts..], false)
}

/// Index of the first `*`, `?` or `$` in `b` (the bytes that make a pattern more than a
/// literal), or `b.len()`. Eight bytes at a time.
pub(crate) fn first_special(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has = |x: u64, byte: u8| {
        let y = x ^ (ONES * u64::from(byte));
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    let mut i = 0;
    while i + 8 <= b.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(chunk);
        let m = has(x, b'*') | has(x, b'?') | has(x, b'$');
        if m != 0 {
            // The lowest flagged byte is exact (borrows only propagate upwards).
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() {
        if matches!(b[i], b'*' | b'?' | b'$') {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// [`arn_match`] on policy text without policy variables, with the common fast paths.
pub(crate) fn arn_match_str(pattern: &str, arn: &str) -> bool {
    let pb = pattern.as_bytes();
    if pb == b"*" {
        return true;
    }
    arn_match_from(pattern, arn, first_special(pb))
}

/// [`arn_match_str`] when the caller already knows `first_special(pattern)`.
pub(crate) fn arn_match_from(pattern: &str, arn: &str, special: usize) -> bool {
    let pb = pattern.as_bytes();
    // The literal prefix (up to the first wildcard) must equal the ARN's start: most patterns
    // that do not match differ there.
    let mut k = special;
    while k < pb.len() && pb[k] == b'$' {
        // `$` is literal here; look for the first real wildcard after it.
        k += 1 + first_special(&pb[k + 1..]);
    }
    if k == pb.len() {
        return pattern == arn;
    }
    if !arn.as_bytes().starts_with(&pb[..k]) {
        return false;
    }
    // A single trailing `*` after the five field separators (the usual `arn:aws:s3:::bucket/*`)
    // matches whatever follows the prefix.
    if k == pb.len() - 1 && pb[k] == b'*' && pb[..k].iter().filter(|&&b| b == b':').count() >= 5 {
        return true;
    }
    arn_match(Wild(pb), arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(wild_match("s3:Get*", "s3:GetObject", false));
        assert!(wild_match("s3:get*", "S3:GetObject", true));
        assert!(!wild_match("s3:get*", "S3:GetObject", false));
        assert!(wild_match("s3:*Object", "s3:PutObject", false));
        assert!(wild_match("a?c", "abc", false));
        assert!(wild_match("a?c", "aéc", false));
        assert!(!wild_match("a?c", "ac", false));
        assert!(wild_match("*a*b*c*", "xxaxxbxxcxx", false));
        assert!(!wild_match("*a*b*c", "xxaxxbxxcxx", false));
        assert!(wild_match("", "", false));
        assert!(!wild_match("", "a", false));
        assert!(wild_match("**", "", false));
    }

    #[test]
    fn first_special_finds_the_first_wildcard_or_dollar() {
        for (s, i) in [
            ("", 0),
            ("abc", 3),
            ("*", 0),
            ("arn:aws:s3:::bucket-name/x?", 26),
            ("arn:aws:s3:::bucket-name/${aws:username}/*", 25),
            ("0123456789abcdef*", 16),
            ("0123456*", 7),
        ] {
            assert_eq!(first_special(s.as_bytes()), i, "{s}");
        }
        for n in 0..40 {
            let mut s = "a".repeat(n);
            s.push('?');
            assert_eq!(first_special(s.as_bytes()), n);
        }
    }

    #[test]
    fn arn_fields() {
        assert!(arn_match_str(
            "arn:aws:s3:::bucket/*",
            "arn:aws:s3:::bucket/a/b"
        ));
        assert!(!arn_match_str(
            "arn:aws:s3:::bucket/*",
            "arn:aws:s3:::bucket"
        ));
        assert!(arn_match_str("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket"));
        assert!(arn_match_str(
            "arn:aws:kms:*:222222222222:key/*",
            "arn:aws:kms:us-east-1:222222222222:key/k"
        ));
        // A wildcard inside a field does not cross the colon into the next field.
        assert!(!arn_match_str(
            "arn:aws:ec2:us-*:1:instance/x",
            "arn:aws:ec2:us-east:1:1:instance/x"
        ));
        // A trailing wildcard in the last field absorbs colons.
        assert!(arn_match_str(
            "arn:aws:iam::*",
            "arn:aws:iam::123456789012:role/x"
        ));
        assert!(arn_match_str(
            "arn:aws:logs:us-east-1:1:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:a:b"
        ));
        assert!(arn_match_str("*", "*"));
        assert!(!arn_match_str("arn:aws:s3:::b", "*"));
        // Case-sensitive.
        assert!(!arn_match_str(
            "arn:aws:s3:::Bucket/*",
            "arn:aws:s3:::bucket/x"
        ));
    }
}
