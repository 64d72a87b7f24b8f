//! A whole check of a setup (its properties and findings) and its renderings: a human table,
//! JSON, and SARIF 2.1.0 for code scanning. Also the default properties a setup claims.

use airlock_policy::model::{PrincipalClause, PrincipalEntry, Principals};
use airlock_policy::setup::{Setup, SetupPrincipalKind, SetupResourceKind};
use airlock_policy::{Effect, Request};
use serde::Serialize;
use serde_json::{Value, json};

use crate::check::{CheckOptions, Checker, Outcome, Property, PropertyResult, Scope};
use crate::findings::{Finding, RULES, Severity, lint};

/// Everything `airlock check` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The setup checked (as named on the command line).
    pub setup: String,
    /// Property results.
    pub properties: Vec<PropertyResult>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Total wall-clock milliseconds.
    pub millis: f64,
}

/// The properties a setup claims by its own shape: nothing is public; data needs TLS; a bucket
/// whose policy denies requests outside named VPC endpoints claims that only those endpoints reach
/// it (for data access, and for everything); a bucket with a key in its account claims that
/// objects are encrypted with that key; the principals a bucket policy allows claim to be its
/// only users and to be unable to delete; a role's trust claims to admit only its consumers.
pub fn default_properties(setup: &Setup) -> Vec<Property> {
    let mut out = vec![Property::NotPublic {
        scope: Scope::default(),
    }];
    for b in setup
        .resources()
        .iter()
        .filter(|r| r.kind == SetupResourceKind::S3Bucket)
    {
        let scope = Scope {
            resources: vec![b.arn.clone()],
            ..Scope::default()
        };
        out.push(Property::RequiresTls {
            scope: scope.clone(),
        });
        let Some(pol) = &b.policy else { continue };
        let mut vpces: Vec<String> = Vec::new();
        let mut allowed: Vec<String> = Vec::new();
        for st in &pol.policy.statements {
            if st.effect == Effect::Deny {
                for c in &st.conditions {
                    if c.key_lower() == "aws:sourcevpce" && c.operator.kind.is_negated() {
                        vpces.extend(c.values.iter().cloned());
                    }
                }
            } else if let Some(PrincipalClause::Principal(Principals::Listed(es))) = &st.principal {
                for e in es {
                    if let PrincipalEntry::Arn(a) = e {
                        allowed.push(a.clone());
                    }
                }
            }
        }
        vpces.sort();
        vpces.dedup();
        allowed.sort();
        allowed.dedup();
        if !vpces.is_empty() {
            out.push(Property::OnlyViaVpce {
                endpoints: vpces.clone(),
                scope: Scope {
                    actions: vec![
                        "s3:GetObject*".into(),
                        "s3:PutObject*".into(),
                        "s3:List*".into(),
                        "s3:DeleteObject*".into(),
                    ],
                    ..scope.clone()
                },
            });
            out.push(Property::OnlyViaVpce {
                endpoints: vpces,
                scope: scope.clone(),
            });
        }
        if let Some(key) = setup
            .resources()
            .iter()
            .find(|k| k.kind == SetupResourceKind::KmsKey && k.account == b.account)
        {
            out.push(Property::RequiresKmsKey {
                key: key.arn.clone(),
                scope: scope.clone(),
            });
        }
        if !allowed.is_empty() {
            out.push(Property::OnlyPrincipals {
                principals: allowed.clone(),
                scope: scope.clone(),
            });
            out.push(Property::NoActions {
                actions: vec![
                    "s3:Delete*".into(),
                    "s3:PutBucketPolicy".into(),
                    "s3:PutLifecycleConfiguration".into(),
                ],
                scope: Scope {
                    principals: allowed,
                    ..scope.clone()
                },
            });
        }
    }
    for role in setup
        .principals()
        .iter()
        .filter(|p| p.kind == SetupPrincipalKind::Role)
    {
        let consumers: Vec<String> = setup
            .principals()
            .iter()
            .filter(|p| {
                p.arn != role.arn
                    && p.identity.iter().any(|ip| {
                        ip.policy.statements.iter().any(|s| {
                            s.effect == Effect::Allow
                                && matches!(&s.resource, Some(airlock_policy::ResourceClause::Resource(rs)) if rs.iter().any(|r| r.0 == role.arn))
                        })
                    })
            })
            .map(|p| p.arn.clone())
            .collect();
        if !consumers.is_empty() {
            out.push(Property::OnlyPrincipals {
                principals: consumers,
                scope: Scope {
                    resources: vec![role.arn.clone()],
                    actions: vec!["sts:AssumeRole".into()],
                    principals: vec![],
                },
            });
        }
    }
    out
}

