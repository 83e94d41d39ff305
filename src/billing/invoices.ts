import type { Insertable, Kysely, Transaction } from "kysely";
import { type Actor, appendAudit } from "../audit/repository.js";
import { nextPeriod, PERIOD, periodBounds, quantityText, totals } from "../domain/billing/invoice.js";
import type { EstimateView, InvoiceLine, InvoiceView, UnpricedUsageView } from "../domain/billing/types.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, invalid, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import { formatMoney } from "../domain/rating/currency.js";
import { Dec, decimalText } from "../domain/rating/decimal.js";
import { monthOf, toIso } from "../domain/time.js";
import { lookupMeter, type MeterCatalogue, meterCatalogue } from "../rating/meters.js";
import type { Services } from "../services.js";
import type { DB, InvoiceLineTable, InvoiceTable } from "../storage/schema.js";
import { closedUntil } from "../usage/service.js";
import { inReach, type Reach } from "./access.js";
import {
  type AccountWork,
  type ComputedInvoice,
  computeInvoices,
  PriceBook,
  recentCorrectionStart,
  usageRows,
} from "./compute.js";
import {
  type BillingAccountRow,
  earlierInvoices,
  findInvoice,
  type InvoiceLineRow,
  type InvoiceRow,
  insertLines,
  invoiceOfPeriod,
  invoiceRowsOfAccount,
  linesOfInvoice,
  nextInvoiceNumber,
} from "./repository.js";
import {
  billedSubscriptionsQuery,
  hierarchyFor,
  recentHierarchy,
  subscriptionsOfAccount,
} from "./resolve.js";

export type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config">;

export const ESTIMATE_NOTE =
  "An estimate of the open period from the usage reported so far; the final invoice may differ (late usage, price changes, and usage reported after this estimate).";

const conflict = (message: string) => new DomainError("Conflict", message);

// --- views -----------------------------------------------------------------------------------

interface ViewOptions {
  reach: Reach;
  cat: MeterCatalogue;
}

function lineView(l: InvoiceLineRow, currency: string, cat: MeterCatalogue, charges: boolean): InvoiceLine {
  const m = l.meter_id ? lookupMeter(cat, l.meter_id) : undefined;
  return {
    lineNo: l.line_no,
    kind: l.kind as InvoiceLine["kind"],
    description: l.description,
    subscriptionId: l.subscription_id,
    subscriptionName: l.subscription_name,
    offerId: l.offer_id,
    meterId: l.meter_id,
    meterName: m?.name ?? null,
    meterCategory: m?.category ?? null,
    meterSubCategory: m ? (m.subCategory ?? "") : null,
    meterRegion: m ? "" : null,
    unit: m?.unit ?? null,
    priceSheetId: l.price_sheet_id,
    tier: l.tier,
    quantity: l.quantity,
    listUnitPrice: charges ? l.list_unit_price : null,
    unitPrice: charges ? l.unit_price : null,
    amount: charges ? formatMoney(new Dec(l.amount), currency) : null,
    usagePeriod: l.usage_period,
    usageStart: l.usage_start === null ? null : toIso(Number(l.usage_start)),
    usageEnd: l.usage_end === null ? null : toIso(Number(l.usage_end)),
    departmentId: l.department_id,
    accountId: l.account_id,
    costCenter: l.cost_center,
  };
}

interface Money {
  subtotal: string | null;
  tax: string | null;
  total: string | null;
}

/** The document's lines and totals as the caller may see them: its part, money or not. */
function visible(
  rows: readonly InvoiceLineRow[],
  unpriced: readonly UnpricedUsageView[],
  whole: { subtotal: string; tax: string; total: string },
  account: BillingAccountRow,
  taxRate: string | null,
  opts: ViewOptions,
  deps: Pick<Deps, "config">,
): { lines: InvoiceLine[]; unpriced: UnpricedUsageView[]; money: Money; extra: Record<string, boolean> } {
  const { reach, cat } = opts;
  const shown = rows.filter((l) => inReach(reach, l.department_id, l.account_id));
  const currency = account.currency;
  let money: Money = whole;
  if (reach.parts !== null) {
    const t = totals(
      shown.map((l) => new Dec(l.amount)),
      taxRate === null ? null : new Dec(taxRate),
      currency,
      deps.config.rounding,
    );
    money = {
      subtotal: formatMoney(t.subtotal, currency),
      tax: formatMoney(t.tax, currency),
      total: formatMoney(t.total, currency),
    };
  }
  if (!reach.chargesVisible) money = { subtotal: null, tax: null, total: null };
  const subs = new Set(shown.map((l) => l.subscription_id));
  return {
    lines: shown.map((l) => lineView(l, currency, cat, reach.chargesVisible)),
    unpriced: reach.parts === null ? [...unpriced] : unpriced.filter((u) => subs.has(u.subscriptionId)),
    money,
    extra: {
      ...(reach.chargesVisible ? {} : { chargesHidden: true }),
      ...(reach.parts === null ? {} : { partial: true }),
    },
  };
}

