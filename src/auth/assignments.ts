import { sql } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, invalid, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import {
  formatScope,
  parseScope,
  ROOT_CHAIN,
  ROOT_SCOPE,
  type ScopeChain,
  type ScopeRef,
} from "../domain/scope.js";
import { isUniqueViolation } from "../storage/errors.js";
import { forbidden } from "./access.js";
import { holdsRole } from "./authorize.js";
import type { Principal } from "./principal.js";
import {
  type AssignmentVisibility,
  countAssignments,
  deleteAssignmentRow,
  findAssignment,
  insertAssignment,
  listAssignmentRows,
  type RoleAssignment,
  toRoleAssignment,
} from "./repository.js";
import { findRole, isPrivileged, type RoleDefinition } from "./roles.js";
import {
  type AccessDeps,
  chainOfScope,
  ProviderTree,
  visibleProviders,
  visibleSubscriptions,
} from "./scoping.js";

export interface Deps extends AccessDeps {
  clock: Clock;
}

const OWNER = findRole("Owner")!;

const READ_OF: Partial<Record<ScopeRef["kind"], string>> = {
  provider: "providers/read",
  subscription: "subscriptions/read",
};

function describe(s: ScopeRef): string {
  return s.kind === "provider"
    ? `provider '${s.providerId}'`
    : s.kind === "subscription"
      ? `subscription '${s.subscriptionId}'`
      : `scope '${formatScope(s)}'`;
}

/**
 * The chain of a scope named in a request, as the caller may know it: a provider or subscription
 * the caller cannot see is reported exactly like one that does not exist (400, the scope is a
 * field of the request), so that assignments do not reveal what exists outside one's scope.
 */
async function targetChain(svc: Deps, caller: Principal, scope: ScopeRef): Promise<ScopeChain> {
  if (scope.kind === "provider") {
    const tree = await ProviderTree.load(svc.store.db);
    if (tree.isRoot(scope.providerId))
      throw invalid("scope", `the operator's root provider is assigned at '${ROOT_SCOPE}'`);
  }
  const chain = await chainOfScope(svc.store.db, scope);
  const readAction = READ_OF[scope.kind];
  if (
    chain === undefined ||
    (readAction !== undefined &&
      !(await svc.access.can(caller, readAction, chain)) &&
      !(await svc.access.can(caller, "roleAssignments/write", chain)))
  ) {
    throw invalid("scope", `${describe(scope)} does not exist`);
  }
  return chain;
}

/** Granting or revoking a role that can itself grant roles needs that role (or Owner) at the scope. */
async function requireHolds(svc: Deps, caller: Principal, role: RoleDefinition, chain: ScopeChain) {
  if (!isPrivileged(role)) return;
  const grants = await svc.access.grantsOf(caller);
  if (holdsRole(grants, OWNER, chain) || holdsRole(grants, role, chain)) return;
  throw new DomainError(
    "Forbidden",
    `only a holder of '${role.name}' (or Owner) at this scope or above may grant or revoke '${role.name}'.`,
  );
}

export async function createRoleAssignment(
  svc: Deps,
  caller: Principal,
  actor: Actor,
  input: { principalId: string; role: string; scope: string },
): Promise<RoleAssignment> {
  const scope = parseScope(input.scope);
  if (typeof scope === "string") throw invalid("scope", scope);
  const role = findRole(input.role);
  if (role === undefined)
    throw invalid("role", `unknown role '${input.role}'; /api/v1/role-definitions lists the roles`);
  if (!role.assignableScopes.includes(scope.kind)) {
    throw invalid(
      "role",
      `'${role.name}' cannot be assigned at a ${scope.kind} scope (only at ${role.assignableScopes.join(", ")})`,
    );
  }
  const chain = await targetChain(svc, caller, scope);
  if (!(await svc.access.can(caller, "roleAssignments/write", chain)))
    throw forbidden(caller, "roleAssignments/write");
  await requireHolds(svc, caller, role, chain);

  const now = svc.clock.now();
  const row = {
    id: newGuid(),
    principal_id: input.principalId,
    role: role.name,
    scope: formatScope(scope),
    created_at: now,
    created_by: caller.id,
  };
  try {
    await svc.store.db.transaction().execute(async (trx) => {
      await insertAssignment(trx, row);
      await appendAudit(trx, actor, now, {
        action: "roleAssignments/write",
        target: `/roleAssignments/${row.id}`,
        details: { op: "create", principalId: row.principal_id, role: row.role, scope: row.scope },
      });
    });
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new DomainError(
        "AlreadyExists",
        `principal '${row.principal_id}' already holds '${row.role}' at '${row.scope}'.`,
      );
    }
    throw e;
  }
  svc.access.invalidate(row.principal_id);
  return toRoleAssignment(row);
}