/// Checks properties (the setup's defaults when `props` is empty) and runs the lints.
pub fn run(setup: &Setup, name: &str, props: &[Property], lints: bool) -> Report {
    let start = std::time::Instant::now();
    let mut checker = Checker::new(setup, CheckOptions::default());
    let props = if props.is_empty() {
        default_properties(setup)
    } else {
        props.to_vec()
    };
    let properties = props.iter().map(|p| checker.check(p)).collect();
    let findings = if lints {
        lint(&mut checker)
    } else {
        Vec::new()
    };
    Report {
        setup: name.to_string(),
        properties,
        findings,
        millis: start.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The width of a table when the terminal's is not known.
pub const DEFAULT_WIDTH: usize = 100;

/// `text` in lines of at most `width` characters, broken at spaces. A word longer than `width`
/// (an ARN, a long property) is never cut: it gets a line of its own. Always at least one line;
/// every character but the spaces broken at is kept.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = line.chars().count();
        if n > 0 && n + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

impl Report {
    /// True if a property failed or was undecided, or a finding reaches `threshold`.
    pub fn failed(&self, threshold: Severity) -> bool {
        self.properties
            .iter()
            .any(|p| !matches!(p.outcome, Outcome::Proved))
            || self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The human table, 100 columns wide.
    pub fn to_table(&self) -> String {
        self.to_table_width(DEFAULT_WIDTH)
    }

    /// The human table within `width` columns: long cells wrap onto continuation lines, at
    /// spaces where they can; a word longer than its column (an ARN) keeps a line of its own,
    /// whole, even past the width. No text is ever cut.
    pub fn to_table_width(&self, width: usize) -> String {
        let mut rows: Vec<[String; 4]> = vec![[
            "PROPERTY".into(),
            "RESULT".into(),
            "TIME".into(),
            "COUNTEREXAMPLE / REASON".into(),
        ]];
        for p in &self.properties {
            let (res, detail) = match &p.outcome {
                Outcome::Proved => ("proved".to_string(), String::new()),
                Outcome::Violated {
                    counterexample: Some(cx),
                    ..
                } => ("VIOLATED".into(), cx.summary()),
                Outcome::Violated {
                    counterexample: None,
                    reason,
                } => ("VIOLATED".into(), reason.clone()),
                Outcome::Unknown { reason } => ("unknown".into(), reason.clone()),
            };
            rows.push([
                p.property.clone(),
                res,
                format!("{:.1} ms", p.millis),
                detail,
            ]);
        }
        let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
        let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0);
        // The property column takes what it needs up to 40% of the width; the reason the rest.
        let fixed = w1 + w2 + 6;
        let w0 = rows
            .iter()
            .map(|r| r[0].chars().count())
            .max()
            .unwrap_or(0)
            .min((width.saturating_sub(fixed) * 2 / 5).max(12));
        let w3 = width.saturating_sub(fixed + w0).max(20);
        let mut out = String::new();
        for r in &rows {
            let mut names = wrap(&r[0], w0);
            if names.iter().any(|n| n.chars().count() > w0) {
                // A name too long for its column: on lines of its own, the row below it.
                for n in names.drain(..) {
                    out.push_str(&n);
                    out.push('\n');
                }
            }
            let details = wrap(&r[3], w3);
            for i in 0..names.len().max(details.len()) {
                let name = names.get(i).map_or("", String::as_str);
                let detail = details.get(i).map_or("", String::as_str);
                let (res, time) = if i == 0 {
                    (r[1].as_str(), r[2].as_str())
                } else {
                    ("", "")
                };
                let line = format!("{name:<w0$}  {res:<w1$}  {time:>w2$}  {detail}");
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        if !self.findings.is_empty() {
            out.push_str(&format!("\nFINDINGS ({})\n", self.findings.len()));
            for f in &self.findings {
                let at = f
                    .location
                    .as_ref()
                    .map(|l| {
                        let st = match (l.statement, &l.sid) {
                            (Some(i), Some(s)) => format!(" statement {i} ({s})"),
                            (Some(i), None) => format!(" statement {i}"),
                            _ => String::new(),
                        };
                        format!("{}{st}", l.policy.name)
                    })
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{} {:<7} {}: {}\n    at:  {}\n    fix: {}\n",
                    f.id,
                    f.severity.as_str(),
                    f.name,
                    f.message,
                    at,
                    f.fix
                ));
                if let Some(cx) = &f.counterexample {
                    out.push_str(&format!("    e.g. {}\n", cx.summary()));
                }
            }
        }
        let proved = self
            .properties
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::Proved))
            .count();
        out.push_str(&format!(
            "\n{} properties: {proved} proved, {} violated, {} unknown; {} findings; {:.1} ms\n",
            self.properties.len(),
            self.properties
                .iter()
                .filter(|p| matches!(p.outcome, Outcome::Violated { .. }))
                .count(),
            self.properties
                .iter()
                .filter(|p| matches!(p.outcome, Outcome::Unknown { .. }))
                .count(),
            self.findings.len(),
            self.millis
        ));
        out
    }

    /// SARIF 2.1.0. `source` is the setup document's text, used to point at line numbers.
    pub fn to_sarif(&self, source: Option<&str>) -> Value {
        let line_of = |needle: &str| -> usize {
            source
                .and_then(|s| s.lines().position(|l| l.contains(needle)))
                .map(|i| i + 1)
                .unwrap_or(1)
        };
        let mut rules: Vec<Value> = RULES
            .iter()
            .map(|(id, name, desc)| json!({"id": id, "name": name, "shortDescription": {"text": desc}}))
            .collect();
        for name in [
            "only-principals",
            "only-via-vpce",
            "not-public",
            "no-actions",
            "requires-tls",
            "requires-kms-key",
        ] {
            rules.push(json!({"id": format!("property/{name}"), "name": name, "shortDescription": {"text": format!("airlock property {name}")}}));
        }
        let mut results = Vec::new();
        for p in &self.properties {
            let (level, text, cx) = match &p.outcome {
                Outcome::Proved => continue,
                Outcome::Violated {
                    counterexample,
                    reason,
                } => ("error", reason.clone(), counterexample.clone()),
                Outcome::Unknown { reason } => ("warning", format!("undecided: {reason}"), None),
            };
            let name = p.property.split(['=', ';']).next().unwrap_or("");
            let mut msg = format!("{}: {text}", p.property);
            if let Some(cx) = &cx {
                msg.push_str(&format!(". Counterexample: {}", cx.summary()));
            }
            let needle = cx
                .as_ref()
                .map(|c| {
                    c.request
                        .resource
                        .arn
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .unwrap_or_default();
            results.push(json!({
                "ruleId": format!("property/{name}"),
                "level": level,
                "message": {"text": msg},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": self.setup}, "region": {"startLine": if needle.is_empty() { 1 } else { line_of(&needle) }}}}],
                "properties": {"counterexample": cx.map(|c| serde_json::to_value(&c.request).unwrap_or(Value::Null))},
            }));
        }
        for f in &self.findings {
            let (line, logical) = match &f.location {
                Some(l) => {
                    let line = l
                        .sid
                        .as_ref()
                        .map(|s| line_of(&format!("\"{s}\"")))
                        .filter(|&n| n > 1)
                        .unwrap_or_else(|| {
                            line_of(l.policy.name.split(['/', ' ']).next().unwrap_or(""))
                        });
                    let st = l
                        .statement
                        .map(|i| format!("/Statement[{i}]"))
                        .unwrap_or_default();
                    (line, format!("{}{st}", l.policy.name))
                }
                None => (1, String::new()),
            };
            results.push(json!({
                "ruleId": f.id,
                "level": f.severity.as_str(),
                "message": {"text": format!("{} Fix: {}", f.message, f.fix)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": self.setup}, "region": {"startLine": line}},
                    "logicalLocations": [{"fullyQualifiedName": logical}]
                }],
                "properties": {"counterexample": f.counterexample.as_ref().map(|c| serde_json::to_value(&c.request).unwrap_or(Value::Null))},
            }));
        }
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "airlock", "version": env!("CARGO_PKG_VERSION"), "informationUri": "https://example.invalid/airlock", "rules": rules}},
                "results": results
            }]
        })
    }
}

