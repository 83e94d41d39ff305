import { enrollmentOf, type ScopeChain } from "../domain/scope.js";
import { isReadAction } from "./principal.js";
import {
  DEFAULT_ENROLLMENT_POLICY,
  type EnrollmentPolicy,
  findRole,
  type RoleDefinition,
  rolePermits,
} from "./roles.js";

/** A role assignment as authorization sees it: a role at a canonical scope path. */
export interface Grant {
  role: string;
  scope: string;
}

export type PolicyLookup = (enrollmentId: string) => EnrollmentPolicy;

export const defaultPolicies: PolicyLookup = () => DEFAULT_ENROLLMENT_POLICY;

/**
 * The one authorization decision: does any of the principal's grants, at a scope on the
 * resource's chain, permit `action`? A grant at a scope covers everything below it; a read-only
 * link admits only read actions. Pure: the caller loads the grants and the enrollment policies.
 */
export function permits(
  grants: readonly Grant[],
  action: string,
  chain: ScopeChain,
  policyOf: PolicyLookup = defaultPolicies,
): boolean {
  return chain.some(
    (link) =>
      (!link.readOnly || isReadAction(action)) &&
      grants.some((g) => g.scope === link.scope && grantPermits(g, action, policyOf)),
  );
}

export function grantPermits(g: Grant, action: string, policyOf: PolicyLookup = defaultPolicies): boolean {
  const role = findRole(g.role);
  if (role === undefined) return false;
  const enrollment = role.policyActions.length ? enrollmentOf(g.scope) : undefined;
  return rolePermits(role, action, enrollment === undefined ? undefined : policyOf(enrollment));
}

/** Whether the principal holds `role` itself at a scope on the chain (granting privileged roles). */
export function holdsRole(grants: readonly Grant[], role: RoleDefinition, chain: ScopeChain): boolean {
  return chain.some(
    (link) => !link.readOnly && grants.some((g) => g.scope === link.scope && findRole(g.role) === role),
  );
}
