//! JSON policy documents to [`Policy`] and back.
//!
//! The grammar and its validation follow the IAM User Guide, "IAM JSON policy element reference"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>) and
//! "IAM JSON policy elements: Condition operators"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>),
//! with the per-type rules of the services that store each [`PolicyKind`]. Where AWS's behaviour
//! is not documented, the choice made is stated next to the rule.

use std::borrow::Cow;

use serde_json::{Map, Value as J};

use crate::decision::PolicyKind;
use crate::error::{ParseError, ParseErrorKind as K};
use crate::json::{self, Member, Node, Seg, Value};
use crate::model::{
    ActionClause, ActionPattern, Condition, ConditionOperator, Effect, OperatorKind, Policy,
    PrincipalClause, PrincipalEntry, Principals, ResourceClause, ResourcePattern, SetQualifier,
    Statement, Version,
};

impl Policy {
    /// Parses and validates a JSON policy document as AWS does for a policy of type `kind`.
    ///
    /// Accepts every shape AWS accepts (a single statement object or an array, string-or-array
    /// values, `Principal` as `"*"` or a map, condition values as strings, numbers or booleans)
    /// and rejects what AWS rejects, with the JSON path and the line and column of the offending
    /// element. Never panics, whatever the input.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, ParseError> {
        let root = json::parse(json)?;
        Ctx {
            text: json,
            kind,
            path: Vec::new(),
        }
        .policy(&root)
    }

    /// The policy as a canonical AWS-shaped JSON document: `Version` always present,
    /// `Statement` always an array, single values as strings, principals and condition values
    /// as strings. [`Policy::parse`] of the result yields a policy equal to `self`.
    pub fn to_json(&self) -> J {
        let mut doc = Map::new();
        doc.insert("Version".into(), J::String(self.version.as_str().into()));
        if let Some(id) = &self.id {
            doc.insert("Id".into(), J::String(id.clone()));
        }
        let statements = self.statements.iter().map(statement_to_json).collect();
        doc.insert("Statement".into(), J::Array(statements));
        J::Object(doc)
    }
}

impl Version {
    /// The version string as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008_10_17 => "2008-10-17",
            Version::V2012_10_17 => "2012-10-17",
        }
    }
}

fn one_or_many(mut values: Vec<String>) -> J {
    if values.len() == 1 {
        J::String(values.pop().unwrap_or_default())
    } else {
        J::Array(values.into_iter().map(J::String).collect())
    }
}

fn statement_to_json(s: &Statement) -> J {
    let mut m = Map::new();
    if let Some(sid) = &s.sid {
        m.insert("Sid".into(), J::String(sid.clone()));
    }
    m.insert("Effect".into(), J::String(s.effect.to_string()));
    match &s.principal {
        Some(PrincipalClause::Principal(p)) => {
            m.insert("Principal".into(), principals_to_json(p));
        }
        Some(PrincipalClause::NotPrincipal(p)) => {
            m.insert("NotPrincipal".into(), principals_to_json(p));
        }
        None => {}
    }
    let (name, actions) = match &s.action {
        ActionClause::Action(a) => ("Action", a),
        ActionClause::NotAction(a) => ("NotAction", a),
    };
    m.insert(
        name.into(),
        one_or_many(actions.iter().map(|a| a.0.clone()).collect()),
    );
    match &s.resource {
        Some(ResourceClause::Resource(r)) => {
            m.insert(
                "Resource".into(),
                one_or_many(r.iter().map(|r| r.0.clone()).collect()),
            );
        }
        Some(ResourceClause::NotResource(r)) => {
            m.insert(
                "NotResource".into(),
                one_or_many(r.iter().map(|r| r.0.clone()).collect()),
            );
        }
        None => {}
    }
    if !s.conditions.is_empty() {
        let mut block = Map::new();
        for c in &s.conditions {
            let op = c.operator.to_string();
            let entry = block.entry(op).or_insert_with(|| J::Object(Map::new()));
            if let J::Object(keys) = entry {
                keys.insert(c.key.clone(), one_or_many(c.values.clone()));
            }
        }
        m.insert("Condition".into(), J::Object(block));
    }
    J::Object(m)
}

