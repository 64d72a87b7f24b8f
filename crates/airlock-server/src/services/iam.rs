//! IAM over the query protocol, with AWS's XML shapes. Every operation is authorized as
//! `iam:<Operation>` on the ARN of the entity it acts on, in the caller's account.

use std::sync::Arc;

use airlock_iam::{
    AccessKey, AccessKeyStatus, CreateRole, CreateUser, EntityKind, Iam, InstanceProfile,
    ManagedPolicy, PolicyScope, PolicyVersion, Role, Tag, User,
};
use airlock_policy::ContextValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{query_empty, query_response, query_version_is};
use crate::error::AwsError;
use crate::service::{Call, CallerKind, Check, Params, Prepared, Protocol, Reply, Service};
use crate::xml::{Xml, iso8601};

/// The IAM XML namespace.
pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const VERSION: &str = "2010-05-08";

/// Characters AWS leaves unencoded in URL-encoded policy documents.
const DOC: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_doc(doc: &str) -> String {
    utf8_percent_encode(doc, DOC).to_string()
}

/// The IAM service.
pub struct IamService {
    iam: Arc<Iam>,
}

impl IamService {
    /// IAM over the domain service.
    pub fn new(iam: Arc<Iam>) -> Self {
        IamService { iam }
    }
}

fn write_tags(x: &mut Xml, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    x.open("Tags");
    for t in tags {
        x.open("member")
            .leaf("Key", &t.key)
            .leaf("Value", &t.value)
            .close("member");
    }
    x.close("Tags");
}

/// The answer of a `List*Tags` operation: one page of `tags`, always with a `Tags` element.
fn tags_listing(
    op: &str,
    request_id: &str,
    tags: Vec<Tag>,
    params: &Params,
) -> Result<Reply, AwsError> {
    let (tags, next) = paginate(tags, params)?;
    Ok(query_response(op, XMLNS, request_id, |x| {
        x.open("Tags");
        for t in &tags {
            x.open("member")
                .leaf("Key", &t.key)
                .leaf("Value", &t.value)
                .close("member");
        }
        x.close("Tags");
        truncation(x, &next);
    }))
}

fn write_boundary(x: &mut Xml, b: &Option<String>) {
    if let Some(arn) = b {
        x.open("PermissionsBoundary")
            .leaf("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .leaf("PermissionsBoundaryArn", arn)
            .close("PermissionsBoundary");
    }
}

fn write_role(x: &mut Xml, tag: &str, r: &Role) {
    x.open(tag)
        .leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.id)
        .leaf("Arn", &r.arn)
        .leaf("CreateDate", &iso8601(r.create_date))
        .leaf(
            "AssumeRolePolicyDocument",
            &encode_doc(&r.assume_role_policy),
        )
        .opt("Description", r.description.as_deref())
        .leaf("MaxSessionDuration", &r.max_session_duration.to_string());
    write_boundary(x, &r.permissions_boundary);
    write_tags(x, &r.tags);
    x.close(tag);
}

fn write_user(x: &mut Xml, tag: &str, u: &User) {
    x.open(tag)
        .leaf("Path", &u.path)
        .leaf("UserName", &u.name)
        .leaf("UserId", &u.id)
        .leaf("Arn", &u.arn)
        .leaf("CreateDate", &iso8601(u.create_date));
    write_boundary(x, &u.permissions_boundary);
    write_tags(x, &u.tags);
    x.close(tag);
}

fn write_policy(x: &mut Xml, tag: &str, p: &ManagedPolicy) {
    x.open(tag)
        .leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.id)
        .leaf("Arn", &p.arn)
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", &p.default_version_id)
        .leaf("AttachmentCount", &p.attachment_count.to_string())
        .leaf(
            "PermissionsBoundaryUsageCount",
            &p.boundary_usage_count.to_string(),
        )
        .leaf("IsAttachable", "true")
        .opt("Description", p.description.as_deref())
        .leaf("CreateDate", &iso8601(p.create_date))
        .leaf("UpdateDate", &iso8601(p.update_date));
    write_tags(x, &p.tags);
    x.close(tag);
}

fn write_version(x: &mut Xml, tag: &str, v: &PolicyVersion, default: &str, with_doc: bool) {
    x.open(tag);
    if with_doc {
        x.leaf("Document", &encode_doc(&v.document));
    }
    x.leaf("VersionId", &v.version_id)
        .leaf(
            "IsDefaultVersion",
            if v.version_id == default {
                "true"
            } else {
                "false"
            },
        )
        .leaf("CreateDate", &iso8601(v.create_date))
        .close(tag);
}

