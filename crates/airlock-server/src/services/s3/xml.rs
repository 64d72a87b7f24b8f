//! S3 request XML (parsed with quick-xml into a small tree) and S3's time formats.

use airlock_s3::S3Error;
use quick_xml::events::Event;

/// The S3 XML namespace.
pub const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

const MAX_DEPTH: usize = 16;
const MAX_ELEMENTS: usize = 50_000;

/// An element: local name, text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (namespace prefix removed).
    pub name: String,
    /// Concatenated text content.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Parses a request body into its root element; anything not well-formed is `MalformedXML`.
pub fn parse(body: &[u8]) -> Result<Element, S3Error> {
    let bad = S3Error::malformed_xml;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| bad())?;
        match event {
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS || root.is_some() {
                    return Err(bad());
                }
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).map_err(|_| bad())?;
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS || root.is_some() {
                    return Err(bad());
                }
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).map_err(|_| bad())?;
                let el = Element {
                    name,
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(bad)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|_| bad())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(bad()),
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|_| bad())?;
                stack.last_mut().ok_or_else(bad)?.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(|_| bad())?.ok_or_else(bad)?
                } else {
                    let name = r.decode().map_err(|_| bad())?;
                    entity(&name).ok_or_else(bad)?
                };
                stack.last_mut().ok_or_else(bad)?.text.push(c);
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad());
    }
    root.ok_or_else(bad)
}

/// Parses a required root element named `name`.
pub fn parse_root(body: &[u8], name: &str) -> Result<Element, S3Error> {
    let root = parse(body)?;
    if root.name != name {
        return Err(S3Error::malformed_xml());
    }
    Ok(root)
}

/// `true`/`false` as S3 accepts it.
pub fn parse_bool(s: &str) -> Result<bool, S3Error> {
    match s.trim() {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" => Ok(false),
        _ => Err(S3Error::malformed_xml()),
    }
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2026-01-02T03:04:05.000Z`, as S3 writes times in XML.
pub fn iso8601_ms(ms: i64) -> String {
    let t = datetime(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `Fri, 02 Jan 2026 03:04:05 GMT`, as S3 writes times in headers.
pub fn http_date(ms: i64) -> String {
    let t = datetime(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month() as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date (`Fri, 02 Jan 2026 03:04:05 GMT`) or an ISO 8601 time to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split_whitespace();
    let day: u8 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u8 + 1;
    let year: i32 = parts.next()?.parse().ok()?;
    let hms: Vec<u8> = parts.next()?.split(':').map(|x| x.parse().ok()).collect::<Option<Vec<u8>>>()?;
    if hms.len() != 3 || !matches!(parts.next(), Some("GMT") | Some("UTC") | Some("+0000")) {
        return None;
    }
    let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let t = date.with_hms(hms[0], hms[1], hms[2]).ok()?.assume_utc();
    Some(t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_documents_with_entities_and_namespaces() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a&amp;b&#x263A;</Key></Object><Object><Key><![CDATA[<c>]]></Key><VersionId>v</VersionId></Object></Delete>"#;
        let root = parse_root(doc, "Delete").unwrap();
        let keys: Vec<&str> = root.all("Object").map(|o| o.text_of("Key").unwrap()).collect();
        assert_eq!(keys, ["a&b\u{263A}", "<c>"]);
        assert_eq!(root.text_of("Quiet"), Some("true"));
        for bad in [&b"<a><b></a>"[..], b"", b"text", b"<a></a><b/>", b"<a>&bogus;</a>", b"<a>"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn time_formats() {
        assert_eq!(iso8601_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(http_date(1_700_000_000_123), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT"), Some(1_700_000_000));
        assert_eq!(parse_http_date("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".*") {
            let _ = parse(s.as_bytes());
            let _ = parse_http_date(&s);
        }

        #[test]
        fn deep_nesting_is_refused(n in 17usize..200) {
            let doc = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
            prop_assert!(parse(doc.as_bytes()).is_err());
        }
    }
}
