//! A plan as a setup document (the model `airlock simulate` and `airlock check` use), and the
//! properties a blueprint claims.

use std::collections::BTreeMap;

use airlock_policy::setup::{
    AccountDocument, EndpointDocument, PrincipalDocument, ResourceDocument, SetupDocument,
};
use serde_json::json;

use crate::generate::DATA_ACTIONS;
use crate::plan::{Bindings, Plan, Reference, ResolveError, RolePurpose};

/// The AWS managed policy the administrators of the setup document carry.
pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

impl Plan {
    /// Reads a blueprint and plans it; `profile` overrides the blueprint's own.
    pub fn from_toml(
        text: &str,
        profile: Option<crate::Profile>,
    ) -> Result<Plan, crate::BlueprintError> {
        let bp = crate::Blueprint::from_toml(text)?;
        crate::generate::plan(&bp, profile).map_err(|e| e.placed_in(text))
    }

    /// The setup document of the plan with the given bindings: every account with its root and
    /// an `admin` user carrying `AdministratorAccess` (the seed's "your admin user/role"), the
    /// roles with their trust and inline policies, the key with its policy and alias, the bucket
    /// with its Block Public Access and policy, and the endpoints (with their VPC ids). For the
    /// `as-written` profile of `examples/seed.toml` with [`Bindings::illustrative`] this is
    /// `examples/seed-as-written.json` (apart from its description).
    ///
    /// Existing consumer roles named by ARN are not listed: their policies are unknown.
    pub fn setup_document(&self, bindings: &Bindings) -> Result<SetupDocument, ResolveError> {
        let mut accounts = BTreeMap::new();
        for a in std::iter::once(&self.storage_account).chain(&self.consumer_accounts) {
            accounts.insert(
                a.id.clone(),
                AccountDocument {
                    alias: Some(a.alias.clone()),
                    ..AccountDocument::default()
                },
            );
        }
        let mut principals = Vec::new();
        for id in accounts.keys() {
            principals.push(principal(format!("arn:aws:iam::{id}:root")));
        }
        for id in accounts.keys() {
            let mut admin = principal(format!("arn:aws:iam::{id}:user/admin"));
            admin.managed_policies = vec![ADMINISTRATOR_ACCESS.to_string()];
            principals.push(admin);
        }
        let order = |p: RolePurpose| match p {
            RolePurpose::Storage => 0,
            RolePurpose::Instance => 1,
            RolePurpose::BreakGlass => 2,
        };
        let mut roles: Vec<_> = self.roles.iter().collect();
        roles.sort_by_key(|r| order(r.purpose));
        for r in roles {
            let mut p = principal(r.arn());
            p.trust_policy = Some(r.trust_policy.resolve(bindings)?);
            for ip in &r.inline_policies {
                p.policies
                    .insert(ip.name.clone(), ip.policy.resolve(bindings)?);
            }
            p.managed_policies = r.managed_policy_arns.clone();
            principals.push(p);
        }
        let mut managed_policies = BTreeMap::new();
        managed_policies.insert(
            ADMINISTRATOR_ACCESS.to_string(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        );
        let key_arn = bindings.resolve_str(&Reference::KeyArn.placeholder())?;
        let resources = vec![
            ResourceDocument {
                arn: key_arn,
                account: None,
                policy: Some(self.key.policy.resolve(bindings)?),
                public_access_block: None,
                aliases: vec![self.key.alias.clone()],
            },
            ResourceDocument {
                arn: self.bucket.arn(),
                account: Some(self.bucket.account.clone()),
                policy: Some(self.bucket.policy.resolve(bindings)?),
                public_access_block: Some(self.bucket.public_access_block),
                aliases: Vec::new(),
            },
        ];
        let mut endpoints = Vec::new();
        for n in &self.networks {
            let name = &n.endpoint.name;
            endpoints.push(EndpointDocument {
                id: bindings.resolve_str(&Reference::VpceId(name.clone()).placeholder())?,
                account: n.account.clone(),
                vpc: Some(bindings.resolve_str(&Reference::VpcId(name.clone()).placeholder())?),
                service: n.endpoint.service_name.clone(),
                policy: match &n.endpoint.policy {
                    Some(p) => Some(p.resolve(bindings)?),
                    None => None,
                },
            });
        }
        Ok(SetupDocument {
            schema: None,
            description: Some(format!(
                "Setup of a blueprint plan, profile {}, with bindings {}",
                self.profile,
                bindings
                    .0
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            region: self.region.clone(),
            accounts,
            organization: None,
            managed_policies,
            principals,
            resources,
            endpoints,
        })
    }

    /// The properties the blueprint claims, in `airlock check --property` syntax
    /// (`airlock_prove::check::Property::parse`): nothing is public; the data actions on the
    /// bucket need TLS and come only through the admitted endpoints and only from the storage
    /// roles; PUTs use only the key; the storage roles cannot delete or change the bucket
    /// policy; each storage role is assumed only by its consumer principals. A hardened plan
    /// proves them all; the seed as written violates several (its flaws).
    pub fn claims(&self, bindings: &Bindings) -> Result<Vec<String>, ResolveError> {
        let bucket = self.bucket.arn();
        let data = DATA_ACTIONS.join(",");
        let key = bindings.resolve_str(&Reference::KeyArn.placeholder())?;
        let vpces = self
            .networks
            .iter()
            .map(|n| {
                bindings.resolve_str(&Reference::VpceId(n.endpoint.name.clone()).placeholder())
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        let storage_roles: Vec<String> = self
            .roles
            .iter()
            .filter(|r| r.purpose == RolePurpose::Storage)
            .map(|r| r.arn())
            .collect();
        let mut out = vec![
            "not-public".to_string(),
            format!("requires-tls;resources={bucket};actions={data}"),
            format!("only-via-vpce={vpces};resources={bucket};actions={data}"),
            format!("requires-kms-key={key};resources={bucket}"),
            format!(
                "only-principals={};resources={bucket};actions={data}",
                storage_roles.join(",")
            ),
            format!(
                "no-actions=s3:Delete*,s3:PutBucketPolicy,s3:PutLifecycleConfiguration;resources={bucket};principals={}",
                storage_roles.join(",")
            ),
        ];
        for r in self
            .roles
            .iter()
            .filter(|r| r.purpose == RolePurpose::Storage)
        {
            // The consumer principals: the instance roles whose policy names this role, and
            // the existing roles the trust pins (or, unpinned, the same list: the claim).
            let arn = r.arn();
            let mut consumers: Vec<String> = self
                .roles
                .iter()
                .filter(|c| c.purpose == RolePurpose::Instance)
                .filter(|c| {
                    c.inline_policies
                        .iter()
                        .any(|p| p.policy.template().to_string().contains(&arn))
                })
                .map(|c| c.arn())
                .collect();
            for a in pinned_principals(r.trust_policy.template()) {
                if !consumers.contains(&a) {
                    consumers.push(a);
                }
            }
            if !consumers.is_empty() {
                out.push(format!(
                    "only-principals={};resources={arn};actions=sts:AssumeRole",
                    consumers.join(",")
                ));
            }
        }
        Ok(out)
    }
}

fn pinned_principals(trust: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sts) = trust["Statement"].as_array() {
        for s in sts {
            match &s["Condition"]["ArnEquals"]["aws:PrincipalArn"] {
                serde_json::Value::String(a) => out.push(a.clone()),
                serde_json::Value::Array(a) => {
                    out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)))
                }
                _ => {}
            }
        }
    }
    out
}

fn principal(arn: String) -> PrincipalDocument {
    PrincipalDocument {
        arn,
        id: None,
        tags: BTreeMap::new(),
        trust_policy: None,
        policies: BTreeMap::new(),
        managed_policies: Vec::new(),
        permissions_boundary: None,
    }
}
