import { type Actor, appendAudit } from "../audit/repository.js";
import { notFound } from "../domain/errors.js";
import { billingChain, type ScopeChain } from "../domain/scope.js";
import { forbidden } from "./access.js";
import type { Deps } from "./assignments.js";
import type { Principal } from "./principal.js";
import { findPolicyRow, toPolicy, upsertPolicy } from "./repository.js";
import { DEFAULT_ENROLLMENT_POLICY, type EnrollmentPolicy } from "./roles.js";

/**
 * Enrollment policies: whether department administrators and account owners of an enterprise
 * enrollment may see charges (money) or only usage quantities. Managed by enterprise
 * administrators; read by `canViewCharges` through the roles' policy-gated actions.
 */
export interface EnrollmentPolicyView extends EnrollmentPolicy {
  enrollmentId: string;
  updatedAt: string | null;
  updatedBy: string | null;
}

const chainOf = (enrollmentId: string): ScopeChain => billingChain({ kind: "enrollment", enrollmentId });

async function guard(svc: Deps, caller: Principal, action: string, enrollmentId: string) {
  const chain = chainOf(enrollmentId);
  if (await svc.access.can(caller, action, chain)) return;
  if (await svc.access.can(caller, "enrollmentPolicies/read", chain)) throw forbidden(caller, action);
  throw notFound("enrollment", enrollmentId);
}

async function view(svc: Deps, enrollmentId: string): Promise<EnrollmentPolicyView> {
  const row = await findPolicyRow(svc.store.db, enrollmentId);
  return {
    enrollmentId,
    ...(row ? toPolicy(row) : DEFAULT_ENROLLMENT_POLICY),
    updatedAt: row ? new Date(row.updated_at).toISOString() : null,
    updatedBy: row ? row.updated_by : null,
  };
}

export async function getEnrollmentPolicy(
  svc: Deps,
  caller: Principal,
  enrollmentId: string,
): Promise<EnrollmentPolicyView> {
  await guard(svc, caller, "enrollmentPolicies/read", enrollmentId);
  return view(svc, enrollmentId);
}

export async function setEnrollmentPolicy(
  svc: Deps,
  caller: Principal,
  actor: Actor,
  enrollmentId: string,
  change: Partial<EnrollmentPolicy>,
): Promise<EnrollmentPolicyView> {
  await guard(svc, caller, "enrollmentPolicies/write", enrollmentId);
  const now = svc.clock.now();
  await svc.store.db.transaction().execute(async (trx) => {
    const row = await findPolicyRow(trx, enrollmentId);
    const next = { ...(row ? toPolicy(row) : DEFAULT_ENROLLMENT_POLICY), ...change };
    await upsertPolicy(trx, enrollmentId, next, now, caller.id);
    await appendAudit(trx, actor, now, {
      action: "enrollmentPolicies/write",
      target: `/enrollments/${enrollmentId}/policies`,
      details: { op: "update", ...next },
    });
  });
  svc.access.invalidatePolicy(enrollmentId);
  return view(svc, enrollmentId);
}