export function invoiceView(
  deps: Pick<Deps, "config">,
  row: InvoiceRow,
  lines: readonly InvoiceLineRow[],
  opts: ViewOptions,
): InvoiceView {
  const v = visible(
    lines,
    JSON.parse(row.unpriced) as UnpricedUsageView[],
    { subtotal: row.subtotal, tax: row.tax, total: row.total },
    opts.reach.account,
    row.tax_rate,
    opts,
    deps,
  );
  return {
    id: row.id,
    billingAccountId: row.billing_account_id,
    number: row.number,
    issuerName: row.issuer_name,
    period: row.period,
    periodStart: toIso(Number(row.period_start)),
    periodEnd: toIso(Number(row.period_end)),
    status: row.status,
    currency: row.currency,
    ...v.money,
    taxRate: row.tax_rate,
    createdAt: toIso(Number(row.created_at)),
    finalizedAt: row.finalized_at === null ? null : toIso(Number(row.finalized_at)),
    complete: row.complete === 1,
    lines: v.lines,
    unpriced: v.unpriced,
    ...v.extra,
  };
}

// --- storing computed invoices ----------------------------------------------------------------

function rowsOf(c: ComputedInvoice, id: string, now: number) {
  const currency = c.account.currency;
  const invoice: Insertable<InvoiceTable> = {
    id,
    billing_account_id: c.account.id,
    period: c.period,
    period_start: periodBounds(c.period).start,
    period_end: periodBounds(c.period).end,
    status: "draft",
    number: null,
    issuer_name: c.account.issuer_name,
    currency,
    tax_rate: c.account.tax_rate,
    subtotal: formatMoney(c.subtotal, currency),
    tax: formatMoney(c.tax, currency),
    total: formatMoney(c.total, currency),
    complete: c.unpriced.length === 0 ? 1 : 0,
    unpriced: JSON.stringify(c.unpriced),
    created_at: now,
    finalized_at: null,
  };
  const lines: Insertable<InvoiceLineTable>[] = c.lines.map((l) => ({
    invoice_id: id,
    line_no: l.lineNo,
    kind: l.kind,
    charge: l.charge,
    description: l.description,
    subscription_id: l.subscriptionId,
    subscription_name: l.subscriptionName,
    offer_id: l.offerId,
    meter_id: l.meterId,
    price_sheet_id: l.priceSheetId,
    tier: l.tier,
    quantity: quantityText(l.quantity),
    list_unit_price: l.listUnitPrice === null ? null : decimalText(l.listUnitPrice),
    unit_price: l.unitPrice === null ? null : decimalText(l.unitPrice),
    amount: formatMoney(l.amount, currency),
    usage_period: l.usagePeriod,
    usage_start: l.usageStart,
    usage_end: l.usageEnd,
    department_id: l.departmentId,
    account_id: l.accountId,
    cost_center: l.costCenter,
  }));
  return { invoice, lines };
}

/** Test hook: runs inside the closing transaction after the rows are written (simulates a crash). */
export interface CloseHooks {
  beforeCommit?: () => Promise<void>;
}

/**
 * Writes computed invoices in one transaction. `unique (billing_account_id, period)` decides:
 * an account whose period another close (a retry, another node) already wrote keeps that invoice
 * and this one is dropped. Invoices go in multi-row inserts, their lines in chunks.
 */
