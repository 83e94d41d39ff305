import type { Clock } from "../clock.js";
import { DomainError } from "../domain/errors.js";
import { enrollmentOf, type ScopeChain } from "../domain/scope.js";
import type { Store } from "../storage/database.js";
import { type Grant, type PolicyLookup, permits } from "./authorize.js";
import { type Principal, SOURCE_ACTIONS } from "./principal.js";
import { assignmentsOfPrincipal, findPolicyRow, toPolicy } from "./repository.js";
import { DEFAULT_ENROLLMENT_POLICY, type EnrollmentPolicy, findRole } from "./roles.js";

/** How long a principal's assignments (and an enrollment's policy) are reused before re-reading. */
export const ACCESS_CACHE_MS = 5_000;
const MAX_ENTRIES = 10_000;

interface Cached<T> {
  until: number;
  value: T;
}

/**
 * The authorization decision with its inputs loaded: a principal's role assignments and the
 * enrollment policies they depend on, cached for a few seconds per principal. Changes made
 * through this process invalidate the cache at once; other nodes see them within
 * `ACCESS_CACHE_MS`.
 */
export class Access {
  private readonly grants = new Map<string, Cached<readonly Grant[]>>();
  private readonly policies = new Map<string, Cached<EnrollmentPolicy>>();

  constructor(private readonly deps: { store: Store; clock: Clock }) {}

  async grantsOf(principal: Principal): Promise<readonly Grant[]> {
    if (principal.kind === "source") return [];
    const now = this.deps.clock.now();
    const hit = this.grants.get(principal.id);
    if (hit && hit.until > now) return hit.value;
    const rows = await assignmentsOfPrincipal(this.deps.store.db, principal.id);
    const value = rows.map((r) => ({ role: r.role, scope: r.scope }));
    if (this.grants.size >= MAX_ENTRIES) this.grants.clear();
    this.grants.set(principal.id, { until: now + ACCESS_CACHE_MS, value });
    return value;
  }

  async policy(enrollmentId: string): Promise<EnrollmentPolicy> {
    const now = this.deps.clock.now();
    const hit = this.policies.get(enrollmentId);
    if (hit && hit.until > now) return hit.value;
    const row = await findPolicyRow(this.deps.store.db, enrollmentId);
    const value = row ? toPolicy(row) : DEFAULT_ENROLLMENT_POLICY;
    if (this.policies.size >= MAX_ENTRIES) this.policies.clear();
    this.policies.set(enrollmentId, { until: now + ACCESS_CACHE_MS, value });
    return value;
  }

  /** Forget cached assignments: of one principal after its assignments changed, or of everyone. */
  invalidate(principalId?: string): void {
    if (principalId === undefined) this.grants.clear();
    else this.grants.delete(principalId);
  }

  invalidatePolicy(enrollmentId: string): void {
    this.policies.delete(enrollmentId);
  }

  /** The policies of the enrollments the principal's policy-dependent grants sit in. */
  async policyLookup(grants: readonly Grant[]): Promise<PolicyLookup> {
    const ids = new Set<string>();
    for (const g of grants) {
      const e = findRole(g.role)?.policyActions.length ? enrollmentOf(g.scope) : undefined;
      if (e !== undefined) ids.add(e);
    }
    const loaded = new Map<string, EnrollmentPolicy>();
    for (const id of ids) loaded.set(id, await this.policy(id));
    return (id) => loaded.get(id) ?? DEFAULT_ENROLLMENT_POLICY;
  }

  /**
   * Whether `principal` may perform `action` on a resource with this scope chain. Sources may only
   * report usage, and only for themselves (the ingest path writes with the source's own key).
   */
  async can(principal: Principal, action: string, chain: ScopeChain): Promise<boolean> {
    if (principal.kind === "source") return (SOURCE_ACTIONS as readonly string[]).includes(action);
    const grants = await this.grantsOf(principal);
    if (grants.length === 0) return false;
    return permits(grants, action, chain, await this.policyLookup(grants));
  }

  async require(principal: Principal, action: string, chain: ScopeChain): Promise<void> {
    if (!(await this.can(principal, action, chain))) throw forbidden(principal, action);
  }
}

export const forbidden = (principal: Principal, action: string) =>
  new DomainError("Forbidden", `principal '${principal.id}' may not perform '${action}' here.`);
