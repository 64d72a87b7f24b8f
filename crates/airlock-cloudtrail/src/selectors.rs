//! Event selectors: which events a trail logs.
//!
//! Basic selectors (`EventSelectors`: `ReadWriteType`, `IncludeManagementEvents`,
//! `DataResources`) and advanced selectors (`AdvancedEventSelectors`: field selectors on
//! `eventCategory`, `eventSource`, `eventName`, `readOnly`, `resources.type`,
//! `resources.ARN`, ... with `Equals`, `StartsWith`, `EndsWith`, `NotEquals`,
//! `NotStartsWith`, `NotEndsWith`). The types serialize exactly as CloudTrail's JSON API
//! writes them.

use serde::{Deserialize, Serialize};

/// `ReadWriteType` of a basic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ReadWriteType {
    /// Read-only events.
    ReadOnly,
    /// Write events.
    WriteOnly,
    /// Both.
    #[default]
    All,
}

/// A data resource of a basic selector: `{"Type": "AWS::S3::Object", "Values": [ARN prefixes]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    /// Resource type (`AWS::S3::Object`).
    #[serde(rename = "Type")]
    pub kind: String,
    /// ARN prefixes (`arn:aws:s3:::bucket/`, `arn:aws:s3:::bucket/prefix`, or `arn:aws:s3` for all).
    #[serde(default)]
    pub values: Vec<String>,
}