fn principals_to_json(p: &Principals) -> J {
    let entries = match p {
        Principals::Any => return J::String("*".into()),
        Principals::Listed(entries) => entries,
    };
    let mut m = Map::new();
    for e in entries {
        let (ty, value) = match e {
            PrincipalEntry::AwsAny => ("AWS", "*".to_string()),
            PrincipalEntry::Account(a) => ("AWS", format!("arn:aws:iam::{a}:root")),
            PrincipalEntry::Arn(a) | PrincipalEntry::UniqueId(a) => ("AWS", a.clone()),
            PrincipalEntry::Service(s) => ("Service", s.clone()),
            PrincipalEntry::Federated(s) => ("Federated", s.clone()),
            PrincipalEntry::CanonicalUser(s) => ("CanonicalUser", s.clone()),
        };
        let slot = m.entry(ty).or_insert_with(|| J::Array(Vec::new()));
        if let J::Array(values) = slot {
            values.push(J::String(value));
        }
    }
    for v in m.values_mut() {
        if let J::Array(values) = v
            && values.len() == 1
        {
            let single = values.pop().unwrap_or(J::Null);
            *v = single;
        }
    }
    J::Object(m)
}

/// A string value with its byte offset and, if it came from an array, its index.
type Located<'n> = (&'n str, usize, Option<usize>);

/// Parsing state: the source text (for positions), the policy type and the current path.
struct Ctx<'a> {
    text: &'a str,
    kind: PolicyKind,
    path: Vec<Seg<'a>>,
}

/// Whether AWS checks `Sid` values of this policy type against `[A-Za-z0-9]*`.
///
/// IAM stores identity policies, permissions boundaries, session policies and role trust
/// policies and documents that `Sid` "supports ASCII uppercase letters (A-Z), lowercase letters
/// (a-z), and numbers (0-9)" (IAM JSON policy elements: Sid). S3, KMS, VPC and Organizations
/// accept other characters (the seed's key policy uses spaces), so they are not checked.
fn sid_is_alphanumeric_only(kind: PolicyKind) -> bool {
    matches!(
        kind,
        PolicyKind::Identity | PolicyKind::Boundary | PolicyKind::Session | PolicyKind::Trust
    )
}

/// Whether AWS rejects duplicate `Sid`s in this policy type.
///
/// IAM: "In IAM, the Sid value must be unique within a JSON policy" (IAM JSON policy elements:
/// Sid). S3 rejects bucket policies with repeated Sids ("Statement IDs (SID) in a single policy
/// must be unique"). KMS key policies and VPC endpoint policies are not documented to check,
/// so they are accepted there (uncertain).
fn sids_must_be_unique(kind: PolicyKind) -> bool {
    !matches!(kind, PolicyKind::Key | PolicyKind::Endpoint)
}

/// Policy types whose statements name who they apply to.
pub(crate) fn has_principal(kind: PolicyKind) -> bool {
    matches!(
        kind,
        PolicyKind::Resource
            | PolicyKind::Key
            | PolicyKind::Trust
            | PolicyKind::Endpoint
            | PolicyKind::ResourceControl
    )
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Identity => "identity policies",
        PolicyKind::Boundary => "permissions boundaries",
        PolicyKind::Session => "session policies",
        PolicyKind::ServiceControl => "service control policies",
        PolicyKind::ResourceControl => "resource control policies",
        PolicyKind::Resource => "resource-based policies",
        PolicyKind::Key => "key policies",
        PolicyKind::Trust => "role trust policies",
        PolicyKind::Endpoint => "VPC endpoint policies",
    }
}

impl<'a> Ctx<'a> {
    fn err(&self, offset: usize, kind: K, message: String) -> ParseError {
        json::error_at(self.text, offset, &self.path, kind, message)
    }

    fn wrong_type(&self, node: &Node, what: &str, expected: &str) -> ParseError {
        self.err(
            node.offset,
            K::WrongType,
            format!("{what} must be {expected}, not {}", node.value.type_name()),
        )
    }

