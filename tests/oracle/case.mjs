// Translates one airlock differential case (the JSON the Rust generator writes) into the
// `Simulation` input of @cloud-copilot/iam-simulate, and its result back into airlock's words.
//
// A case is what airlock sees: the request (principal, action, resource, explicit context) and
// the policy set. iam-simulate needs two things spelled out that airlock derives itself:
//   1. the principal as an ARN string (or the anonymous marker), and
//   2. the request-context keys AWS derives from the principal and the resource
//      (IAM User Guide, "AWS global condition context keys" and "IAM policy elements:
//      Variables and tags", table "Request information that you can use for policy variables").
// Keys the case sets explicitly win over derived ones, as in airlock's `Request::context`.

import { anonymousPrincipal } from '@cloud-copilot/iam-simulate';

/** The ARN of an IAM user, role or root, from a path such as `/` or `/ops/`. */
function iamArn(account, kind, path, name) {
  const p = path && path !== '/' ? path.replace(/^\/+/, '').replace(/\/+$/, '') + '/' : '';
  return `arn:aws:iam::${account}:${kind}/${p}${name}`;
}

/**
 * The principal string iam-simulate matches against `Principal` elements, plus the context keys
 * AWS derives from the principal.
 */
export function principalFacts(principal) {
  switch (principal.type) {
    case 'anonymous':
      // Anonymous S3 requests: aws:userid is "anonymous", aws:PrincipalType "Anonymous",
      // no aws:PrincipalArn / aws:PrincipalAccount.
      return {
        simPrincipal: anonymousPrincipal,
        derived: { 'aws:userid': 'anonymous', 'aws:PrincipalType': 'Anonymous' }
      };
    case 'root': {
      const arn = `arn:aws:iam::${principal.account}:root`;
      return {
        simPrincipal: arn,
        derived: {
          'aws:PrincipalArn': arn,
          'aws:PrincipalAccount': principal.account,
          'aws:userid': principal.account,
          'aws:PrincipalType': 'Account'
        }
      };
    }
    case 'user': {
      const arn = iamArn(principal.account, 'user', principal.path, principal.name);
      const derived = {
        'aws:PrincipalArn': arn,
        'aws:PrincipalAccount': principal.account,
        'aws:userid': principal.id,
        'aws:username': principal.name,
        'aws:PrincipalType': 'User'
      };
      for (const [k, v] of Object.entries(principal.tags || {})) {
        derived[`aws:PrincipalTag/${k}`] = v;
      }
      return { simPrincipal: arn, derived };
    }
    case 'role-session': {
      const roleArn = iamArn(principal.account, 'role', principal.role_path, principal.role_name);
      const sessionArn = `arn:aws:sts::${principal.account}:assumed-role/${principal.role_name}/${principal.session_name}`;
      const derived = {
        // aws:PrincipalArn of a role session is the role's ARN (not the session ARN).
        'aws:PrincipalArn': roleArn,
        'aws:PrincipalAccount': principal.account,
        'aws:userid': `${principal.role_id}:${principal.session_name}`,
        'aws:PrincipalType': 'AssumedRole'
      };
      for (const [k, v] of Object.entries(principal.tags || {})) {
        derived[`aws:PrincipalTag/${k}`] = v;
      }
      if (principal.source_identity) {
        derived['aws:SourceIdentity'] = principal.source_identity;
      }
      return { simPrincipal: sessionArn, derived };
    }
    case 'service':
      return {
        simPrincipal: principal.name,
        derived: { 'aws:PrincipalServiceName': principal.name, 'aws:PrincipalIsAWSService': 'true' }
      };
    default:
      throw new Error(`unsupported principal type ${principal.type}`);
  }
}

/** The policy that AWS attaches to every root, OU and account once RCPs are enabled, and that
 * cannot be detached. iam-simulate adds it to every level by itself; airlock gets it from the
 * Rust side of the test. */
export const RCP_FULL_AWS_ACCESS = 'RCPFullAWSAccess';

/**
 * The identity policies iam-simulate evaluates. The root user has no identity policies in AWS,
 * yet "has complete access to all AWS services and resources in the account" (IAM User Guide,
 * "AWS account root user"): only SCPs, explicit denies and resource-side rules (KMS key
 * policies, trust policies, cross-account grants) limit it. iam-simulate has no model of the
 * root user, so its implicit access is given to it as an allow-all identity policy.
 */
function identityPolicies(principal, policies) {
  const named = policies.map((policy, i) => ({ name: `identity-${i}`, policy }));
  if (principal.type === 'root') {
    named.push({
      name: 'root-user-implicit-access',
      policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }
    });
  }
  return named;
}

/** Builds the iam-simulate `Simulation` for a case. */
export function toSimulation(c) {
  const req = c.request;
  const { simPrincipal, derived } = principalFacts(req.principal);
  const explicitKeys = new Set(Object.keys(req.context || {}).map((k) => k.toLowerCase()));
  const contextVariables = {};
  for (const [k, v] of Object.entries(derived)) {
    if (!explicitKeys.has(k.toLowerCase())) contextVariables[k] = v;
  }
  if (req.resource.account && !explicitKeys.has('aws:resourceaccount')) {
    contextVariables['aws:ResourceAccount'] = req.resource.account;
  }
  for (const [k, v] of Object.entries(req.context || {})) contextVariables[k] = v;

  const p = c.policies;
  const sim = {
    request: {
      principal: simPrincipal,
      action: req.action,
      resource: {
        resource: req.resource.arn,
        // iam-simulate needs an owning account even for a `*` resource.
        accountId: req.resource.account ?? ''
      },
      contextVariables
    },
    identityPolicies: identityPolicies(req.principal, p.identity || []),
    serviceControlPolicies: (p.scps || []).map((level, i) => ({
      orgIdentifier: `scp-level-${i}`,
      policies: level.map((policy, j) => ({ name: `scp-${i}-${j}`, policy }))
    })),
    resourceControlPolicies: (p.rcps || []).map((level, i) => ({
      orgIdentifier: `rcp-level-${i}`,
      policies: level.map((policy, j) => ({ name: `rcp-${i}-${j}`, policy }))
    }))
  };
  if (p.boundary) sim.permissionBoundaryPolicies = [{ name: 'boundary', policy: p.boundary }];
  if (p.session) sim.sessionPolicy = p.session;
  if (p.resource) sim.resourcePolicy = p.resource.policy;
  if (p.endpoint) sim.vpcEndpointPolicies = [{ name: 'endpoint', policy: p.endpoint }];
  return sim;
}

const DECISIONS = {
  Allowed: 'allow',
  ExplicitlyDenied: 'explicit-deny',
  ImplicitlyDenied: 'implicit-deny'
};

/** Maps an iam-simulate result to `{decision}` or `{error}` (airlock's Decision in kebab-case). */
export function toDecision(result) {
  if (result.resultType === 'error') {
    return { error: JSON.stringify(result.errors) };
  }
  const decision = DECISIONS[result.overallResult];
  if (!decision) return { error: `unknown overallResult ${result.overallResult}` };
  const out = { decision };
  const ignored = result.resultType === 'single' ? result.result.ignoredContextKeys : undefined;
  if (ignored && ignored.length > 0) out.ignored_context_keys = ignored;
  return out;
}
