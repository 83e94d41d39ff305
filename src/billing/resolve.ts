import { type Kysely, sql } from "kysely";
import { ProviderTree } from "../auth/scoping.js";
import { executePrepared, type Store } from "../storage/database.js";
import type { DB } from "../storage/schema.js";
import type { Part } from "./access.js";
import {
  type AssignmentRow,
  allAccountRows,
  allAssignments,
  type BillingAccountRow,
  customerAccountOf,
  departmentRows,
  enrollmentAccountRows,
  findAccount,
  findAssignment,
  inParts,
  resellerAccountRows,
} from "./repository.js";

/**
 * Which billing account bills a subscription — one rule, applied when a period is closed or
 * estimated (docs/billing.md):
 * 1. an explicit assignment (`billing_assignments`, one per subscription) wins;
 * 2. else the reseller account of the nearest delegated provider at or above the subscription's
 *    provider;
 * 3. else the customer account of the subscription's directory;
 * 4. else the subscription is unbilled: listed, never silently dropped.
 */
export type BillingReason = "assigned" | "reseller" | "customer";

/** A subscription as billing reads it, with its place in an enrollment when it has one. */
export interface BilledSubscription {
  seq: number;
  id: string;
  displayName: string;
  directoryId: string;
  providerId: string;
  offerId: string;
  departmentId: string | null;
  accountId: string | null;
  costCenter: string | null;
}

type SubRow = {
  seq: number;
  id: string;
  display_name: string;
  directory_id: string;
  provider_id: string;
  offer_id: string;
};

const subColumns = ["seq", "id", "display_name", "directory_id", "provider_id", "offer_id"] as const;

/** The nearest delegated provider at or above `providerId` that has a reseller account. */
function resellerOf(
  tree: ProviderTree,
  resellers: ReadonlyMap<string, BillingAccountRow>,
  providerId: string,
) {
  for (const id of tree.ancestors(providerId)) {
    const a = resellers.get(id);
    if (a) return a;
  }
  return undefined;
}

/** Cost centers of an enrollment's accounts (the account's, else its department's). */
async function costCenters(db: Kysely<DB>, enrollmentId: string): Promise<Map<string, string | null>> {
  const deps = new Map((await departmentRows(db, enrollmentId)).map((d) => [d.id, d.cost_center]));
  return new Map(
    (await enrollmentAccountRows(db, enrollmentId, null)).map((a) => [
      a.id,
      a.cost_center ?? deps.get(a.department_id) ?? null,
    ]),
  );
}

const billed = (
  s: SubRow,
  a: Pick<AssignmentRow, "department_id" | "account_id"> | undefined,
  centers?: ReadonlyMap<string, string | null>,
): BilledSubscription => ({
  seq: Number(s.seq),
  id: s.id,
  displayName: s.display_name,
  directoryId: s.directory_id,
  providerId: s.provider_id,
  offerId: s.offer_id,
  departmentId: a?.department_id ?? null,
  accountId: a?.account_id ?? null,
  costCenter: a?.account_id ? (centers?.get(a.account_id) ?? null) : null,
});

export interface Resolution {
  account: BillingAccountRow;
  reason: BillingReason;
  departmentId: string | null;
  accountId: string | null;
}

/** The account billing one subscription, and why; undefined when it is unbilled. */
export async function accountOfSubscription(
  db: Kysely<DB>,
  sub: { id: string; directory_id: string; provider_id: string },
): Promise<Resolution | undefined> {
  const a = await findAssignment(db, sub.id);
  if (a) {
    const account = (await findAccount(db, a.billing_account_id))!;
    return { account, reason: "assigned", departmentId: a.department_id, accountId: a.account_id };
  }
  const resellers = new Map((await resellerAccountRows(db)).map((r) => [r.provider_id!, r]));
  if (resellers.size) {
    const r = resellerOf(await ProviderTree.load(db), resellers, sub.provider_id);
    if (r) return { account: r, reason: "reseller", departmentId: null, accountId: null };
  }
  const c = await customerAccountOf(db, sub.directory_id);
  return c ? { account: c, reason: "customer", departmentId: null, accountId: null } : undefined;
}

/** What the resolution rule needs beyond a subscription: the provider tree and the reseller accounts. */
export interface Hierarchy {
  tree: ProviderTree;
  resellers: ReadonlyMap<string, BillingAccountRow>;
}

export async function loadHierarchy(db: Kysely<DB>): Promise<Hierarchy> {
  const [tree, rows] = await Promise.all([ProviderTree.load(db), resellerAccountRows(db)]);
  return { tree, resellers: new Map(rows.map((r) => [r.provider_id!, r])) };
}

const recent = new WeakMap<object, { until: number; h: Promise<Hierarchy> }>();

/** The hierarchy reused for a few seconds (estimates; closes read a fresh one). */
export function recentHierarchy(db: Kysely<DB>, now: number, ttlMs = 5_000): Promise<Hierarchy> {
  const hit = recent.get(db);
  if (hit && hit.until > now) return hit.h;
  const h = loadHierarchy(db);
  recent.set(db, { until: now + ttlMs, h });
  h.catch(() => recent.delete(db));
  return h;
}

