//! The terminal width tables wrap to, and the `--json` outputs of the CLI: each is one JSON object whose first field is
//! `"format_version": "airlock.NAME/1"`, described by `schemas/NAME.schema.json` (printed by
//! `airlock schema NAME`). The number changes only when a field changes meaning or is removed;
//! new fields keep it (the schemas allow them).
//!
//! Not covered: `check --sarif` (SARIF 2.1.0, which carries its own `version`) and
//! `trail tail --json` (CloudTrail's own records, one per line, with their `eventVersion`).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The width tables are laid out in: `COLUMNS` when it is a number of at least 40, else
/// [`airlock_prove::report::DEFAULT_WIDTH`] (100).
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(airlock_prove::report::DEFAULT_WIDTH)
}

/// A `--json` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOutput {
    /// `airlock simulate --json`.
    Simulate,
    /// `airlock plan --json`.
    Plan,
    /// `airlock check --json`.
    Check,
    /// `airlock check --compare OTHER --json`.
    CheckCompare,
    /// `airlock check --no-new-access OLD,NEW --json`.
    CheckNoNewAccess,
    /// `airlock apply --json`.
    Apply,
    /// `airlock verify --json`.
    Verify,
    /// `airlock destroy --json`.
    Destroy,
}

impl JsonOutput {
    /// Its name (`check-compare`), as in `schemas/NAME.schema.json`.
    pub fn name(self) -> &'static str {
        match self {
            JsonOutput::Simulate => "simulate",
            JsonOutput::Plan => "plan",
            JsonOutput::Check => "check",
            JsonOutput::CheckCompare => "check-compare",
            JsonOutput::CheckNoNewAccess => "check-no-new-access",
            JsonOutput::Apply => "apply",
            JsonOutput::Verify => "verify",
            JsonOutput::Destroy => "destroy",
        }
    }

    /// The value of its `format_version` field.
    pub fn format_version(self) -> String {
        format!("airlock.{}/1", self.name())
    }

    /// `value` (an object) with `format_version` as its first field.
    pub fn document(self, value: &impl Serialize) -> anyhow::Result<Value> {
        let Value::Object(fields) = serde_json::to_value(value)? else {
            anyhow::bail!("the {} output is not a JSON object", self.name());
        };
        let mut out = Map::new();
        out.insert("format_version".into(), self.format_version().into());
        out.extend(fields);
        Ok(Value::Object(out))
    }

    /// Prints [`JsonOutput::document`], pretty.
    pub fn print(self, value: &impl Serialize) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(&self.document(value)?)?);
        Ok(())
    }

    /// Its JSON Schema (draft 2020-12).
    pub fn schema(self) -> Value {
        let (title, required, properties): (&str, &[&str], Value) = match self {
            JsonOutput::Simulate => (
                "airlock simulate --json",
                &["outcomes"],
                json!({
                    "outcomes": {
                        "description": "One per request, in order.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["request", "decision", "explanation", "explanation_text"],
                            "properties": {
                                "name": {"type": ["string", "null"]},
                                "request": {"type": "object"},
                                "decision": {"$ref": "#/$defs/decision"},
                                "expected": {"anyOf": [{"$ref": "#/$defs/decision"}, {"type": "null"}]},
                                "as_expected": {"type": ["boolean", "null"]},
                                "explanation": {"type": "object"},
                                "explanation_text": {"type": "string"}
                            }
                        }
                    }
                }),
            ),
            JsonOutput::Plan => (
                "airlock plan --json",
                &["plan", "documents", "bindings"],
                json!({
                    "plan": {
                        "description": "The plan: accounts, resources and steps.",
                        "type": "object",
                        "required": ["region", "profile", "hardening", "storage_account", "consumer_accounts", "steps"],
                        "properties": {
                            "region": {"type": "string"},
                            "profile": {"enum": ["hardened", "as-written"]},
                            "hardening": {"type": "object", "additionalProperties": {"type": "boolean"}},
                            "storage_account": {"type": "object"},
                            "consumer_accounts": {"type": "array", "items": {"type": "object"}},
                            "steps": {"type": "array", "items": {"type": "object"}}
                        }
                    },
                    "documents": {
                        "description": "Every policy document, with its placeholders.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["account", "title", "file", "kind", "policy"],
                            "properties": {
                                "account": {"type": "string"},
                                "title": {"type": "string"},
                                "file": {"type": "string"},
                                "kind": {"type": "string"},
                                "policy": {"type": "object"}
                            }
                        }
                    },
                    "bindings": {
                        "description": "The values the placeholders resolve to (illustrative unless --bindings).",
                        "type": "object",
                        "additionalProperties": {"type": "string"}
                    }
                }),
            ),
            JsonOutput::Check => (
                "airlock check --json",
                &["setup", "properties", "findings"],
                json!({
                    "setup": {"type": "string"},
                    "properties": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["property", "result"],
                            "properties": {
                                "property": {"type": "string"},
                                "result": {"description": "`proved`, or what disproves it or why it is unknown", "type": ["string", "object"]},
                                "millis": {"type": "number"},
                                "queries": {"type": "integer", "minimum": 0}
                            }
                        }
                    },
                    "findings": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "severity", "message"],
                            "properties": {
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "severity": {"enum": ["note", "warning", "error"]},
                                "message": {"type": "string"},
                                "fix": {"type": ["string", "null"]}
                            }
                        }
                    },
                    "millis": {"type": "number"}
                }),
            ),
            JsonOutput::CheckCompare => (
                "airlock check --compare OTHER --json",
                &["verdict", "only_first", "only_second", "unknown"],
                json!({
                    "verdict": {"type": "string"},
                    "only_first": {"type": "array"},
                    "only_second": {"type": "array"},
                    "unknown": {"type": "array"},
                    "millis": {"type": "number"}
                }),
            ),
            JsonOutput::CheckNoNewAccess => (
                "airlock check --no-new-access OLD,NEW --json",
                &["replaced_at", "new_access", "removed_access", "unknown"],
                json!({
                    "replaced_at": {"type": "array", "items": {"type": "string"}},
                    "new_access": {"type": "array"},
                    "removed_access": {"type": "array"},
                    "unknown": {"type": "array", "items": {"type": "string"}}
                }),
            ),
            JsonOutput::Apply => (
                "airlock apply --json",
                &["steps", "state"],
                json!({
                    "steps": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["number", "account", "what", "outcome", "changes", "elapsed"],
                            "properties": {
                                "number": {"type": "integer", "minimum": 0},
                                "account": {"type": "string"},
                                "what": {"type": "string"},
                                "outcome": {"enum": ["created", "corrected", "unchanged"]},
                                "changes": {"type": "array", "items": {"type": "string"}},
                                "elapsed": {"description": "milliseconds", "type": "integer", "minimum": 0}
                            }
                        }
                    },
                    "state": {"description": "The state file's content: the ids apply created.", "type": "object"}
                }),
            ),
            JsonOutput::Verify => (
                "airlock verify --json",
                &["passed", "failed", "skipped", "checks", "elapsed"],
                json!({
                    "passed": {"type": "integer", "minimum": 0},
                    "failed": {"type": "integer", "minimum": 0},
                    "skipped": {"description": "checks that could not run (a missing parameter)", "type": "integer", "minimum": 0},
                    "checks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "check", "expected", "got", "why", "status"],
                            "properties": {
                                "id": {"type": "string"},
                                "check": {"type": "string"},
                                "expected": {"type": "string"},
                                "got": {"type": "string"},
                                "why": {"type": "string"},
                                "status": {"enum": ["passed", "failed", "skipped"]}
                            }
                        }
                    },
                    "elapsed": {"description": "milliseconds", "type": "integer", "minimum": 0}
                }),
            ),
            JsonOutput::Destroy => (
                "airlock destroy --json",
                &["steps"],
                json!({
                    "steps": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["account", "what", "removed", "left", "elapsed"],
                            "properties": {
                                "account": {"type": "string"},
                                "what": {"type": "string"},
                                "removed": {"type": "array", "items": {"type": "string"}},
                                "left": {"type": "array", "items": {"type": "string"}},
                                "elapsed": {"description": "milliseconds", "type": "integer", "minimum": 0}
                            }
                        }
                    }
                }),
            ),
        };
        let mut props = Map::new();
        props.insert(
            "format_version".into(),
            json!({
                "description": "airlock.NAME/MAJOR: the major number changes only when a field changes meaning or is removed",
                "const": self.format_version()
            }),
        );
        if let Value::Object(p) = properties {
            props.extend(p);
        }
        let mut required_all = vec!["format_version"];
        required_all.extend_from_slice(required);
        let mut schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": title,
            "description": format!("The output of `{title}`, format {}.", self.format_version()),
            "type": "object",
            "required": required_all,
            "properties": props,
        });
        if self == JsonOutput::Simulate {
            schema["$defs"] = json!({
                "decision": {"enum": ["allow", "explicit-deny", "implicit-deny"]}
            });
        }
        schema
    }
}