    fn policy(&mut self, root: &'a Node) -> Result<Policy, ParseError> {
        let Value::Object(members) = &root.value else {
            return Err(self.wrong_type(root, "a policy document", "a JSON object"));
        };
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for m in members {
            self.path.push(Seg::Key(Cow::Borrowed(&m.key)));
            match m.key.as_str() {
                "Version" => {
                    let v = self.string(&m.node, "`Version`")?;
                    version = Some(match v.as_str() {
                        "2012-10-17" => Version::V2012_10_17,
                        "2008-10-17" => Version::V2008_10_17,
                        _ => {
                            return Err(self.err(
                                m.node.offset,
                                K::InvalidVersion,
                                format!(
                                    "`{v}` is not a policy language version: expected `2012-10-17` or `2008-10-17`"
                                ),
                            ));
                        }
                    });
                }
                "Id" => id = Some(self.string(&m.node, "`Id`")?),
                "Statement" => statement = Some(&m.node),
                other => return Err(self.unknown_element(m, other, "policy")),
            }
            self.path.pop();
        }
        let Some(statement) = statement else {
            return Err(self.err(
                root.offset,
                K::MissingElement,
                "the policy has no `Statement`".to_string(),
            ));
        };
        self.path.push(Seg::Key(Cow::Borrowed("Statement")));
        let version = version.unwrap_or(Version::V2008_10_17);
        let statements = match &statement.value {
            Value::Object(_) => vec![self.statement(statement)?],
            Value::Array(items) => {
                if items.is_empty() {
                    // A policy without statements grants and denies nothing; AWS's validators
                    // reject it (uncertain for every service: the IAM grammar requires at least
                    // one statement, `<statement_block> = "Statement" : [ <statement>, ... ]`).
                    return Err(self.err(
                        statement.offset,
                        K::EmptyValue,
                        "`Statement` must contain at least one statement".to_string(),
                    ));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    out.push(self.statement(item)?);
                    self.path.pop();
                }
                out
            }
            _ => {
                return Err(self.wrong_type(
                    statement,
                    "`Statement`",
                    "an object or an array of objects",
                ));
            }
        };
        self.check_sids(statement, &statements)?;
        self.path.pop();
        Ok(Policy {
            version,
            id,
            statements,
        })
    }

    fn check_sids(&mut self, node: &'a Node, statements: &[Statement]) -> Result<(), ParseError> {
        if !sids_must_be_unique(self.kind) {
            return Ok(());
        }
        for (i, s) in statements.iter().enumerate() {
            let Some(sid) = &s.sid else { continue };
            if statements[..i].iter().any(|o| o.sid.as_ref() == Some(sid)) {
                let offset = self.member_offset(node, i, "Sid").unwrap_or(node.offset);
                self.path.push(Seg::Index(i));
                self.path.push(Seg::Key(Cow::Borrowed("Sid")));
                let e = self.err(
                    offset,
                    K::DuplicateSid,
                    format!("statement id `{sid}` is used more than once; statement ids must be unique in {}", kind_name(self.kind)),
                );
                return Err(e);
            }
        }
        Ok(())
    }

    fn member_offset(&self, statements: &Node, index: usize, key: &str) -> Option<usize> {
        let Value::Array(items) = &statements.value else {
            return None;
        };
        let Value::Object(members) = &items.get(index)?.value else {
            return None;
        };
        members.iter().find(|m| m.key == key).map(|m| m.node.offset)
    }

    fn unknown_element(&self, m: &Member, name: &str, within: &str) -> ParseError {
        json::error_at(
            self.text,
            m.key_offset,
            &self.path,
            K::UnknownElement,
            format!("unknown {within} element `{name}`"),
        )
    }