export async function writeInvoices(
  deps: Pick<Deps, "store">,
  actor: Actor,
  computed: readonly ComputedInvoice[],
  now: number,
  hooks: CloseHooks = {},
): Promise<Set<string>> {
  return deps.store.db.transaction().execute(async (trx) => {
    const built = computed.map((c) => rowsOf(c, newGuid(), now));
    const inserted = new Set<string>();
    for (let i = 0; i < built.length; i += 500) {
      const rows = await trx
        .insertInto("invoices")
        .values(built.slice(i, i + 500).map((b) => b.invoice))
        .onConflict((oc) => oc.columns(["billing_account_id", "period"]).doNothing())
        .returning("id")
        .execute();
      for (const r of rows) inserted.add(r.id);
    }
    await insertLines(
      deps.store,
      trx,
      built.filter((b) => inserted.has(b.invoice.id)).flatMap((b) => b.lines),
    );
    const audit = built
      .filter((b) => inserted.has(b.invoice.id))
      .map((b) => ({
        at: now,
        principal_id: actor.principalId,
        action: "billing/write",
        target: `/billingAccounts/${b.invoice.billing_account_id}/invoices/${b.invoice.id}`,
        request_id: actor.requestId,
        details: JSON.stringify({
          op: "close",
          period: b.invoice.period,
          total: b.invoice.total,
          lines: b.lines.length,
        }),
      }));
    for (let i = 0; i < audit.length; i += 1000)
      await trx
        .insertInto("audit_log")
        .values(audit.slice(i, i + 1000))
        .execute();
    await hooks.beforeCommit?.();
    return inserted;
  });
}

// --- periods ---------------------------------------------------------------------------------

export interface PeriodView {
  period: string;
  periodStart: string;
  periodEnd: string;
  status: "open" | "closable" | "draft" | "finalized";
  invoiceId: string | null;
}

/** Why a period cannot be closed now, or undefined when it can. */
async function closeBlocker(
  deps: Deps,
  account: BillingAccountRow,
  period: string,
  now: number,
): Promise<string | undefined> {
  const p = periodBounds(period);
  if (period < account.first_period)
    return `period ${period} is before the account's first period ${account.first_period}`;
  if (now < p.end) return `period ${period} is still open`;
  if (now < p.end + deps.config.billingCloseGraceMs)
    return `period ${period} can be closed from ${toIso(p.end + deps.config.billingCloseGraceMs)} (late usage's grace)`;
  const watermark = await closedUntil(deps, p.end);
  if (watermark < p.end)
    return `usage is aggregated up to ${toIso(watermark)} only, not yet to the period's end`;
  return undefined;
}

export async function listPeriods(
  deps: Deps,
  account: BillingAccountRow,
  all: boolean,
): Promise<PeriodView[]> {
  const now = deps.clock.now();
  const current = monthOf(now);
  const invoices = new Map((await invoiceRowsOfAccount(deps.store.db, account.id)).map((i) => [i.period, i]));
  const months: string[] = [];
  for (
    let p = account.first_period < current ? account.first_period : current;
    p <= current;
    p = nextPeriod(p)
  )
    months.push(p);
  months.reverse();
  const shown = all ? months : months.slice(0, 7);
  const watermark = await closedUntil(deps, now);
  return shown.map((period) => {
    const p = periodBounds(period);
    const inv = invoices.get(period);
    const closable = now >= p.end + deps.config.billingCloseGraceMs && watermark >= p.end;
    return {
      period,
      periodStart: toIso(p.start),
      periodEnd: toIso(p.end),
      status: inv ? inv.status : closable ? "closable" : "open",
      invoiceId: inv?.id ?? null,
    };
  });
}

// --- close, finalize, discard ------------------------------------------------------------------

export function parsePeriod(s: string): string {
  if (!PERIOD.test(s)) throw invalid("period", "must be a month written YYYY-MM");
  return s;
}

/**
 * Closes one account's period into a draft invoice. Idempotent: when the period already has an
 * invoice (a retry, a concurrent close on another node), that invoice is the answer, unchanged.
 */
