import type { Kysely } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { BillingAccountKind, BillingAccountView, BillingAddress } from "../domain/billing/types.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, invalid, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import { currencyCode } from "../domain/rating/currency.js";
import { type Dec, decimalText, parseDecimal } from "../domain/rating/decimal.js";
import { monthOf, toIso } from "../domain/time.js";
import { findProvider } from "../providers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import type { DB } from "../storage/schema.js";
import { findSubscription } from "../subscriptions/repository.js";
import {
  type AssignmentRow,
  type BillingAccountRow,
  type DepartmentRow,
  type EnrollmentAccountRow,
  findAccount,
  findDepartment,
  findEnrollmentAccount,
  listAccountRows,
  upsertAssignment,
} from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
  config: Pick<Config, "billingIssuer">;
}

export interface AccountView extends BillingAccountView {
  /** `YYYY-MM`: the first billing period. */
  firstPeriod: string;
  updatedAt: string;
}

export const toAccountView = (r: BillingAccountRow): AccountView => ({
  id: r.id,
  kind: r.kind,
  displayName: r.display_name,
  currency: r.currency,
  taxRate: r.tax_rate,
  issuerName: r.issuer_name,
  address: r.address === null ? null : (JSON.parse(r.address) as BillingAddress),
  directoryId: r.directory_id,
  providerId: r.provider_id,
  firstPeriod: r.first_period,
  createdAt: toIso(Number(r.created_at)),
  updatedAt: toIso(Number(r.updated_at)),
});

export interface DepartmentView {
  id: string;
  enrollmentId: string;
  displayName: string;
  costCenter: string | null;
  createdAt: string;
}

export const toDepartmentView = (r: DepartmentRow): DepartmentView => ({
  id: r.id,
  enrollmentId: r.enrollment_id,
  displayName: r.display_name,
  costCenter: r.cost_center,
  createdAt: toIso(Number(r.created_at)),
});

export interface EnrollmentAccountView extends DepartmentView {
  departmentId: string;
}

export const toEnrollmentAccountView = (r: EnrollmentAccountRow): EnrollmentAccountView => ({
  ...toDepartmentView({ ...r }),
  departmentId: r.department_id,
});

export interface AssignmentView {
  subscriptionId: string;
  billingAccountId: string;
  departmentId: string | null;
  accountId: string | null;
  createdAt: string;
}

export const toAssignmentView = (r: AssignmentRow): AssignmentView => ({
  subscriptionId: r.subscription_id,
  billingAccountId: r.billing_account_id,
  departmentId: r.department_id,
  accountId: r.account_id,
  createdAt: toIso(Number(r.created_at)),
});

/** A tax rate: a percentage from 0 to 100 with up to 4 decimals. */
export function parseTaxRate(v: unknown): Dec | string {
  const d = parseDecimal(v, { integerDigits: 3, fractionDigits: 4 });
  if (typeof d === "string") return d;
  if (d.gt(100)) return "must be at most 100";
  return d;
}

export interface AccountInput {
  id?: string | undefined;
  kind: BillingAccountKind;
  displayName: string;
  currency: string;
  taxRate?: Dec | null | undefined;
  issuerName?: string | undefined;
  address?: BillingAddress | null | undefined;
  directoryId?: string | undefined;
  providerId?: string | undefined;
  firstPeriod?: string | undefined;
}

async function checkTarget(db: Kysely<DB>, input: AccountInput) {
  const problems: { field: string; reason: string }[] = [];
  const need = (field: "directoryId" | "providerId", when: BillingAccountKind) => {
    if (input.kind === when && input[field] === undefined)
      problems.push({ field, reason: `is required for a ${when} account` });
    if (input.kind !== when && input[field] !== undefined)
      problems.push({ field, reason: `applies to ${when} accounts only` });
  };
  need("directoryId", "customer");
  need("providerId", "reseller");
  if (input.kind === "customer" && input.directoryId !== undefined) {
    const d = await db
      .selectFrom("directories")
      .select("id")
      .where("id", "=", input.directoryId)
      .executeTakeFirst();
    if (!d)
      problems.push({ field: "directoryId", reason: `directory '${input.directoryId}' does not exist` });
  }
  if (input.kind === "reseller" && input.providerId !== undefined) {
    const p = await findProvider(db, input.providerId);
    if (!p || p.deleted_at !== null)
      problems.push({ field: "providerId", reason: `provider '${input.providerId}' does not exist` });
    else if (p.parent_id === null)
      problems.push({
        field: "providerId",
        reason: "must be a delegated provider, not the operator's root provider",
      });
  }
  if (problems.length)
    throw new DomainError("ValidationFailed", `${problems[0]!.field}: ${problems[0]!.reason}`, problems);
}