    fn string(&self, node: &Node, what: &str) -> Result<String, ParseError> {
        match &node.value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.wrong_type(node, what, "a string")),
        }
    }

    /// A string or a non-empty array of strings, with each string's offset.
    /// `element` is the element's name, quoted in messages.
    fn strings<'n>(
        &mut self,
        node: &'n Node,
        element: &str,
    ) -> Result<Vec<Located<'n>>, ParseError> {
        match &node.value {
            Value::String(s) => Ok(vec![(s.as_str(), node.offset, None)]),
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(self.err(
                        node.offset,
                        K::EmptyValue,
                        format!("`{element}` must not be an empty array"),
                    ));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match &item.value {
                        Value::String(s) => out.push((s.as_str(), item.offset, Some(i))),
                        _ => {
                            self.path.push(Seg::Index(i));
                            let e = self.wrong_type(
                                item,
                                &format!("each value of `{element}`"),
                                "a string",
                            );
                            return Err(e);
                        }
                    }
                }
                Ok(out)
            }
            _ => Err(self.wrong_type(
                node,
                &format!("`{element}`"),
                "a string or an array of strings",
            )),
        }
    }

    fn statement(&mut self, node: &'a Node) -> Result<Statement, ParseError> {
        let Value::Object(members) = &node.value else {
            return Err(self.wrong_type(node, "a statement", "a JSON object"));
        };
        let find = |name: &str| members.iter().find(|m| m.key == name);
        for m in members {
            if !matches!(
                m.key.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                return Err(self.unknown_element(m, &m.key, "statement"));
            }
        }
        let conflict = |a: &str, b: &str| -> Option<&Member> {
            if find(a).is_some() { find(b) } else { None }
        };
        for (a, b) in [
            ("Action", "NotAction"),
            ("Resource", "NotResource"),
            ("Principal", "NotPrincipal"),
        ] {
            if let Some(m) = conflict(a, b) {
                return Err(json::error_at(
                    self.text,
                    m.key_offset,
                    &self.path,
                    K::ConflictingElements,
                    format!("a statement cannot have both `{a}` and `{b}`"),
                ));
            }
        }

        // Sid
        let sid = match find("Sid") {
            Some(m) => {
                self.path.push(Seg::Key(Cow::Borrowed("Sid")));
                let sid = self.string(&m.node, "`Sid`")?;
                if sid_is_alphanumeric_only(self.kind)
                    && !sid.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Err(self.err(
                        m.node.offset,
                        K::InvalidSid,
                        format!(
                            "statement id `{sid}` must contain only ASCII letters and digits in {}",
                            kind_name(self.kind)
                        ),
                    ));
                }
                self.path.pop();
                Some(sid)
            }
            None => None,
        };

        // Effect
        let effect = match find("Effect") {
            Some(m) => {
                self.path.push(Seg::Key(Cow::Borrowed("Effect")));
                let e = self.string(&m.node, "`Effect`")?;
                let effect = match e.as_str() {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    _ => {
                        return Err(self.err(
                            m.node.offset,
                            K::InvalidEffect,
                            format!("`{e}` is not a valid Effect: expected `Allow` or `Deny`"),
                        ));
                    }
                };
                self.path.pop();
                effect
            }
            None => {
                return Err(self.err(
                    node.offset,
                    K::MissingElement,
                    "the statement has no `Effect`".to_string(),
                ));
            }
        };

        // Principal / NotPrincipal
        let principal = match (find("Principal"), find("NotPrincipal")) {
            (Some(m), _) => Some((m, false)),
            (None, Some(m)) => Some((m, true)),
            (None, None) => None,
        };
        let principal = match principal {
            Some((m, negated)) => {
                if !has_principal(self.kind) {
                    return Err(json::error_at(
                        self.text,
                        m.key_offset,
                        &self.path,
                        K::PrincipalNotAllowed,
                        format!("`{}` is not allowed in {}", m.key, kind_name(self.kind)),
                    ));
                }
                self.path.push(Seg::Key(Cow::Borrowed(&m.key)));
                if negated && self.kind == PolicyKind::Trust {
                    // "You cannot use the NotPrincipal element in an IAM identity-based policy
                    // nor in an IAM role trust policy." (IAM JSON policy elements: NotPrincipal)
                    return Err(self.err(
                        m.node.offset,
                        K::NotSupported,
                        "`NotPrincipal` is not allowed in role trust policies".to_string(),
                    ));
                }
                if negated && self.kind == PolicyKind::ResourceControl {
                    return Err(self.err(
                        m.node.offset,
                        K::NotSupported,
                        "`NotPrincipal` is not allowed in resource control policies".to_string(),
                    ));
                }
                let p = self.principals(&m.node)?;
                if self.kind == PolicyKind::ResourceControl && p != Principals::Any {
                    // RCP syntax: "Principal ... must be set to "*"" (AWS Organizations User
                    // Guide, "RCP syntax"); conditions narrow it instead.
                    return Err(self.err(
                        m.node.offset,
                        K::NotSupported,
                        "the `Principal` of a resource control policy must be `\"*\"`".to_string(),
                    ));
                }
                self.path.pop();
                Some(if negated {
                    PrincipalClause::NotPrincipal(p)
                } else {
                    PrincipalClause::Principal(p)
                })
            }
            None => {
                if has_principal(self.kind) {
                    return Err(self.err(
                        node.offset,
                        K::PrincipalRequired,
                        format!(
                            "the statement has no `Principal` or `NotPrincipal`, which {} require",
                            kind_name(self.kind)
                        ),
                    ));
                }
                None
            }
        };

        // Action / NotAction
        let action = match (find("Action"), find("NotAction")) {
            (Some(m), _) => ActionClause::Action(self.actions(m)?),
            (None, Some(m)) => ActionClause::NotAction(self.actions(m)?),
            (None, None) => {
                return Err(self.err(
                    node.offset,
                    K::MissingElement,
                    "the statement has no `Action` or `NotAction`".to_string(),
                ));
            }
        };

        // Resource / NotResource
        let resource = match (find("Resource"), find("NotResource")) {
            (Some(m), _) | (None, Some(m)) if self.kind == PolicyKind::Trust => {
                // IAM answers `MalformedPolicyDocument: Has prohibited field Resource` for a
                // trust policy with a Resource element.
                return Err(json::error_at(
                    self.text,
                    m.key_offset,
                    &self.path,
                    K::ResourceNotAllowed,
                    format!("`{}` is not allowed in role trust policies", m.key),
                ));
            }
            (Some(m), _) => Some(ResourceClause::Resource(self.resources(m)?)),
            (None, Some(m)) => Some(ResourceClause::NotResource(self.resources(m)?)),
            (None, None) => {
                if self.kind != PolicyKind::Trust {
                    return Err(self.err(
                        node.offset,
                        K::ResourceRequired,
                        format!(
                            "the statement has no `Resource` or `NotResource`, which {} require",
                            kind_name(self.kind)
                        ),
                    ));
                }
                None
            }
        };

        // Condition
        let conditions = match find("Condition") {
            Some(m) => {
                self.path.push(Seg::Key(Cow::Borrowed("Condition")));
                let c = self.conditions(&m.node)?;
                self.path.pop();
                c
            }
            None => Vec::new(),
        };

        Ok(Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
        })
    }

    fn principals(&mut self, node: &'a Node) -> Result<Principals, ParseError> {
        let members = match &node.value {
            Value::String(s) if s == "*" => return Ok(Principals::Any),
            Value::String(s) => {
                return Err(self.err(
                    node.offset,
                    K::InvalidPrincipal,
                    format!(
                        "`{s}` is not a valid principal: use `\"*\"` or a map such as `{{\"AWS\": \"{s}\"}}`"
                    ),
                ));
            }
            Value::Object(members) => members,
            _ => return Err(self.wrong_type(node, "a principal", "`\"*\"` or an object")),
        };
        if members.is_empty() {
            return Err(self.err(
                node.offset,
                K::EmptyValue,
                "the principal map must name at least one principal".to_string(),
            ));
        }
        // Entries are kept grouped by type in a fixed order (AWS, Service, Federated,
        // CanonicalUser), so that a document and its canonical form parse to equal policies.
        let mut entries = Vec::new();
        for ty in ["AWS", "Service", "Federated", "CanonicalUser"] {
            let Some(m) = members.iter().find(|m| m.key == ty) else {
                continue;
            };
            self.path.push(Seg::Key(Cow::Borrowed(ty)));
            let values = self.strings(&m.node, ty)?;
            for (value, offset, index) in values {
                if let Some(i) = index {
                    self.path.push(Seg::Index(i));
                }
                let entry = match ty {
                    "AWS" => self.aws_principal(value, offset)?,
                    _ => {
                        if value.is_empty() || value.chars().any(char::is_whitespace) {
                            return Err(self.err(
                                offset,
                                K::InvalidPrincipal,
                                format!("`{value}` is not a valid {ty} principal"),
                            ));
                        }
                        match ty {
                            "Service" => PrincipalEntry::Service(value.to_string()),
                            "Federated" => PrincipalEntry::Federated(value.to_string()),
                            _ => PrincipalEntry::CanonicalUser(value.to_string()),
                        }
                    }
                };
                if index.is_some() {
                    self.path.pop();
                }
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
            self.path.pop();
        }
        if let Some(m) = members.iter().find(|m| {
            !matches!(
                m.key.as_str(),
                "AWS" | "Service" | "Federated" | "CanonicalUser"
            )
        }) {
            return Err(json::error_at(
                self.text,
                m.key_offset,
                &self.path,
                K::InvalidPrincipal,
                format!(
                    "unknown principal type `{}`: expected `AWS`, `Service`, `Federated` or `CanonicalUser`",
                    m.key
                ),
            ));
        }
        Ok(Principals::Listed(entries))
    }

    /// Validates one `"AWS"` principal value. "You cannot use a wildcard to match part of a
    /// principal name or ARN" (IAM JSON policy elements: Principal); `"*"` alone is allowed.
    fn aws_principal(&self, value: &str, offset: usize) -> Result<PrincipalEntry, ParseError> {
        let invalid = |why: &str| {
            self.err(
                offset,
                K::InvalidPrincipal,
                format!("`{value}` is not a valid AWS principal: {why}"),
            )
        };
        if value == "*" {
            return Ok(PrincipalEntry::AwsAny);
        }
        if is_account_id(value) {
            return Ok(PrincipalEntry::Account(value.to_string()));
        }
        if value.contains('*') || value.contains('?') {
            return Err(invalid(
                "wildcards are not allowed inside principal names or ARNs",
            ));
        }
        if let Some(rest) = value.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(invalid("an ARN has six colon-separated parts"));
            };
            if !matches!(
                partition,
                "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b"
            ) && !partition.starts_with("aws-")
            {
                return Err(invalid("unknown partition"));
            }
            if service != "iam" && service != "sts" {
                return Err(invalid(
                    "expected an IAM user, role or root ARN, or an STS assumed-role or federated-user ARN",
                ));
            }
            if !region.is_empty() {
                return Err(invalid("IAM and STS principal ARNs have no region"));
            }
            if !is_account_id(account) {
                return Err(invalid("the account must be 12 digits"));
            }
            let ok = match service {
                "iam" => {
                    resource == "root"
                        || ["user/", "role/", "group/", "federated-user/"]
                            .iter()
                            .any(|p| resource.strip_prefix(p).is_some_and(valid_path_name))
                }
                "sts" => {
                    if let Some(r) = resource.strip_prefix("assumed-role/") {
                        let mut it = r.split('/');
                        matches!((it.next(), it.next(), it.next()), (Some(role), Some(session), None) if !role.is_empty() && !session.is_empty())
                    } else {
                        resource
                            .strip_prefix("federated-user/")
                            .is_some_and(|n| !n.is_empty() && !n.contains('/'))
                    }
                }
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    "expected an IAM user, role or root ARN, or an STS assumed-role or federated-user ARN",
                ));
            }
            if service == "iam" && resource == "root" {
                return Ok(PrincipalEntry::Account(account.to_string()));
            }
            if service == "iam" && resource.starts_with("group/") {
                // "You cannot identify a user group as a principal in a policy" (IAM JSON
                // policy elements: Principal).
                return Err(invalid("IAM groups cannot be principals"));
            }
            return Ok(PrincipalEntry::Arn(value.to_string()));
        }
        if is_unique_id(value) {
            return Ok(PrincipalEntry::UniqueId(value.to_string()));
        }
        Err(invalid(
            "expected `*`, a 12-digit account id, an IAM or STS ARN, or a unique id",
        ))
    }

    fn actions(&mut self, m: &'a Member) -> Result<Vec<ActionPattern>, ParseError> {
        self.path.push(Seg::Key(Cow::Borrowed(&m.key)));
        let values = self.strings(&m.node, &m.key)?;
        let mut out = Vec::with_capacity(values.len());
        for (value, offset, index) in values {
            if let Some(i) = index {
                self.path.push(Seg::Index(i));
            }
            if !is_valid_action(value) {
                return Err(self.err(
                    offset,
                    K::InvalidAction,
                    format!(
                        "`{value}` is not a valid action: expected `*` or `service:action` (e.g. `s3:GetObject`)"
                    ),
                ));
            }
            if index.is_some() {
                self.path.pop();
            }
            out.push(ActionPattern(value.to_string()));
        }
        self.path.pop();
        Ok(out)
    }

    fn resources(&mut self, m: &'a Member) -> Result<Vec<ResourcePattern>, ParseError> {
        self.path.push(Seg::Key(Cow::Borrowed(&m.key)));
        let values = self.strings(&m.node, &m.key)?;
        let mut out = Vec::with_capacity(values.len());
        for (value, offset, index) in values {
            if let Some(i) = index {
                self.path.push(Seg::Index(i));
            }
            // IAM: "Resource must be in ARN format or "*"". An ARN has at least six
            // colon-separated parts (arn:partition:service:region:account:resource).
            let ok = value == "*" || (value.starts_with("arn:") && value.matches(':').count() >= 5);
            if !ok {
                return Err(self.err(
                    offset,
                    K::InvalidResource,
                    format!("`{value}` is not a valid resource: expected `*` or an ARN"),
                ));
            }
            if index.is_some() {
                self.path.pop();
            }
            out.push(ResourcePattern(value.to_string()));
        }
        self.path.pop();
        Ok(out)
    }

    fn conditions(&mut self, node: &'a Node) -> Result<Vec<Condition>, ParseError> {
        let Value::Object(ops) = &node.value else {
            return Err(self.wrong_type(node, "`Condition`", "an object"));
        };
        let mut out: Vec<Condition> = Vec::new();
        let mut seen_ops: Vec<ConditionOperator> = Vec::new();
        for op_member in ops {
            let Some(operator) = ConditionOperator::parse(&op_member.key) else {
                return Err(json::error_at(
                    self.text,
                    op_member.key_offset,
                    &self.path,
                    K::UnknownOperator,
                    format!("unknown condition operator `{}`", op_member.key),
                ));
            };
            if operator.kind == OperatorKind::Null && operator.if_exists {
                return Err(json::error_at(
                    self.text,
                    op_member.key_offset,
                    &self.path,
                    K::UnknownOperator,
                    format!(
                        "unknown condition operator `{}`: `Null` has no `IfExists` form",
                        op_member.key
                    ),
                ));
            }
            if seen_ops.contains(&operator) {
                return Err(json::error_at(
                    self.text,
                    op_member.key_offset,
                    &self.path,
                    K::DuplicateKey,
                    format!(
                        "condition operator `{}` appears twice (operator names are compared ignoring case)",
                        op_member.key
                    ),
                ));
            }
            seen_ops.push(operator);
            self.path.push(Seg::Key(Cow::Borrowed(&op_member.key)));
            let Value::Object(keys) = &op_member.node.value else {
                return Err(self.wrong_type(
                    &op_member.node,
                    &format!("the body of `{}`", op_member.key),
                    "an object of condition keys",
                ));
            };
            for key_member in keys {
                let key = &key_member.key;
                if !is_valid_condition_key(key) {
                    return Err(json::error_at(
                        self.text,
                        key_member.key_offset,
                        &self.path,
                        K::InvalidConditionKey,
                        format!(
                            "`{key}` is not a valid condition key: expected `service:name` (e.g. `aws:SourceVpce`)"
                        ),
                    ));
                }
                if out
                    .iter()
                    .any(|c| c.operator == operator && c.key.eq_ignore_ascii_case(key))
                {
                    return Err(json::error_at(
                        self.text,
                        key_member.key_offset,
                        &self.path,
                        K::DuplicateKey,
                        format!(
                            "condition key `{key}` appears twice under `{}` (keys are compared ignoring case)",
                            op_member.key
                        ),
                    ));
                }
                self.path.push(Seg::Key(Cow::Borrowed(key)));
                let values = self.condition_values(&key_member.node)?;
                self.path.pop();
                out.push(Condition {
                    operator,
                    key: key.clone(),
                    values,
                });
            }
            self.path.pop();
        }
        Ok(out)
    }

    fn condition_values(&mut self, node: &'a Node) -> Result<Vec<String>, ParseError> {
        let scalar = |ctx: &Self, n: &Node| -> Result<String, ParseError> {
            match &n.value {
                Value::String(s) => Ok(s.clone()),
                Value::Number(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(ctx.err(
                    n.offset,
                    K::InvalidConditionValue,
                    format!(
                        "a condition value must be a string, number or boolean, not {}",
                        other.type_name()
                    ),
                )),
            }
        };
        match &node.value {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(self.err(
                        node.offset,
                        K::EmptyValue,
                        "a condition needs at least one value".to_string(),
                    ));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    out.push(scalar(self, item)?);
                    self.path.pop();
                }
                Ok(out)
            }
            _ => Ok(vec![scalar(self, node)?]),
        }
    }
}