/**
 * The providers whose unassigned subscriptions an account bills by the rule (2–3 above): for a
 * reseller, those of its subtree that no nearer reseller account takes; for a customer, those no
 * reseller account takes (`exclude`); an enrollment bills only its assignments.
 */
function providerFilter(
  account: BillingAccountRow,
  h: Hierarchy | undefined,
): { include: string[] } | { exclude: string[] } | undefined {
  if (account.kind === "reseller")
    return {
      include: h!.tree
        .descendants(account.provider_id!)
        .filter((p) => resellerOf(h!.tree, h!.resellers, p)?.id === account.id),
    };
  if (account.kind === "customer")
    return { exclude: [...h!.resellers.values()].flatMap((r) => h!.tree.descendants(r.provider_id!)) };
  return undefined;
}

/**
 * The statement answering the subscriptions one account bills: its explicit assignments, and
 * the unassigned subscriptions of its directory (customer) or of its provider's subtree
 * (reseller) that no nearer reseller account takes. `subscriptionsOfAccount` reads it; an
 * estimate uses it as a subquery of its usage read.
 */
export function billedSubscriptionsQuery(
  db: Kysely<DB>,
  account: BillingAccountRow,
  h: Hierarchy | undefined,
  parts: readonly Part[] | null = null,
) {
  const explicit = db
    .selectFrom("billing_assignments as a")
    .innerJoin("subscriptions as s", "s.id", "a.subscription_id")
    .select(subColumns.map((c) => `s.${c}` as const))
    .select(["a.department_id", "a.account_id"])
    .where("a.billing_account_id", "=", account.id)
    .where(inParts(parts, "a.department_id", "a.account_id"));
  const providers = providerFilter(account, h);
  if (providers === undefined) return explicit;
  let implicit = db
    .selectFrom("subscriptions as s")
    .leftJoin("billing_assignments as a", "a.subscription_id", "s.id")
    .select(subColumns.map((c) => `s.${c}` as const))
    .select(["a.department_id", "a.account_id"])
    .where("a.subscription_id", "is", null);
  if (account.kind === "customer") implicit = implicit.where("s.directory_id", "=", account.directory_id!);
  if ("include" in providers)
    implicit =
      providers.include.length === 0
        ? implicit.where(sql<boolean>`false`)
        : implicit.where("s.provider_id", "in", providers.include);
  else if (providers.exclude.length > 0)
    implicit = implicit.where("s.provider_id", "not in", providers.exclude);
  return explicit.unionAll(implicit);
}

/** The hierarchy an account's resolution needs (none for an enrollment). */
export const hierarchyFor = async (db: Kysely<DB>, account: BillingAccountRow, hierarchy?: Hierarchy) =>
  account.kind === "enrollment" ? undefined : (hierarchy ?? (await loadHierarchy(db)));

/**
 * Every subscription one account bills (deleted ones too: their usage is still billed), in one
 * query (`billedSubscriptionsQuery`), by id.
 */
export async function subscriptionsOfAccount(
  store: Store,
  account: BillingAccountRow,
  hierarchy?: Hierarchy,
  parts: readonly Part[] | null = null,
): Promise<BilledSubscription[]> {
  const h = await hierarchyFor(store.db, account, hierarchy);
  const [rows, centers] = await Promise.all([
    // A named statement on PostgreSQL: estimates ask this many times a second, and its planning
    // costs more than its execution.
    executePrepared(store, billedSubscriptionsQuery(store.db, account, h, parts)),
    account.kind === "enrollment" ? costCenters(store.db, account.id) : undefined,
  ]);
  return rows.map((r) => billed(r, r, centers)).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Every subscription resolved at once (the monthly run): by account, and the unbilled ones. */
export async function resolveAll(db: Kysely<DB>): Promise<{
  accounts: BillingAccountRow[];
  byAccount: Map<string, BilledSubscription[]>;
  unbilled: BilledSubscription[];
}> {
  const accounts = await allAccountRows(db);
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const resellers = new Map(accounts.filter((a) => a.kind === "reseller").map((a) => [a.provider_id!, a]));
  const customers = new Map(accounts.filter((a) => a.kind === "customer").map((a) => [a.directory_id!, a]));
  const assignments = new Map((await allAssignments(db)).map((a) => [a.subscription_id, a]));
  const tree = await ProviderTree.load(db);
  const centers = new Map<string, Map<string, string | null>>();
  for (const a of accounts) if (a.kind === "enrollment") centers.set(a.id, await costCenters(db, a.id));
  const subs = await db.selectFrom("subscriptions").select(subColumns).orderBy("id").execute();
  const byAccount = new Map<string, BilledSubscription[]>(accounts.map((a) => [a.id, []]));
  const unbilled: BilledSubscription[] = [];
  for (const s of subs) {
    const explicit = assignments.get(s.id);
    const account = explicit
      ? byId.get(explicit.billing_account_id)
      : (resellerOf(tree, resellers, s.provider_id) ?? customers.get(s.directory_id));
    const b = billed(s, explicit, account ? centers.get(account.id) : undefined);
    if (account) byAccount.get(account.id)!.push(b);
    else unbilled.push(b);
  }
  return { accounts, byAccount, unbilled };
}