/**
 * Which assignments `caller` may see: all with `roleAssignments/read` at `/`; otherwise its own,
 * and those at or below each scope where it holds `roleAssignments/read`.
 */
async function visibility(svc: Deps, caller: Principal): Promise<AssignmentVisibility> {
  const action = "roleAssignments/read";
  if (await svc.access.can(caller, action, ROOT_CHAIN)) return "all";
  const providers = await visibleProviders(svc, caller, action);
  const scopes = providers === "all" ? [] : providers.map((id) => `/providers/${id}`);
  const prefixes: string[] = [];
  for (const g of await svc.access.grantsOf(caller)) {
    const s = parseScope(g.scope);
    if (typeof s === "string" || !(await svc.access.can(caller, action, [{ scope: g.scope }]))) continue;
    if (s.kind === "billingAccount" || s.kind === "account") scopes.push(g.scope);
    if (s.kind === "enrollment" || s.kind === "department") {
      scopes.push(g.scope);
      prefixes.push(`${g.scope}/`);
    }
  }
  return {
    principalId: caller.id,
    scopes,
    prefixes,
    subscriptions: await visibleSubscriptions(svc, caller, action),
  };
}

export async function listRoleAssignments(
  svc: Deps,
  caller: Principal,
  q: { cursor?: string; limit: number; principalId?: string; scope?: string },
): Promise<Page<RoleAssignment>> {
  let scope: string | undefined;
  if (q.scope !== undefined) {
    const parsed = parseScope(q.scope);
    if (typeof parsed === "string") throw invalid("scope", parsed);
    scope = formatScope(parsed);
  }
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, ["number", "string"]);
  const rows = await listAssignmentRows(svc.store.db, {
    limit: q.limit,
    visible: await visibility(svc, caller),
    ...(after === undefined ? {} : { after }),
    ...(q.principalId === undefined ? {} : { principalId: q.principalId }),
    ...(scope === undefined ? {} : { scope }),
  });
  return toPage(rows, q.limit, toRoleAssignment, (r) => [r.created_at, r.id]);
}

/**
 * Revokes an assignment. Invisible ones answer 404; revoking needs `roleAssignments/delete` at the
 * assignment's scope (403); the last Owner of `/` stays (409), so that somebody can always
 * administer tally.
 */
export async function deleteRoleAssignment(
  svc: Deps,
  caller: Principal,
  actor: Actor,
  id: string,
): Promise<void> {
  const row = await findAssignment(svc.store.db, id);
  if (!row) throw notFound("role assignment", id);
  const parsed = parseScope(row.scope);
  const chain = (typeof parsed === "string" ? undefined : await chainOfScope(svc.store.db, parsed)) ?? [
    ...ROOT_CHAIN,
    { scope: row.scope },
  ];
  const own = row.principal_id === caller.id;
  if (!(await svc.access.can(caller, "roleAssignments/delete", chain))) {
    if (own || (await svc.access.can(caller, "roleAssignments/read", chain)))
      throw forbidden(caller, "roleAssignments/delete");
    throw notFound("role assignment", id);
  }
  const role = findRole(row.role);
  if (role) await requireHolds(svc, caller, role, chain);

  const now = svc.clock.now();
  await svc.store.db.transaction().execute(async (trx) => {
    // Serialise removals of root Owners, so that two concurrent ones cannot both pass the check.
    if (svc.store.dialect === "postgres") await sql`select pg_advisory_xact_lock(7310024)`.execute(trx);
    if (!(await findAssignment(trx, id))) throw notFound("role assignment", id);
    if (
      row.role === OWNER.name &&
      row.scope === ROOT_SCOPE &&
      (await countAssignments(trx, OWNER.name, ROOT_SCOPE)) <= 1
    ) {
      throw new DomainError(
        "Conflict",
        "this is the last Owner of '/'; assign Owner at '/' to another principal before removing it.",
      );
    }
    await deleteAssignmentRow(trx, id);
    await appendAudit(trx, actor, now, {
      action: "roleAssignments/delete",
      target: `/roleAssignments/${id}`,
      details: { op: "delete", principalId: row.principal_id, role: row.role, scope: row.scope },
    });
  });
  svc.access.invalidate(row.principal_id);
}