/// 12 ASCII digits.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM unique ids: a four-letter type prefix (`AIDA`, `AROA`, `ANPA`, `AGPA`, `AIPA`, ...)
/// followed by upper-case letters and digits, 16 to 128 characters in all.
fn is_unique_id(s: &str) -> bool {
    s.len() >= 16
        && s.len() <= 128
        && s.starts_with('A')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `path/name` after `user/`, `role/`, ...: non-empty segments.
fn valid_path_name(s: &str) -> bool {
    !s.is_empty() && !s.ends_with('/') && !s.contains("//") && !s.starts_with('/')
}

/// `*`, or `vendor:pattern` with a vendor of letters, digits and `-`, and a non-empty pattern
/// without whitespace. IAM: "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb,
/// ec2, etc."
fn is_valid_action(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some((vendor, name)) = s.split_once(':') else {
        return false;
    };
    !vendor.is_empty()
        && vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*' || b == b'?')
        && !name.is_empty()
        && !name.contains(':')
        && !name.chars().any(char::is_whitespace)
}

/// `vendor:name`; the name part may contain `/` (tag keys) and `:` (e.g.
/// `kms:EncryptionContext:aws:s3:arn`).
fn is_valid_condition_key(s: &str) -> bool {
    match s.split_once(':') {
        Some((vendor, name)) => {
            !vendor.is_empty()
                && vendor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
                && !name.is_empty()
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

impl ConditionOperator {
    /// Parses an operator name such as `ForAnyValue:StringLikeIfExists`. Operator names are
    /// matched ignoring ASCII case (AWS documents them in one spelling; accepting other cases is
    /// the lenient choice, and the canonical spelling is what [`Policy::to_json`] writes).
    pub fn parse(name: &str) -> Option<ConditionOperator> {
        fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
            let head = s.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| &s[prefix.len()..])
        }
        fn strip_suffix_ci<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
            let cut = s.len().checked_sub(suffix.len())?;
            let tail = s.get(cut..)?;
            tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
        }
        let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let find = |base: &str| {
            OperatorKind::ALL
                .iter()
                .copied()
                .find(|k| k.name().eq_ignore_ascii_case(base))
        };
        // `IfExists` is a suffix, but no base name ends in it, so try the whole name first.
        let (kind, if_exists) = match find(rest) {
            Some(k) => (k, false),
            None => (find(strip_suffix_ci(rest, "IfExists")?)?, true),
        };
        Some(ConditionOperator {
            qualifier,
            kind,
            if_exists,
        })
    }
}

impl std::fmt::Display for ConditionOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            None => {}
        }
        f.write_str(self.kind.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

impl OperatorKind {
    /// Every base operator.
    pub const ALL: [OperatorKind; 27] = [
        OperatorKind::StringEquals,
        OperatorKind::StringNotEquals,
        OperatorKind::StringEqualsIgnoreCase,
        OperatorKind::StringNotEqualsIgnoreCase,
        OperatorKind::StringLike,
        OperatorKind::StringNotLike,
        OperatorKind::NumericEquals,
        OperatorKind::NumericNotEquals,
        OperatorKind::NumericLessThan,
        OperatorKind::NumericLessThanEquals,
        OperatorKind::NumericGreaterThan,
        OperatorKind::NumericGreaterThanEquals,
        OperatorKind::DateEquals,
        OperatorKind::DateNotEquals,
        OperatorKind::DateLessThan,
        OperatorKind::DateLessThanEquals,
        OperatorKind::DateGreaterThan,
        OperatorKind::DateGreaterThanEquals,
        OperatorKind::Bool,
        OperatorKind::BinaryEquals,
        OperatorKind::IpAddress,
        OperatorKind::NotIpAddress,
        OperatorKind::ArnEquals,
        OperatorKind::ArnLike,
        OperatorKind::ArnNotEquals,
        OperatorKind::ArnNotLike,
        OperatorKind::Null,
    ];

    /// The operator's name as AWS spells it.
    pub fn name(self) -> &'static str {
        match self {
            OperatorKind::StringEquals => "StringEquals",
            OperatorKind::StringNotEquals => "StringNotEquals",
            OperatorKind::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            OperatorKind::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            OperatorKind::StringLike => "StringLike",
            OperatorKind::StringNotLike => "StringNotLike",
            OperatorKind::NumericEquals => "NumericEquals",
            OperatorKind::NumericNotEquals => "NumericNotEquals",
            OperatorKind::NumericLessThan => "NumericLessThan",
            OperatorKind::NumericLessThanEquals => "NumericLessThanEquals",
            OperatorKind::NumericGreaterThan => "NumericGreaterThan",
            OperatorKind::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            OperatorKind::DateEquals => "DateEquals",
            OperatorKind::DateNotEquals => "DateNotEquals",
            OperatorKind::DateLessThan => "DateLessThan",
            OperatorKind::DateLessThanEquals => "DateLessThanEquals",
            OperatorKind::DateGreaterThan => "DateGreaterThan",
            OperatorKind::DateGreaterThanEquals => "DateGreaterThanEquals",
            OperatorKind::Bool => "Bool",
            OperatorKind::BinaryEquals => "BinaryEquals",
            OperatorKind::IpAddress => "IpAddress",
            OperatorKind::NotIpAddress => "NotIpAddress",
            OperatorKind::ArnEquals => "ArnEquals",
            OperatorKind::ArnLike => "ArnLike",
            OperatorKind::ArnNotEquals => "ArnNotEquals",
            OperatorKind::ArnNotLike => "ArnNotLike",
            OperatorKind::Null => "Null",
        }
    }
}