/// A request as a one-liner (for callers of the library).
pub fn request_line(r: &Request) -> String {
    format!(
        "{} {} {}",
        r.principal.arn().unwrap_or_else(|| "anonymous".into()),
        r.action,
        r.resource.arn
    )
}

#[cfg(test)]
mod table_tests {
    use super::*;

    const ARN: &str =
        "arn:aws:iam::222222222222:role/service-role/AVeryLongRoleNameThatIsLongerThanAnyColumn";

    fn report() -> Report {
        let reason = format!(
            "the condition relates aws:PrincipalArn to ${{aws:username}} of {ARN} across two statements, which the solver cannot decide soundly; rewrite it without the policy variable"
        );
        Report {
            setup: "s.json".into(),
            properties: vec![
                PropertyResult {
                    property: format!("no-actions=s3:Delete*;principals={ARN}"),
                    outcome: Outcome::Unknown { reason },
                    millis: 1.0,
                    queries: 1,
                },
                PropertyResult {
                    property: "not-public".into(),
                    outcome: Outcome::Proved,
                    millis: 2.0,
                    queries: 1,
                },
            ],
            findings: vec![],
            millis: 3.0,
        }
    }

    #[test]
    fn long_cells_wrap_and_nothing_is_cut() {
        for width in [60, 80, 100, 200] {
            let t = report().to_table_width(width);
            assert!(!t.contains('…'), "{t}");
            assert!(
                t.contains(ARN),
                "the ARN appears whole at width {width}:\n{t}"
            );
            assert!(
                t.contains(&format!("principals={ARN}")),
                "the property appears whole at width {width}:\n{t}"
            );
            for line in t.lines().take_while(|l| !l.is_empty()) {
                assert!(
                    line.chars().count() <= width
                        || line.split(' ').any(|w| w.chars().count() > 20),
                    "a line past {width} columns without an unbreakable word: {line:?}"
                );
            }
            // every word of the reason is there, in order
            let words: Vec<&str> = t.split_whitespace().collect();
            let joined = words.join(" ");
            assert!(
                joined.contains("across two statements, which the solver cannot"),
                "{t}"
            );
            assert!(
                joined.contains("rewrite it without the policy variable"),
                "{t}"
            );
        }
        assert_eq!(report().to_table(), report().to_table_width(DEFAULT_WIDTH));
    }

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_long_words() {
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("x abcdefghijkl y", 5), vec!["x", "abcdefghijkl", "y"]);
    }
}