export async function closePeriod(
  deps: Deps,
  actor: Actor,
  account: BillingAccountRow,
  period: string,
  hooks: CloseHooks = {},
): Promise<{ invoice: InvoiceRow; created: boolean }> {
  const existing = await invoiceOfPeriod(deps.store.db, account.id, period);
  if (existing) return { invoice: existing, created: false };
  const now = deps.clock.now();
  const blocker = await closeBlocker(deps, account, period, now);
  if (blocker) throw conflict(blocker);
  const prev = monthOf(periodBounds(period).start - 1);
  if (prev >= account.first_period && !(await invoiceOfPeriod(deps.store.db, account.id, prev)))
    throw conflict(`close ${prev} first: periods are closed in order`);
  const work: AccountWork = { account, subscriptions: await subscriptionsOfAccount(deps.store, account) };
  const [computed] = await computeInvoices(deps, [work], period, { reportedUntil: periodBounds(period).end });
  const inserted = await writeInvoices(deps, actor, [computed!], now, hooks);
  const invoice = (await invoiceOfPeriod(deps.store.db, account.id, period))!;
  return { invoice, created: inserted.has(invoice.id) };
}

const lockInvoice = async (trx: Transaction<DB>, accountId: string, id: string, pg: boolean) => {
  const q = trx
    .selectFrom("invoices")
    .selectAll()
    .where("billing_account_id", "=", accountId)
    .where("id", "=", id);
  return (pg ? q.forUpdate() : q).executeTakeFirst();
};

export const formatInvoiceNumber = (n: number) => `INV-${String(n).padStart(6, "0")}`;

/**
 * Finalizes a draft: numbers it (gap-free per issuer: the issuer's counter row is bumped in the
 * same transaction, row-locked on PostgreSQL, so a number is used exactly when the invoice is
 * finalized) and stamps it. Idempotent: a finalized invoice is answered as it is.
 */
export async function finalizeInvoice(
  deps: Pick<Deps, "store" | "clock">,
  actor: Actor,
  accountId: string,
  id: string,
): Promise<InvoiceRow> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const row = await lockInvoice(trx, accountId, id, deps.store.dialect === "postgres");
    if (!row) throw notFound("invoice", id);
    if (row.status === "finalized") return row;
    const number = formatInvoiceNumber(await nextInvoiceNumber(trx, row.issuer_name));
    await trx
      .updateTable("invoices")
      .set({ status: "finalized", number, finalized_at: now })
      .where("id", "=", id)
      .where("status", "=", "draft")
      .execute();
    await appendAudit(trx, actor, now, {
      action: "invoices/write",
      target: `/billingAccounts/${accountId}/invoices/${id}`,
      details: { op: "finalize", number, issuer: row.issuer_name, period: row.period, total: row.total },
    });
    return (await findInvoice(trx, accountId, id))!;
  });
}

/** Discards a draft so that a new close recomputes it; only the account's latest invoice (later ones were computed against it). */
export async function discardInvoice(
  deps: Pick<Deps, "store" | "clock">,
  actor: Actor,
  accountId: string,
  id: string,
): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const row = await lockInvoice(trx, accountId, id, deps.store.dialect === "postgres");
    if (!row) throw notFound("invoice", id);
    if (row.status === "finalized")
      throw conflict(`invoice '${id}' is finalized: finalized invoices never change`);
    const later = await trx
      .selectFrom("invoices")
      .select("period")
      .where("billing_account_id", "=", accountId)
      .where("period", ">", row.period)
      .executeTakeFirst();
    if (later)
      throw conflict(`discard the invoice of ${later.period} first: it was computed against this one`);
    await trx.deleteFrom("invoice_lines").where("invoice_id", "=", id).execute();
    await trx.deleteFrom("invoices").where("id", "=", id).execute();
    await appendAudit(trx, actor, now, {
      action: "billing/write",
      target: `/billingAccounts/${accountId}/invoices/${id}`,
      details: { op: "discard", period: row.period, total: row.total },
    });
  });
}

// --- reading ---------------------------------------------------------------------------------

export async function getInvoice(deps: Deps, reach: Reach, id: string): Promise<InvoiceView> {
  const row = await findInvoice(deps.store.db, reach.account.id, id);
  if (!row) throw notFound("invoice", id);
  const [lines, cat] = await Promise.all([
    linesOfInvoice(deps.store.db, id, reach.parts),
    meterCatalogue(deps.store.db),
  ]);
  return invoiceView(deps, row, lines, { reach, cat });
}

