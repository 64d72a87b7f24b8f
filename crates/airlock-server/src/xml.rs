//! A minimal XML writer for AWS response documents.

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds an XML document element by element.
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    /// A document with the XML declaration.
    pub fn new() -> Self {
        Xml {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// `<tag xmlns="ns">`.
    pub fn open_ns(&mut self, tag: &str, ns: &str) -> &mut Self {
        self.buf
            .push_str(&format!("<{tag} xmlns=\"{}\">", escape(ns)));
        self
    }

    /// `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>text</tag>`.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.buf.push_str(&escape(text));
        self.close(tag)
    }

    /// `<tag>text</tag>` when `text` is `Some`.
    pub fn opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }

    /// Appends markup as is (the caller escapes).
    pub fn raw(&mut self, markup: &str) -> &mut Self {
        self.buf.push_str(markup);
        self
    }

    /// The document.
    pub fn finish(self) -> String {
        self.buf
    }
}

/// ISO 8601 UTC time as AWS query APIs format it: `2026-01-02T03:04:05Z`.
pub fn iso8601(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_and_formats() {
        let mut x = super::Xml::new();
        x.open_ns("A", "urn:x").leaf("B", "<&>\"'").close("A");
        assert!(
            x.finish()
                .ends_with("<A xmlns=\"urn:x\"><B>&lt;&amp;&gt;&quot;&apos;</B></A>")
        );
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
    }
}
