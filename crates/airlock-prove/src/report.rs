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

    /// The human table.
    pub fn to_table(&self) -> String {
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
        let w0 = rows
            .iter()
            .map(|r| r[0].chars().count())
            .max()
            .unwrap_or(0)
            .min(70);
        let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
        let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0);
        let mut out = String::new();
        for r in &rows {
            let mut name = r[0].clone();
            if name.chars().count() > w0 {
                name = name.chars().take(w0 - 1).collect::<String>() + "…";
            }
            out.push_str(&format!(
                "{name:<w0$}  {:<w1$}  {:>w2$}  {}\n",
                r[1], r[2], r[3]
            ));
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