export async function listInvoices(
  deps: Deps,
  reach: Reach,
  q: { cursor?: string | undefined; limit: number; status?: "draft" | "finalized" | undefined },
): Promise<Page<InvoiceView>> {
  const before = q.cursor ? decodeCursor(q.cursor, ["string"])[0] : undefined;
  let query = deps.store.db
    .selectFrom("invoices")
    .selectAll()
    .where("billing_account_id", "=", reach.account.id)
    .orderBy("period", "desc")
    .limit(q.limit + 1);
  if (before !== undefined) query = query.where("period", "<", before);
  if (q.status !== undefined) query = query.where("status", "=", q.status);
  const rows = await query.execute();
  const cat = await meterCatalogue(deps.store.db);
  const lines = await linesByInvoice(
    deps.store.db,
    rows.slice(0, q.limit).map((r) => r.id),
  );
  return toPage(
    rows,
    q.limit,
    (r) => invoiceView(deps, r, lines.get(r.id) ?? [], { reach, cat }),
    (r) => [r.period],
  );
}

async function linesByInvoice(db: Kysely<DB>, ids: readonly string[]) {
  const out = new Map<string, InvoiceLineRow[]>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom("invoice_lines")
    .selectAll()
    .where("invoice_id", "in", ids as string[])
    .orderBy("invoice_id")
    .orderBy("line_no")
    .execute();
  for (const r of rows) out.set(r.invoice_id, [...(out.get(r.invoice_id) ?? []), r]);
  return out;
}

/** The closed watermark an estimate last saw, per store: the next one reads its usage as of it at once. */
const lastAsOf = new WeakMap<object, number>();

/**
 * The open period's charges so far, computed by the same code as a close over the usage reported
 * (and rolled up) until now: an estimate, never an invoice.
 */
export async function estimate(deps: Deps, reach: Reach): Promise<EstimateView> {
  const now = deps.clock.now();
  const period = monthOf(now);
  const p = periodBounds(period);
  const { account } = reach;
  const db = deps.store.db;
  const hierarchy = recentHierarchy(db, now);
  /**
   * The usage (its subscriptions as a subquery) and the earlier invoices that corrections need,
   * as of a closed watermark: started with the last one seen, at once with the reads below, and
   * read again in the rare case (once an hour) that the watermark has moved since.
   */
  const read = async (asOf: number) => {
    const from = await recentCorrectionStart(deps.store, period, asOf, now);
    const scope = db
      .selectFrom(
        billedSubscriptionsQuery(db, account, await hierarchyFor(db, account, await hierarchy)).as("b"),
      )
      .select("b.seq");
    const [rows, before] = await Promise.all([
      usageRows(deps.store, scope, from, p, Math.min(asOf, p.end)),
      from < p.start
        ? earlierInvoices(deps.store, [account.id], period, monthOf(from))
        : { periods: [], lines: [] },
    ]);
    return { from, rows, before };
  };
  const seen = lastAsOf.get(deps.store);
  let usage = seen === undefined ? undefined : read(seen);
  usage?.catch(() => undefined); // awaited below, or dropped when the watermark has moved
  const [asOf, subscriptions, book] = await Promise.all([
    closedUntil(deps, now),
    hierarchy.then((h) => subscriptionsOfAccount(deps.store, account, h)),
    PriceBook.recent(deps.store, now),
  ]);
  if (seen === undefined || asOf > seen) lastAsOf.set(deps.store, asOf);
  if (asOf !== seen) usage = read(asOf);
  const cat = book.cat;
  const [c] = await computeInvoices(deps, [{ account, subscriptions }], period, {
    reportedUntil: asOf,
    book,
    ...(await usage!),
  });
  const { invoice, lines } = rowsOf(c!, "estimate", now);
  const v = visible(
    lines as InvoiceLineRow[],
    c!.unpriced,
    { subtotal: invoice.subtotal, tax: invoice.tax, total: invoice.total },
    account,
    account.tax_rate,
    { reach, cat },
    deps,
  );
  return {
    billingAccountId: account.id,
    period,
    periodStart: toIso(p.start),
    periodEnd: toIso(p.end),
    estimate: true,
    asOf: toIso(asOf),
    note: ESTIMATE_NOTE,
    currency: account.currency,
    ...v.money,
    taxRate: account.tax_rate,
    complete: c!.unpriced.length === 0,
    lines: v.lines,
    unpriced: v.unpriced,
    ...v.extra,
  };
}