/// A basic event selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    /// Read, write or all events.
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    /// Whether management events are logged.
    #[serde(default = "yes")]
    pub include_management_events: bool,
    /// Data events to log.
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    /// Event sources whose management events are not logged.
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for EventSelector {
    fn default() -> Self {
        EventSelector {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

/// One field condition of an advanced selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedFieldSelector {
    /// The field (`eventCategory`, `resources.type`, `resources.ARN`, `readOnly`, ...).
    pub field: String,
    /// Any of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    /// Starts with any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    /// Ends with any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    /// Equal to none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    /// Starts with none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    /// Ends with none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

/// An advanced event selector: every field selector must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The conditions.
    #[serde(default)]
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// A trail's selectors: basic or advanced, never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selectors {
    /// `EventSelectors`.
    Basic(Vec<EventSelector>),
    /// `AdvancedEventSelectors`.
    Advanced(Vec<AdvancedEventSelector>),
}

impl Default for Selectors {
    /// A new trail logs all management events, read and write, and no data events.
    fn default() -> Self {
        Selectors::Basic(vec![EventSelector::default()])
    }
}

/// The facts of one event that selectors look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFacts {
    /// `Management` or `Data`.
    pub category: String,
    /// `readOnly`.
    pub read_only: bool,
    /// `eventSource` (`s3.amazonaws.com`).
    pub event_source: String,
    /// `eventName` (`PutObject`).
    pub event_name: String,
    /// `eventType` (`AwsApiCall`).
    pub event_type: String,
    /// `errorCode`, if any.
    pub error_code: Option<String>,
    /// `userIdentity.arn`, if any.
    pub user_arn: Option<String>,
    /// `resources`: (type, ARN) pairs.
    pub resources: Vec<(String, String)>,
}

impl EventFacts {
    /// Reads the facts from a CloudTrail record (JSON as delivered).
    pub fn from_record(r: &serde_json::Value) -> EventFacts {
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let resources = r
            .get("resources")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        Some((
                            x.get("type")?.as_str()?.to_string(),
                            x.get("ARN")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        EventFacts {
            category: s("eventCategory").unwrap_or_else(|| "Management".into()),
            read_only: r.get("readOnly").and_then(|v| v.as_bool()).unwrap_or(false),
            event_source: s("eventSource").unwrap_or_default(),
            event_name: s("eventName").unwrap_or_default(),
            event_type: s("eventType").unwrap_or_default(),
            error_code: s("errorCode"),
            user_arn: r
                .get("userIdentity")
                .and_then(|u| u.get("arn"))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            resources,
        }
    }
}

/// Why selectors are invalid (`InvalidEventSelectorsException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSelectors(pub String);

/// Fields advanced selectors may name.
pub const ADVANCED_FIELDS: &[&str] = &[
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "resources.type",
    "resources.ARN",
    "errorCode",
    "userIdentity.arn",
    "sessionCredentialFromConsole",
    "eventTypeName",
    "vpcEndpointId",
];

const DATA_TYPES: &[&str] = &[
    "AWS::S3::Object",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
];

impl Selectors {
    /// Validates selectors as `PutEventSelectors` does.
    pub fn validate(&self) -> Result<(), InvalidSelectors> {
        let bad = |m: String| Err(InvalidSelectors(m));
        match self {
            Selectors::Basic(list) => {
                if list.is_empty() || list.len() > 5 {
                    return bad("You must specify between 1 and 5 event selectors.".to_string());
                }
                for sel in list {
                    for r in &sel.data_resources {
                        if !DATA_TYPES.contains(&r.kind.as_str()) {
                            return bad(format!(
                                "Value {} for DataResources.Type is invalid.",
                                r.kind
                            ));
                        }
                        if r.values.len() > 250 {
                            return bad(
                                "You have exceeded the maximum number of data resource values."
                                    .to_string(),
                            );
                        }
                        for v in &r.values {
                            let ok = if r.kind == "AWS::S3::Object" {
                                v == "arn:aws:s3"
                                    || v == "arn:aws:s3:::"
                                    || (v.starts_with("arn:aws:s3:::")
                                        && v.len() > 13
                                        && v[13..].contains('/'))
                            } else {
                                v.starts_with("arn:aws:")
                            };
                            if !ok {
                                return bad(format!(
                                    "Value {v} for DataResources.Values is invalid."
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
            Selectors::Advanced(list) => {
                if list.is_empty() || list.len() > 500 {
                    return bad(
                        "You must specify between 1 and 500 advanced event selectors.".to_string(),
                    );
                }
                for sel in list {
                    if !sel
                        .field_selectors
                        .iter()
                        .any(|f| f.field == "eventCategory")
                    {
                        return bad(
                            "You must specify an eventCategory field selector in each advanced event selector."
                                .to_string(),
                        );
                    }
                    for f in &sel.field_selectors {
                        if !ADVANCED_FIELDS.contains(&f.field.as_str()) {
                            return bad(format!(
                                "Invalid field name {} in an advanced event selector.",
                                f.field
                            ));
                        }
                        let lists = [
                            &f.equals,
                            &f.starts_with,
                            &f.ends_with,
                            &f.not_equals,
                            &f.not_starts_with,
                            &f.not_ends_with,
                        ];
                        if lists
                            .iter()
                            .all(|l| l.as_ref().is_none_or(|v| v.is_empty()))
                        {
                            return bad(format!(
                                "You must specify at least one operator for the {} field.",
                                f.field
                            ));
                        }
                        if f.field == "eventCategory" {
                            let ok = |v: &String| {
                                matches!(
                                    v.as_str(),
                                    "Management" | "Data" | "NetworkActivity" | "Insight"
                                )
                            };
                            let eq = f.equals.as_deref().unwrap_or_default();
                            if eq.is_empty() || !eq.iter().all(ok) {
                                return bad(
                                    "Invalid value for eventCategory field selector: use Equals with Management, Data or NetworkActivity."
                                        .to_string(),
                                );
                            }
                        }
                        if f.field == "readOnly" {
                            let all: Vec<&String> =
                                lists.iter().filter_map(|l| l.as_ref()).flatten().collect();
                            if all.iter().any(|v| *v != "true" && *v != "false") {
                                return bad(
                                    "Invalid value for readOnly field selector: use true or false."
                                        .to_string(),
                                );
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the trail logs this event.
    pub fn matches(&self, e: &EventFacts) -> bool {
        match self {
            Selectors::Basic(list) => list.iter().any(|s| basic_matches(s, e)),
            Selectors::Advanced(list) => list.iter().any(|s| {
                s.field_selectors
                    .iter()
                    .all(|f| field_matches(f, &field_values(&f.field, e)))
            }),
        }
    }

    /// Whether any selector can log S3 data events (for the record's `eventCategory: Data`).
    pub fn has_data_events(&self) -> bool {
        match self {
            Selectors::Basic(list) => list.iter().any(|s| !s.data_resources.is_empty()),
            Selectors::Advanced(list) => list.iter().any(|s| {
                s.field_selectors.iter().any(|f| {
                    f.field == "eventCategory"
                        && f.equals
                            .as_ref()
                            .is_some_and(|v| v.iter().any(|x| x == "Data"))
                })
            }),
        }
    }
}

fn basic_matches(s: &EventSelector, e: &EventFacts) -> bool {
    let rw = match s.read_write_type {
        ReadWriteType::All => true,
        ReadWriteType::ReadOnly => e.read_only,
        ReadWriteType::WriteOnly => !e.read_only,
    };
    if !rw {
        return false;
    }
    if e.category == "Data" {
        s.data_resources.iter().any(|d| {
            e.resources.iter().any(|(t, arn)| {
                *t == d.kind
                    && d.values.iter().any(|v| {
                        v == "arn:aws:s3" || v == "arn:aws:s3:::" || arn.starts_with(v.as_str())
                    })
            })
        })
    } else if e.category == "Management" {
        s.include_management_events && !s.exclude_management_event_sources.contains(&e.event_source)
    } else {
        false
    }
}

fn field_values(field: &str, e: &EventFacts) -> Vec<String> {
    match field {
        "eventCategory" => vec![e.category.clone()],
        "eventSource" => vec![e.event_source.clone()],
        "eventName" => vec![e.event_name.clone()],
        "eventType" => vec![e.event_type.clone()],
        "readOnly" => vec![e.read_only.to_string()],
        "errorCode" => e.error_code.iter().cloned().collect(),
        "userIdentity.arn" => e.user_arn.iter().cloned().collect(),
        "resources.type" => e.resources.iter().map(|(t, _)| t.clone()).collect(),
        "resources.ARN" => e.resources.iter().map(|(_, a)| a.clone()).collect(),
        _ => Vec::new(),
    }
}

/// A field selector matches when some value of the field satisfies every operator given
/// (positive operators: any listed value; negative operators: none of them). A field the
/// event lacks matches only selectors made of negative operators.
fn field_matches(f: &AdvancedFieldSelector, values: &[String]) -> bool {
    let positive = f.equals.is_some() || f.starts_with.is_some() || f.ends_with.is_some();
    if values.is_empty() {
        return !positive;
    }
    values.iter().any(|v| {
        let any = |l: &Option<Vec<String>>, p: &dyn Fn(&str) -> bool| {
            l.as_ref().is_none_or(|l| l.iter().any(|x| p(x)))
        };
        let none = |l: &Option<Vec<String>>, p: &dyn Fn(&str) -> bool| {
            l.as_ref().is_none_or(|l| !l.iter().any(|x| p(x)))
        };
        any(&f.equals, &|x| v == x)
            && any(&f.starts_with, &|x| v.starts_with(x))
            && any(&f.ends_with, &|x| v.ends_with(x))
            && none(&f.not_equals, &|x| v == x)
            && none(&f.not_starts_with, &|x| v.starts_with(x))
            && none(&f.not_ends_with, &|x| v.ends_with(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_put(bucket_key: &str) -> EventFacts {
        EventFacts {
            category: "Data".into(),
            read_only: false,
            event_source: "s3.amazonaws.com".into(),
            event_name: "PutObject".into(),
            resources: vec![
                (
                    "AWS::S3::Object".into(),
                    format!("arn:aws:s3:::{bucket_key}"),
                ),
                (
                    "AWS::S3::Bucket".into(),
                    format!("arn:aws:s3:::{}", bucket_key.split('/').next().unwrap()),
                ),
            ],
            ..Default::default()
        }
    }

    fn mgmt(name: &str, read_only: bool) -> EventFacts {
        EventFacts {
            category: "Management".into(),
            read_only,
            event_source: "iam.amazonaws.com".into(),
            event_name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_logs_management_events_only() {
        let s = Selectors::default();
        assert!(s.matches(&mgmt("CreateRole", false)));
        assert!(s.matches(&mgmt("GetRole", true)));
        assert!(!s.matches(&s3_put("b/k")));
    }

    #[test]
    fn basic_data_resources_select_by_arn_prefix_and_read_write_type() {
        let s = Selectors::Basic(vec![EventSelector {
            read_write_type: ReadWriteType::WriteOnly,
            include_management_events: false,
            data_resources: vec![DataResource {
                kind: "AWS::S3::Object".into(),
                values: vec!["arn:aws:s3:::bucket/logs/".into()],
            }],
            exclude_management_event_sources: vec![],
        }]);
        s.validate().unwrap();
        assert!(s.matches(&s3_put("bucket/logs/a")));
        assert!(!s.matches(&s3_put("bucket/other/a")));
        assert!(!s.matches(&s3_put("bucket2/logs/a")));
        let mut read = s3_put("bucket/logs/a");
        read.read_only = true;
        assert!(!s.matches(&read));
        assert!(!s.matches(&mgmt("CreateRole", false)));
    }

    #[test]
    fn advanced_selectors_combine_operators() {
        let s: Selectors = Selectors::Advanced(
            serde_json::from_str(
                r#"[{"Name":"s3 writes","FieldSelectors":[
                    {"Field":"eventCategory","Equals":["Data"]},
                    {"Field":"resources.type","Equals":["AWS::S3::Object"]},
                    {"Field":"resources.ARN","StartsWith":["arn:aws:s3:::bucket/"],"NotEndsWith":[".tmp"]},
                    {"Field":"readOnly","Equals":["false"]}]}]"#,
            )
            .unwrap(),
        );
        s.validate().unwrap();
        assert!(s.matches(&s3_put("bucket/a.txt")));
        assert!(!s.matches(&s3_put("bucket/a.tmp")));
        assert!(!s.matches(&s3_put("other/a.txt")));
        assert!(!s.matches(&mgmt("CreateRole", false)));
        let m: Selectors = Selectors::Advanced(
            serde_json::from_str(
                r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},
                    {"Field":"eventName","NotEquals":["GetRole"]}]}]"#,
            )
            .unwrap(),
        );
        assert!(m.matches(&mgmt("CreateRole", false)));
        assert!(!m.matches(&mgmt("GetRole", true)));
    }

    proptest::proptest! {
        /// Whatever JSON arrives as selectors, parsing, validation and matching never panic.
        #[test]
        fn arbitrary_selector_documents_never_panic(
            field in "[a-zA-Z.]{0,20}",
            values in proptest::collection::vec(".{0,12}", 0..4),
            category in "(Management|Data|x)",
        ) {
            let doc = serde_json::json!([{"FieldSelectors": [
                {"Field": "eventCategory", "Equals": [category]},
                {"Field": field, "StartsWith": values.clone(), "NotEndsWith": values}
            ]}]);
            if let Ok(list) = serde_json::from_value::<Vec<AdvancedEventSelector>>(doc) {
                let s = Selectors::Advanced(list);
                let _ = s.validate();
                let _ = s.matches(&s3_put("b/k"));
                let _ = s.matches(&mgmt("CreateRole", false));
            }
        }
    }

    #[test]
    fn invalid_selectors_are_refused() {
        let no_category = Selectors::Advanced(vec![AdvancedEventSelector {
            name: None,
            field_selectors: vec![AdvancedFieldSelector {
                field: "eventName".into(),
                equals: Some(vec!["PutObject".into()]),
                ..Default::default()
            }],
        }]);
        assert!(no_category.validate().is_err());
        let bad_value = Selectors::Basic(vec![EventSelector {
            data_resources: vec![DataResource {
                kind: "AWS::S3::Object".into(),
                values: vec!["bucket".into()],
            }],
            ..Default::default()
        }]);
        assert!(bad_value.validate().is_err());
        let bad_type = Selectors::Basic(vec![EventSelector {
            data_resources: vec![DataResource {
                kind: "AWS::S3::Bucket".into(),
                values: vec![],
            }],
            ..Default::default()
        }]);
        assert!(bad_type.validate().is_err());
    }
}
