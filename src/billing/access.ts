import { forbidden } from "../auth/access.js";
import type { Principal } from "../auth/principal.js";
import type { AccessDeps } from "../auth/scoping.js";
import { notFound } from "../domain/errors.js";
import { parseScope, ROOT_SCOPE, type ScopeChain } from "../domain/scope.js";
import { type BillingAccountRow, findAccount } from "./repository.js";

/**
 * Who sees what of a billing account (issue 7 item 6). A customer or reseller account's chain is
 * `/`, `/billingAccounts/{id}`; an enrollment's adds `/enrollments/{id}`, and its departments' and
 * accounts' data sit below that. Department administrators and account owners see only their part
 * (the lines of their subscriptions, totals of their part) and money only with `charges/read`,
 * which the enrollment's policies grant them or not. Outside one's reach: 404.
 */
export function accountChain(a: Pick<BillingAccountRow, "id" | "kind">): ScopeChain {
  return [
    { scope: ROOT_SCOPE },
    { scope: `/billingAccounts/${a.id}` },
    ...(a.kind === "enrollment" ? [{ scope: `/enrollments/${a.id}` }] : []),
  ];
}

export function partChain(
  a: Pick<BillingAccountRow, "id" | "kind">,
  departmentId: string,
  accountId?: string,
): ScopeChain {
  return [
    ...accountChain(a),
    { scope: `/enrollments/${a.id}/departments/${departmentId}` },
    ...(accountId === undefined
      ? []
      : [{ scope: `/enrollments/${a.id}/departments/${departmentId}/accounts/${accountId}` }]),
  ];
}

/** A department, or one account of it, that a caller sees of an enrollment. */
export interface Part {
  departmentId: string;
  accountId?: string;
}

/**
 * How much of an account the caller reaches for an action: all of it, some parts of an
 * enrollment (through department or account grants, with `partAction`), or nothing.
 */
export interface Reach {
  account: BillingAccountRow;
  /** null: the whole account. */
  parts: Part[] | null;
  chargesVisible: boolean;
}

export const inReach = (reach: Reach, departmentId: string | null, accountId: string | null): boolean =>
  reach.parts === null ||
  reach.parts.some(
    (p) => p.departmentId === departmentId && (p.accountId === undefined || p.accountId === accountId),
  );

async function partsOf(svc: AccessDeps, caller: Principal, account: BillingAccountRow, action: string) {
  if (account.kind !== "enrollment") return [];
  const parts: { part: Part; chain: ScopeChain }[] = [];
  for (const g of await svc.access.grantsOf(caller)) {
    const s = parseScope(g.scope);
    if (typeof s === "string" || (s.kind !== "department" && s.kind !== "account")) continue;
    if (s.enrollmentId !== account.id) continue;
    const part: Part =
      s.kind === "account"
        ? { departmentId: s.departmentId, accountId: s.accountId }
        : { departmentId: s.departmentId };
    const chain = partChain(account, part.departmentId, part.accountId);
    if (
      !parts.some((p) => p.part.departmentId === part.departmentId && p.part.accountId === part.accountId) &&
      (await svc.access.can(caller, action, chain))
    )
      parts.push({ part, chain });
  }
  return parts;
}

/**
 * The caller's reach on an account for `action` (whole-account), or for `partAction` on the
 * departments and accounts it holds roles at. Throws NotFound when the caller reaches nothing of
 * the account, Forbidden when it may read it but not do this.
 */
export async function reachAccount(
  svc: AccessDeps,
  caller: Principal,
  accountId: string,
  action: string,
  partAction?: string,
): Promise<Reach> {
  const account = await findAccount(svc.store.db, accountId);
  if (!account) throw notFound("billing account", accountId);
  const chain = accountChain(account);
  if (await svc.access.can(caller, action, chain))
    return { account, parts: null, chargesVisible: await svc.access.can(caller, "charges/read", chain) };
  if (partAction !== undefined) {
    const parts = await partsOf(svc, caller, account, partAction);
    if (parts.length) {
      let charges = true;
      for (const p of parts) charges &&= await svc.access.can(caller, "charges/read", p.chain);
      return { account, parts: parts.map((p) => p.part), chargesVisible: charges };
    }
  }
  if (
    (await svc.access.can(caller, "billing/read", chain)) ||
    (await partsOf(svc, caller, account, "billing/read")).length > 0
  )
    throw forbidden(caller, action);
  throw notFound("billing account", accountId);
}