fn write_profile(x: &mut Xml, tag: &str, p: &InstanceProfile, roles: &[Role]) {
    x.open(tag)
        .leaf("Path", &p.path)
        .leaf("InstanceProfileName", &p.name)
        .leaf("InstanceProfileId", &p.id)
        .leaf("Arn", &p.arn)
        .leaf("CreateDate", &iso8601(p.create_date));
    x.open("Roles");
    for r in roles {
        write_role(x, "member", r);
    }
    x.close("Roles");
    write_tags(x, &p.tags);
    x.close(tag);
}

fn write_key_meta(x: &mut Xml, k: &AccessKey) {
    x.open("member");
    x.opt("UserName", k.user_name.as_deref())
        .leaf("AccessKeyId", &k.access_key_id)
        .leaf("Status", k.status.as_str())
        .leaf("CreateDate", &iso8601(k.create_date))
        .close("member");
}

/// `MaxItems` / `Marker` pagination over an in-memory list.
fn paginate<T>(items: Vec<T>, p: &Params) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match p.get("Marker") {
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| AwsError::new(400, "InvalidInput", "Invalid Marker."))?,
        None => 0,
    };
    let max = p.int("MaxItems", "maxItems")?.unwrap_or(100);
    if !(1..=1000).contains(&max) {
        return Err(AwsError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
            ),
        ));
    }
    let max = max as usize;
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = if start + page.len() < total {
        Some((start + page.len()).to_string())
    } else {
        None
    };
    Ok((page, next))
}

fn truncation(x: &mut Xml, next: &Option<String>) {
    match next {
        Some(m) => {
            x.leaf("IsTruncated", "true").leaf("Marker", m);
        }
        None => {
            x.leaf("IsTruncated", "false");
        }
    }
}

fn tags_param(p: &Params) -> Vec<Tag> {
    p.structs("Tags")
        .into_iter()
        .map(|m| Tag {
            key: m.get("Key").cloned().unwrap_or_default(),
            value: m.get("Value").cloned().unwrap_or_default(),
        })
        .collect()
}

fn tag_context(check: &mut Check, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    for t in tags {
        check.context.insert(
            &format!("aws:RequestTag/{}", t.key),
            ContextValue::Single(t.value.clone()),
        );
    }
    check.context.insert(
        "aws:TagKeys",
        ContextValue::Multi(tags.iter().map(|t| t.key.clone()).collect()),
    );
}

fn resource_tag_context(check: &mut Check, tags: &[Tag]) {
    for t in tags {
        check.context.insert(
            &format!("aws:ResourceTag/{}", t.key),
            ContextValue::Single(t.value.clone()),
        );
    }
}

impl Service for IamService {
    fn signing_name(&self) -> &'static str {
        "iam"
    }

    fn protocol(&self) -> Protocol {
        Protocol::Query { xmlns: XMLNS }
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        params: &Params,
        _h: &http::HeaderMap,
    ) -> bool {
        query_version_is(params, VERSION)
    }

    fn operation_name(&self, params: &Params, _h: &http::HeaderMap) -> Option<String> {
        params.get("Action").map(str::to_string)
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        let action = call.params.get("Action").unwrap_or_default().to_string();
        if action.is_empty() {
            return Err(AwsError::missing("action"));
        }
        Planner {
            iam: self.iam.clone(),
            acct: call.caller.account.clone(),
            p: &call.params,
            call,
        }
        .plan(&action)
    }
}

struct Planner<'a> {
    iam: Arc<Iam>,
    acct: String,
    p: &'a Params,
    call: &'a Call,
}

type Exec = Box<dyn FnOnce(&Iam, &str, &Call) -> Result<Reply, AwsError> + Send>;