export async function createAccount(deps: Deps, actor: Actor, input: AccountInput): Promise<AccountView> {
  const now = deps.clock.now();
  const currency = currencyCode(input.currency);
  if (currency === undefined)
    throw invalid("currency", `'${input.currency}' is not a supported ISO 4217 currency`);
  const current = monthOf(now);
  if (input.firstPeriod !== undefined && input.firstPeriod > current)
    throw invalid("firstPeriod", "must not be after the current period");
  await checkTarget(deps.store.db, input);
  const id = input.id ?? newGuid();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      if (await findAccount(trx, id))
        throw new DomainError("AlreadyExists", `billing account '${id}' already exists.`);
      await trx
        .insertInto("billing_accounts")
        .values({
          id,
          kind: input.kind,
          display_name: input.displayName,
          currency,
          tax_rate: input.taxRate ? decimalText(input.taxRate) : null,
          issuer_name: input.issuerName ?? deps.config.billingIssuer,
          address: input.address ? JSON.stringify(input.address) : null,
          directory_id: input.directoryId ?? null,
          provider_id: input.providerId ?? null,
          first_period: input.firstPeriod ?? current,
          created_at: now,
          updated_at: now,
        })
        .execute();
      const row = (await findAccount(trx, id))!;
      await appendAudit(trx, actor, now, {
        action: "billing/write",
        target: `/billingAccounts/${id}`,
        details: { op: "create", ...toAccountView(row) },
      });
      return toAccountView(row);
    });
  } catch (e) {
    if (isUniqueViolation(e)) {
      const field = input.kind === "customer" ? "directoryId" : "providerId";
      throw new DomainError(
        "AlreadyExists",
        `${field}: ${input.kind === "customer" ? `directory '${input.directoryId}'` : `provider '${input.providerId}'`} already has a ${input.kind} account.`,
      );
    }
    throw e;
  }
}

export interface AccountChange {
  displayName?: string | undefined;
  taxRate?: Dec | null | undefined;
  issuerName?: string | undefined;
  address?: BillingAddress | null | undefined;
}

/** Changes settings; they apply to invoices closed from then on (closed invoices keep theirs). */
export async function updateAccount(
  deps: Deps,
  actor: Actor,
  id: string,
  change: AccountChange,
): Promise<AccountView> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const before = await findAccount(trx, id);
    if (!before) throw notFound("billing account", id);
    await trx
      .updateTable("billing_accounts")
      .set({
        updated_at: now,
        ...(change.displayName !== undefined ? { display_name: change.displayName } : {}),
        ...(change.taxRate !== undefined
          ? { tax_rate: change.taxRate ? decimalText(change.taxRate) : null }
          : {}),
        ...(change.issuerName !== undefined ? { issuer_name: change.issuerName } : {}),
        ...(change.address !== undefined
          ? { address: change.address ? JSON.stringify(change.address) : null }
          : {}),
      })
      .where("id", "=", id)
      .execute();
    const row = (await findAccount(trx, id))!;
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/billingAccounts/${id}`,
      details: { op: "update", before: toAccountView(before), after: toAccountView(row) },
    });
    return toAccountView(row);
  });
}

export async function listAccounts(
  deps: Pick<Deps, "store">,
  q: { cursor?: string | undefined; limit: number; kind?: string | undefined },
  ids: readonly string[] | "all",
): Promise<Page<AccountView>> {
  const after = q.cursor ? decodeCursor(q.cursor, ["string"])[0] : undefined;
  const rows = await listAccountRows(deps.store.db, {
    ids,
    limit: q.limit + 1,
    ...(after !== undefined ? { after } : {}),
    ...(q.kind !== undefined ? { kind: q.kind } : {}),
  });
  return toPage(rows, q.limit, toAccountView, (r) => [r.id]);
}

function requireEnrollment(a: BillingAccountRow | undefined, id: string): BillingAccountRow {
  if (!a) throw notFound("billing account", id);
  if (a.kind !== "enrollment")
    throw new DomainError("Conflict", `billing account '${id}' is a ${a.kind} account, not an enrollment.`);
  return a;
}

export async function createDepartment(
  deps: Deps,
  actor: Actor,
  enrollmentId: string,
  input: { id: string; displayName: string; costCenter?: string | undefined },
): Promise<DepartmentView> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    requireEnrollment(await findAccount(trx, enrollmentId), enrollmentId);
    if (await findDepartment(trx, enrollmentId, input.id))
      throw new DomainError("AlreadyExists", `department '${input.id}' already exists in '${enrollmentId}'.`);
    await trx
      .insertInto("billing_departments")
      .values({
        enrollment_id: enrollmentId,
        id: input.id,
        display_name: input.displayName,
        cost_center: input.costCenter ?? null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/enrollments/${enrollmentId}/departments/${input.id}`,
      details: { op: "create", ...input },
    });
    return toDepartmentView((await findDepartment(trx, enrollmentId, input.id))!);
  });
}