impl Planner<'_> {
    fn role_arn(&self, name: &str) -> Result<(String, Vec<Tag>), AwsError> {
        Ok(match self.iam.find_role(&self.acct, name)? {
            Some(r) => (r.arn, r.tags),
            None => (
                format!("arn:aws:iam::{}:role/{name}", self.acct),
                Vec::new(),
            ),
        })
    }

    fn user_arn(&self, name: &str) -> (String, Vec<Tag>) {
        match self.iam.get_user(&self.acct, name) {
            Ok(u) => (u.arn, u.tags),
            Err(_) => (
                format!("arn:aws:iam::{}:user/{name}", self.acct),
                Vec::new(),
            ),
        }
    }

    fn profile_arn(&self, name: &str) -> String {
        match self.iam.get_instance_profile(&self.acct, name) {
            Ok(p) => p.arn,
            Err(_) => format!("arn:aws:iam::{}:instance-profile/{name}", self.acct),
        }
    }

    fn check(&self, op: &str, arn: &str) -> Check {
        Check::new(&format!("iam:{op}"), arn, &self.acct)
    }

    /// The user an access-key call is about: `UserName`, or the calling user itself.
    fn key_user(&self) -> Result<Option<String>, AwsError> {
        if let Some(u) = self.p.get("UserName") {
            return Ok(Some(u.to_string()));
        }
        match &self.call.caller.kind {
            CallerKind::User { name } => Ok(Some(name.clone())),
            CallerKind::Root => Ok(None),
            CallerKind::Session(_) | CallerKind::Anonymous => Err(AwsError::new(
                400,
                "ValidationError",
                "Must specify userName when calling with non-User credentials",
            )),
        }
    }

    fn done(&self, op: &str, checks: Vec<Check>, exec: Exec) -> Result<Prepared, AwsError> {
        let iam = self.iam.clone();
        let acct = self.acct.clone();
        Ok(Prepared::sync(op, checks, move |call| {
            exec(&iam, &acct, &call)
        }))
    }

    fn entity(&self, kind: EntityKind) -> Result<(String, Check), AwsError> {
        let (field, param) = match kind {
            EntityKind::Role => ("roleName", "RoleName"),
            EntityKind::User => ("userName", "UserName"),
        };
        let name = self.p.required(param, field)?.to_string();
        let (arn, tags) = match kind {
            EntityKind::Role => self.role_arn(&name)?,
            EntityKind::User => self.user_arn(&name),
        };
        let mut check = self.check("", &arn);
        resource_tag_context(&mut check, &tags);
        Ok((name, check))
    }

    fn plan(self, op: &str) -> Result<Prepared, AwsError> {
        let p = self.p;
        let with_action = |mut c: Check| {
            c.action = format!("iam:{op}");
            c
        };
        let o = op.to_string();
        match op {
            // ----- roles -----
            "CreateRole" => {
                let name = p.required("RoleName", "roleName")?.to_string();
                let path = p.get("Path").map(str::to_string);
                let input = CreateRole {
                    name: name.clone(),
                    path: path.clone(),
                    assume_role_policy: p
                        .required("AssumeRolePolicyDocument", "assumeRolePolicyDocument")?
                        .to_string(),
                    description: p.get("Description").map(str::to_string),
                    max_session_duration: p
                        .int("MaxSessionDuration", "maxSessionDuration")?
                        .map(|v| v.clamp(0, u32::MAX as i64) as u32),
                    tags: tags_param(p),
                    permissions_boundary: p.get("PermissionsBoundary").map(str::to_string),
                };
                let arn = format!(
                    "arn:aws:iam::{}:role{}{name}",
                    self.acct,
                    path.as_deref().unwrap_or("/")
                );
                let mut c = self.check(op, &arn);
                tag_context(&mut c, &input.tags);
                if let Some(b) = &input.permissions_boundary {
                    c.context
                        .insert("iam:PermissionsBoundary", ContextValue::Single(b.clone()));
                }
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        let role = iam.create_role(acct, input)?;
                        Ok(query_response("CreateRole", XMLNS, &call.request_id, |x| {
                            write_role(x, "Role", &role)
                        }))
                    }),
                )
            }
            "GetRole" => {
                let (name, c) = self.entity(EntityKind::Role)?;
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        let role = iam.get_role(acct, &name)?;
                        Ok(query_response("GetRole", XMLNS, &call.request_id, |x| {
                            write_role(x, "Role", &role)
                        }))
                    }),
                )
            }
            "DeleteRole" => {
                let (name, c) = self.entity(EntityKind::Role)?;
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.delete_role(acct, &name)?;
                        Ok(query_empty("DeleteRole", XMLNS, &call.request_id))
                    }),
                )
            }
            "ListRoles" => {
                let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
                let params = p.clone();
                self.done(
                    op,
                    vec![self.check(op, "*")],
                    Box::new(move |iam, acct, call| {
                        let (roles, next) = paginate(iam.list_roles(acct, &prefix)?, &params)?;
                        Ok(query_response("ListRoles", XMLNS, &call.request_id, |x| {
                            x.open("Roles");
                            for r in &roles {
                                write_role(x, "member", r);
                            }
                            x.close("Roles");
                            truncation(x, &next);
                        }))
                    }),
                )
            }
            "UpdateAssumeRolePolicy" => {
                let (name, c) = self.entity(EntityKind::Role)?;
                let doc = p.required("PolicyDocument", "policyDocument")?.to_string();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.update_assume_role_policy(acct, &name, &doc)?;
                        Ok(query_empty(
                            "UpdateAssumeRolePolicy",
                            XMLNS,
                            &call.request_id,
                        ))
                    }),
                )
            }
            "UpdateRole" => {
                let (name, c) = self.entity(EntityKind::Role)?;
                let desc = p.get("Description").map(str::to_string);
                let max = p
                    .int("MaxSessionDuration", "maxSessionDuration")?
                    .map(|v| v.clamp(0, u32::MAX as i64) as u32);
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.update_role(acct, &name, desc, max)?;
                        Ok(query_response(
                            "UpdateRole",
                            XMLNS,
                            &call.request_id,
                            |_| {},
                        ))
                    }),
                )
            }
            "TagRole" | "TagUser" => {
                let kind = if op == "TagRole" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let tags = tags_param(p);
                let mut c = with_action(c);
                tag_context(&mut c, &tags);
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        iam.tag(kind, acct, &name, tags)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "UntagRole" | "UntagUser" => {
                let kind = if op == "UntagRole" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let keys = p.list("TagKeys");
                let mut c = with_action(c);
                c.context
                    .insert("aws:TagKeys", ContextValue::Multi(keys.clone()));
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        iam.untag(kind, acct, &name, &keys)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "ListRoleTags" | "ListUserTags" => {
                let kind = if op == "ListRoleTags" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let params = p.clone();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        let tags = match kind {
                            EntityKind::Role => iam.get_role(acct, &name)?.tags,
                            EntityKind::User => iam.get_user(acct, &name)?.tags,
                        };
                        tags_listing(&o, &call.request_id, tags, &params)
                    }),
                )
            }
            // ----- inline policies -----
            "PutRolePolicy" | "PutUserPolicy" => {
                let kind = if op == "PutRolePolicy" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let pname = p.required("PolicyName", "policyName")?.to_string();
                let doc = p.required("PolicyDocument", "policyDocument")?.to_string();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.put_inline_policy(kind, acct, &name, &pname, &doc)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "GetRolePolicy" | "GetUserPolicy" => {
                let kind = if op == "GetRolePolicy" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let pname = p.required("PolicyName", "policyName")?.to_string();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        let (entity, _) = iam.inline_policies(kind, acct, &name)?;
                        let (pn, doc) = iam.get_inline_policy(kind, acct, &name, &pname)?;
                        let field = if kind == EntityKind::Role {
                            "RoleName"
                        } else {
                            "UserName"
                        };
                        Ok(query_response(&o, XMLNS, &call.request_id, |x| {
                            x.leaf(field, &entity)
                                .leaf("PolicyName", &pn)
                                .leaf("PolicyDocument", &encode_doc(&doc));
                        }))
                    }),
                )
            }
            "DeleteRolePolicy" | "DeleteUserPolicy" => {
                let kind = if op == "DeleteRolePolicy" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let pname = p.required("PolicyName", "policyName")?.to_string();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.delete_inline_policy(kind, acct, &name, &pname)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "ListRolePolicies" | "ListUserPolicies" => {
                let kind = if op == "ListRolePolicies" {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let params = p.clone();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        let (_, policies) = iam.inline_policies(kind, acct, &name)?;
                        let (names, next) =
                            paginate(policies.into_keys().collect::<Vec<_>>(), &params)?;
                        Ok(query_response(&o, XMLNS, &call.request_id, |x| {
                            x.open("PolicyNames");
                            for n in &names {
                                x.leaf("member", n);
                            }
                            x.close("PolicyNames");
                            truncation(x, &next);
                        }))
                    }),
                )
            }
            // ----- managed policies -----
            "AttachRolePolicy" | "AttachUserPolicy" | "DetachRolePolicy" | "DetachUserPolicy" => {
                let kind = if op.contains("Role") {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let attach = op.starts_with("Attach");
                let (name, c) = self.entity(kind)?;
                let arn = p.required("PolicyArn", "policyArn")?.to_string();
                let mut c = with_action(c);
                c.context
                    .insert("iam:PolicyARN", ContextValue::Single(arn.clone()));
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        if attach {
                            iam.attach_policy(kind, acct, &name, &arn)?;
                        } else {
                            iam.detach_policy(kind, acct, &name, &arn)?;
                        }
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "ListAttachedRolePolicies" | "ListAttachedUserPolicies" => {
                let kind = if op.contains("Role") {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let params = p.clone();
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        let (list, next) =
                            paginate(iam.attached_policies(kind, acct, &name)?, &params)?;
                        Ok(query_response(&o, XMLNS, &call.request_id, |x| {
                            x.open("AttachedPolicies");
                            for (n, a) in &list {
                                x.open("member")
                                    .leaf("PolicyName", n)
                                    .leaf("PolicyArn", a)
                                    .close("member");
                            }
                            x.close("AttachedPolicies");
                            truncation(x, &next);
                        }))
                    }),
                )
            }
            "PutRolePermissionsBoundary" | "PutUserPermissionsBoundary" => {
                let kind = if op.contains("Role") {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                let arn = p
                    .required("PermissionsBoundary", "permissionsBoundary")?
                    .to_string();
                let mut c = with_action(c);
                c.context
                    .insert("iam:PermissionsBoundary", ContextValue::Single(arn.clone()));
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        iam.put_permissions_boundary(kind, acct, &name, &arn)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "DeleteRolePermissionsBoundary" | "DeleteUserPermissionsBoundary" => {
                let kind = if op.contains("Role") {
                    EntityKind::Role
                } else {
                    EntityKind::User
                };
                let (name, c) = self.entity(kind)?;
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.delete_permissions_boundary(kind, acct, &name)?;
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "CreatePolicy" => {
                let name = p.required("PolicyName", "policyName")?.to_string();
                let path = p.get("Path").map(str::to_string);
                let doc = p.required("PolicyDocument", "policyDocument")?.to_string();
                let desc = p.get("Description").map(str::to_string);
                let tags = tags_param(p);
                let arn = format!(
                    "arn:aws:iam::{}:policy{}{name}",
                    self.acct,
                    path.as_deref().unwrap_or("/")
                );
                let mut c = self.check(op, &arn);
                tag_context(&mut c, &tags);
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        let pol = iam.create_policy(
                            acct,
                            &name,
                            path.as_deref(),
                            &doc,
                            desc.as_deref(),
                            tags,
                        )?;
                        Ok(query_response(
                            "CreatePolicy",
                            XMLNS,
                            &call.request_id,
                            |x| write_policy(x, "Policy", &pol),
                        ))
                    }),
                )
            }
            "GetPolicy" | "DeletePolicy" | "ListPolicyVersions" => {
                let arn = p.required("PolicyArn", "policyArn")?.to_string();
                let params = p.clone();
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| match o.as_str() {
                        "GetPolicy" => {
                            let pol = iam.get_policy(acct, &arn)?;
                            Ok(query_response("GetPolicy", XMLNS, &call.request_id, |x| {
                                write_policy(x, "Policy", &pol)
                            }))
                        }
                        "DeletePolicy" => {
                            iam.delete_policy(acct, &arn)?;
                            Ok(query_empty("DeletePolicy", XMLNS, &call.request_id))
                        }
                        _ => {
                            let pol = iam.get_policy(acct, &arn)?;
                            let default = pol.default_version_id.clone();
                            let mut versions = pol.versions;
                            versions.reverse();
                            let (versions, next) = paginate(versions, &params)?;
                            Ok(query_response(
                                "ListPolicyVersions",
                                XMLNS,
                                &call.request_id,
                                |x| {
                                    x.open("Versions");
                                    for v in &versions {
                                        write_version(x, "member", v, &default, false);
                                    }
                                    x.close("Versions");
                                    truncation(x, &next);
                                },
                            ))
                        }
                    }),
                )
            }
            "CreatePolicyVersion" => {
                let arn = p.required("PolicyArn", "policyArn")?.to_string();
                let doc = p.required("PolicyDocument", "policyDocument")?.to_string();
                let default = p.bool("SetAsDefault").unwrap_or(false);
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| {
                        let v = iam.create_policy_version(acct, &arn, &doc, default)?;
                        let d = if default {
                            v.version_id.clone()
                        } else {
                            String::new()
                        };
                        Ok(query_response(
                            "CreatePolicyVersion",
                            XMLNS,
                            &call.request_id,
                            |x| write_version(x, "PolicyVersion", &v, &d, false),
                        ))
                    }),
                )
            }
            "GetPolicyVersion" | "DeletePolicyVersion" | "SetDefaultPolicyVersion" => {
                let arn = p.required("PolicyArn", "policyArn")?.to_string();
                let vid = p.required("VersionId", "versionId")?.to_string();
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| match o.as_str() {
                        "GetPolicyVersion" => {
                            let (pol, v) = iam.get_policy_version(acct, &arn, &vid)?;
                            Ok(query_response(
                                "GetPolicyVersion",
                                XMLNS,
                                &call.request_id,
                                |x| {
                                    write_version(
                                        x,
                                        "PolicyVersion",
                                        &v,
                                        &pol.default_version_id,
                                        true,
                                    )
                                },
                            ))
                        }
                        "DeletePolicyVersion" => {
                            iam.delete_policy_version(acct, &arn, &vid)?;
                            Ok(query_empty("DeletePolicyVersion", XMLNS, &call.request_id))
                        }
                        _ => {
                            iam.set_default_policy_version(acct, &arn, &vid)?;
                            Ok(query_empty(
                                "SetDefaultPolicyVersion",
                                XMLNS,
                                &call.request_id,
                            ))
                        }
                    }),
                )
            }
            "ListPolicies" => {
                let scope = match p.get("Scope").unwrap_or("All") {
                    "AWS" => PolicyScope::Aws,
                    "Local" => PolicyScope::Local,
                    _ => PolicyScope::All,
                };
                let only = p.bool("OnlyAttached").unwrap_or(false);
                let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
                let params = p.clone();
                self.done(
                    op,
                    vec![self.check(op, "*")],
                    Box::new(move |iam, acct, call| {
                        let (list, next) =
                            paginate(iam.list_policies(acct, scope, only, &prefix)?, &params)?;
                        Ok(query_response(
                            "ListPolicies",
                            XMLNS,
                            &call.request_id,
                            |x| {
                                x.open("Policies");
                                for pol in &list {
                                    write_policy(x, "member", pol);
                                }
                                x.close("Policies");
                                truncation(x, &next);
                            },
                        ))
                    }),
                )
            }
            // ----- users and keys -----
            "CreateUser" => {
                let name = p.required("UserName", "userName")?.to_string();
                let path = p.get("Path").map(str::to_string);
                let input = CreateUser {
                    name: name.clone(),
                    path: path.clone(),
                    tags: tags_param(p),
                    permissions_boundary: p.get("PermissionsBoundary").map(str::to_string),
                };
                let arn = format!(
                    "arn:aws:iam::{}:user{}{name}",
                    self.acct,
                    path.as_deref().unwrap_or("/")
                );
                let mut c = self.check(op, &arn);
                tag_context(&mut c, &input.tags);
                if let Some(b) = &input.permissions_boundary {
                    c.context
                        .insert("iam:PermissionsBoundary", ContextValue::Single(b.clone()));
                }
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        let user = iam.create_user(acct, input)?;
                        Ok(query_response("CreateUser", XMLNS, &call.request_id, |x| {
                            write_user(x, "User", &user)
                        }))
                    }),
                )
            }
            "GetUser" => {
                let name = self.key_user()?;
                let arn = match &name {
                    Some(n) => self.user_arn(n).0,
                    None => self.call.caller.arn.clone(),
                };
                let caller_arn = self.call.caller.arn.clone();
                let caller_id = self.call.caller.user_id.clone();
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| match name {
                        Some(n) => {
                            let user = iam.get_user(acct, &n)?;
                            Ok(query_response("GetUser", XMLNS, &call.request_id, |x| {
                                write_user(x, "User", &user)
                            }))
                        }
                        None => Ok(query_response("GetUser", XMLNS, &call.request_id, |x| {
                            x.open("User")
                                .leaf("UserId", &caller_id)
                                .leaf("Arn", &caller_arn);
                            x.leaf("CreateDate", &iso8601(0)).close("User");
                        })),
                    }),
                )
            }
            "DeleteUser" => {
                let (name, c) = self.entity(EntityKind::User)?;
                self.done(
                    op,
                    vec![with_action(c)],
                    Box::new(move |iam, acct, call| {
                        iam.delete_user(acct, &name)?;
                        Ok(query_empty("DeleteUser", XMLNS, &call.request_id))
                    }),
                )
            }
            "ListUsers" => {
                let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
                let params = p.clone();
                self.done(
                    op,
                    vec![self.check(op, "*")],
                    Box::new(move |iam, acct, call| {
                        let (users, next) = paginate(iam.list_users(acct, &prefix)?, &params)?;
                        Ok(query_response("ListUsers", XMLNS, &call.request_id, |x| {
                            x.open("Users");
                            for u in &users {
                                write_user(x, "member", u);
                            }
                            x.close("Users");
                            truncation(x, &next);
                        }))
                    }),
                )
            }
            "CreateAccessKey" | "ListAccessKeys" | "DeleteAccessKey" | "UpdateAccessKey" => {
                let user = self.key_user()?;
                let arn = match &user {
                    Some(n) => self.user_arn(n).0,
                    None => self.call.caller.arn.clone(),
                };
                let key_id = if op == "DeleteAccessKey" || op == "UpdateAccessKey" {
                    Some(p.required("AccessKeyId", "accessKeyId")?.to_string())
                } else {
                    None
                };
                let status = match (op, p.get("Status")) {
                    ("UpdateAccessKey", Some("Active")) => Some(AccessKeyStatus::Active),
                    ("UpdateAccessKey", Some("Inactive")) => Some(AccessKeyStatus::Inactive),
                    ("UpdateAccessKey", Some(other)) => {
                        return Err(AwsError::new(
                            400,
                            "ValidationError",
                            format!(
                                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                            ),
                        ));
                    }
                    ("UpdateAccessKey", None) => return Err(AwsError::missing("status")),
                    _ => None,
                };
                let params = p.clone();
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| {
                        let user = user.as_deref();
                        match o.as_str() {
                            "CreateAccessKey" => {
                                let k = iam.create_access_key(acct, user)?;
                                Ok(query_response(
                                    "CreateAccessKey",
                                    XMLNS,
                                    &call.request_id,
                                    |x| {
                                        x.open("AccessKey")
                                            .opt("UserName", k.user_name.as_deref())
                                            .leaf("AccessKeyId", &k.access_key_id)
                                            .leaf("Status", k.status.as_str())
                                            .leaf("SecretAccessKey", &k.secret_access_key)
                                            .leaf("CreateDate", &iso8601(k.create_date))
                                            .close("AccessKey");
                                    },
                                ))
                            }
                            "ListAccessKeys" => {
                                let (keys, next) =
                                    paginate(iam.list_access_keys(acct, user)?, &params)?;
                                Ok(query_response(
                                    "ListAccessKeys",
                                    XMLNS,
                                    &call.request_id,
                                    |x| {
                                        x.open("AccessKeyMetadata");
                                        for k in &keys {
                                            write_key_meta(x, k);
                                        }
                                        x.close("AccessKeyMetadata");
                                        truncation(x, &next);
                                        x.opt("UserName", user);
                                    },
                                ))
                            }
                            "DeleteAccessKey" => {
                                iam.delete_access_key(
                                    acct,
                                    user,
                                    key_id.as_deref().unwrap_or_default(),
                                )?;
                                Ok(query_empty("DeleteAccessKey", XMLNS, &call.request_id))
                            }
                            _ => {
                                let status = status.unwrap_or(AccessKeyStatus::Active);
                                iam.update_access_key(
                                    acct,
                                    user,
                                    key_id.as_deref().unwrap_or_default(),
                                    status,
                                )?;
                                Ok(query_empty("UpdateAccessKey", XMLNS, &call.request_id))
                            }
                        }
                    }),
                )
            }
            // ----- instance profiles -----
            "CreateInstanceProfile" => {
                let name = p
                    .required("InstanceProfileName", "instanceProfileName")?
                    .to_string();
                let path = p.get("Path").map(str::to_string);
                let tags = tags_param(p);
                let arn = format!(
                    "arn:aws:iam::{}:instance-profile{}{name}",
                    self.acct,
                    path.as_deref().unwrap_or("/")
                );
                let mut c = self.check(op, &arn);
                tag_context(&mut c, &tags);
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| {
                        let prof =
                            iam.create_instance_profile(acct, &name, path.as_deref(), tags)?;
                        Ok(query_response(
                            "CreateInstanceProfile",
                            XMLNS,
                            &call.request_id,
                            |x| write_profile(x, "InstanceProfile", &prof, &[]),
                        ))
                    }),
                )
            }
            "GetInstanceProfile" | "DeleteInstanceProfile" => {
                let name = p
                    .required("InstanceProfileName", "instanceProfileName")?
                    .to_string();
                let arn = self.profile_arn(&name);
                self.done(
                    op,
                    vec![self.check(op, &arn)],
                    Box::new(move |iam, acct, call| {
                        if o == "DeleteInstanceProfile" {
                            iam.delete_instance_profile(acct, &name)?;
                            return Ok(query_empty(
                                "DeleteInstanceProfile",
                                XMLNS,
                                &call.request_id,
                            ));
                        }
                        let prof = iam.get_instance_profile(acct, &name)?;
                        let roles = profile_roles(iam, acct, &prof)?;
                        Ok(query_response(
                            "GetInstanceProfile",
                            XMLNS,
                            &call.request_id,
                            |x| write_profile(x, "InstanceProfile", &prof, &roles),
                        ))
                    }),
                )
            }
            "TagInstanceProfile" | "UntagInstanceProfile" | "ListInstanceProfileTags" => {
                let name = p
                    .required("InstanceProfileName", "instanceProfileName")?
                    .to_string();
                let arn = self.profile_arn(&name);
                let mut c = self.check(op, &arn);
                let tags = tags_param(p);
                let keys = p.list("TagKeys");
                match op {
                    "TagInstanceProfile" => tag_context(&mut c, &tags),
                    "UntagInstanceProfile" => {
                        c.context
                            .insert("aws:TagKeys", ContextValue::Multi(keys.clone()));
                    }
                    _ => {}
                }
                let params = p.clone();
                self.done(
                    op,
                    vec![c],
                    Box::new(move |iam, acct, call| match o.as_str() {
                        "TagInstanceProfile" => {
                            iam.tag_instance_profile(acct, &name, tags)?;
                            Ok(query_empty(&o, XMLNS, &call.request_id))
                        }
                        "UntagInstanceProfile" => {
                            iam.untag_instance_profile(acct, &name, &keys)?;
                            Ok(query_empty(&o, XMLNS, &call.request_id))
                        }
                        _ => {
                            let tags = iam.get_instance_profile(acct, &name)?.tags;
                            tags_listing(&o, &call.request_id, tags, &params)
                        }
                    }),
                )
            }
            "AddRoleToInstanceProfile" | "RemoveRoleFromInstanceProfile" => {
                let name = p
                    .required("InstanceProfileName", "instanceProfileName")?
                    .to_string();
                let role = p.required("RoleName", "roleName")?.to_string();
                let arn = self.profile_arn(&name);
                let mut checks = vec![self.check(op, &arn)];
                if op == "AddRoleToInstanceProfile" {
                    // AWS requires iam:PassRole on the role as well.
                    let (role_arn, _) = self.role_arn(&role)?;
                    let mut pass = self.check("PassRole", &role_arn);
                    pass.context.insert(
                        "iam:PassedToService",
                        ContextValue::Single("ec2.amazonaws.com".into()),
                    );
                    checks.push(pass);
                }
                self.done(
                    op,
                    checks,
                    Box::new(move |iam, acct, call| {
                        if o == "AddRoleToInstanceProfile" {
                            iam.add_role_to_instance_profile(acct, &name, &role)?;
                        } else {
                            iam.remove_role_from_instance_profile(acct, &name, &role)?;
                        }
                        Ok(query_empty(&o, XMLNS, &call.request_id))
                    }),
                )
            }
            "ListInstanceProfiles" | "ListInstanceProfilesForRole" => {
                let for_role = op == "ListInstanceProfilesForRole";
                let (role, check) = if for_role {
                    let (name, c) = self.entity(EntityKind::Role)?;
                    (Some(name), with_action(c))
                } else {
                    (None, self.check(op, "*"))
                };
                let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
                let params = p.clone();
                self.done(
                    op,
                    vec![check],
                    Box::new(move |iam, acct, call| {
                        let list = match &role {
                            Some(r) => iam.instance_profiles_for_role(acct, r)?,
                            None => iam.list_instance_profiles(acct, &prefix)?,
                        };
                        let (list, next) = paginate(list, &params)?;
                        let mut rendered = Vec::new();
                        for prof in &list {
                            rendered.push((prof, profile_roles(iam, acct, prof)?));
                        }
                        Ok(query_response(&o, XMLNS, &call.request_id, |x| {
                            x.open("InstanceProfiles");
                            for (prof, roles) in &rendered {
                                write_profile(x, "member", prof, roles);
                            }
                            x.close("InstanceProfiles");
                            truncation(x, &next);
                        }))
                    }),
                )
            }
            other => Err(AwsError::new(
                400,
                "InvalidAction",
                format!("Could not find operation {other} for version {VERSION}"),
            )),
        }
    }
}

fn profile_roles(iam: &Iam, acct: &str, prof: &InstanceProfile) -> Result<Vec<Role>, AwsError> {
    let mut roles = Vec::new();
    for r in &prof.roles {
        if let Some(role) = iam.find_role(acct, r)? {
            roles.push(role);
        }
    }
    Ok(roles)
}