export async function createEnrollmentAccount(
  deps: Deps,
  actor: Actor,
  enrollmentId: string,
  input: { id: string; departmentId: string; displayName: string; costCenter?: string | undefined },
): Promise<EnrollmentAccountView> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    requireEnrollment(await findAccount(trx, enrollmentId), enrollmentId);
    if (!(await findDepartment(trx, enrollmentId, input.departmentId)))
      throw invalid("departmentId", `department '${input.departmentId}' does not exist in '${enrollmentId}'`);
    if (await findEnrollmentAccount(trx, enrollmentId, input.id))
      throw new DomainError("AlreadyExists", `account '${input.id}' already exists in '${enrollmentId}'.`);
    await trx
      .insertInto("billing_enrollment_accounts")
      .values({
        enrollment_id: enrollmentId,
        id: input.id,
        department_id: input.departmentId,
        display_name: input.displayName,
        cost_center: input.costCenter ?? null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/enrollments/${enrollmentId}/departments/${input.departmentId}/accounts/${input.id}`,
      details: { op: "create", ...input },
    });
    return toEnrollmentAccountView((await findEnrollmentAccount(trx, enrollmentId, input.id))!);
  });
}

/**
 * Assigns a subscription to an account explicitly (replacing any earlier assignment: one table
 * keyed by subscription). Enrollments need the enrollment account, which must be in the given
 * department of that enrollment; other kinds take neither.
 */
export async function assignSubscription(
  deps: Deps,
  actor: Actor,
  accountId: string,
  subscriptionId: string,
  input: { departmentId?: string | undefined; accountId?: string | undefined },
): Promise<AssignmentView> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const account = await findAccount(trx, accountId);
    if (!account) throw notFound("billing account", accountId);
    if (!(await findSubscription(trx, subscriptionId))) throw notFound("subscription", subscriptionId);
    if (account.kind === "enrollment") {
      if (input.departmentId === undefined || input.accountId === undefined)
        throw invalid(
          "accountId",
          "an enrollment needs the departmentId and accountId the subscription goes to",
        );
      const ea = await findEnrollmentAccount(trx, accountId, input.accountId);
      if (!ea) throw invalid("accountId", `account '${input.accountId}' does not exist in '${accountId}'`);
      if (ea.department_id !== input.departmentId)
        throw invalid("departmentId", `account '${input.accountId}' is in department '${ea.department_id}'`);
    } else if (input.departmentId !== undefined || input.accountId !== undefined) {
      throw invalid("departmentId", "departments and accounts apply to enrollments only");
    }
    const row = {
      subscription_id: subscriptionId,
      billing_account_id: accountId,
      department_id: input.departmentId ?? null,
      account_id: input.accountId ?? null,
      created_at: now,
    };
    await upsertAssignment(trx, row);
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/billingAccounts/${accountId}/subscriptions/${subscriptionId}`,
      details: { op: "assign", departmentId: row.department_id, accountId: row.account_id },
    });
    return toAssignmentView(row);
  });
}

export async function unassignSubscription(
  deps: Deps,
  actor: Actor,
  accountId: string,
  subscriptionId: string,
): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const r = await trx
      .deleteFrom("billing_assignments")
      .where("subscription_id", "=", subscriptionId)
      .where("billing_account_id", "=", accountId)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0)
      throw notFound("assignment", `/billingAccounts/${accountId}/subscriptions/${subscriptionId}`);
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/billingAccounts/${accountId}/subscriptions/${subscriptionId}`,
      details: { op: "unassign" },
    });
  });
}
