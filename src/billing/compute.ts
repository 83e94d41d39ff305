import { type Expression, sql } from "kysely";
import { ProviderTree } from "../auth/scoping.js";
import {
  type Charge,
  type ComputedLine,
  chargesOf,
  invoiceCharges,
  orderLines,
  type PriorPeriod,
  parseSignedQuantity,
  periodBounds,
  totals,
} from "../domain/billing/invoice.js";
import type { InvoiceLineKind, UnpricedUsageView } from "../domain/billing/types.js";
import { formatQuantity, joinQuantity, type Quantity, quantityFromUnits, SCALE } from "../domain/quantity.js";
import { formatMoney } from "../domain/rating/currency.js";
import { Dec } from "../domain/rating/decimal.js";
import { type Markup, type RatingResult, rate, type UsageQuantity } from "../domain/rating/engine.js";
import type { PriceSheetVersion } from "../domain/rating/price-sheet.js";
import { DAY, monthOf, toIso } from "../domain/time.js";
import { parsePercent } from "../rating/markups.js";
import { lookupMeter, type MeterCatalogue, meterCatalogue } from "../rating/meters.js";
import { loadVersions } from "../rating/price-sheets.js";
import type { Services } from "../services.js";
import { perStore, queryNamed, type Store } from "../storage/database.js";
import { type BillingAccountRow, earlierInvoices, type InvoiceLineRow } from "./repository.js";
import type { BilledSubscription } from "./resolve.js";

type Deps = Pick<Services, "store" | "config">;

/** An account and the subscriptions it bills, as resolved for the run. */
export interface AccountWork {
  account: BillingAccountRow;
  subscriptions: readonly BilledSubscription[];
}

/** A computed line, ready to store: what the invoice_lines row holds. */
export interface LineData extends ComputedLine {
  lineNo: number;
  description: string;
  subscriptionName: string | null;
  departmentId: string | null;
  accountId: string | null;
  costCenter: string | null;
}

export interface ComputedInvoice {
  account: BillingAccountRow;
  period: string;
  lines: LineData[];
  subtotal: Dec;
  tax: Dec;
  total: Dec;
  unpriced: UnpricedUsageView[];
}

/**
 * The usage days of a batch, one row per subscription, usage day and meter: everything reported
 * before the period's end (`now`), and before its start (`known`). Held column by column in typed
 * arrays: a batch of a monthly run holds ~100k rows, and as objects (with bigint quantities) they
 * survived every young-generation collection of the run and cost most of its garbage collection.
 * Quantities are kept as their summed whole and fractional parts (exact while safe integers; larger
 * sums are kept aside as bigints).
 */
export class DayRows {
  length = 0;
  seq = new Float64Array(1024);
  day = new Float64Array(1024);
  meterSeq = new Float64Array(1024);
  private parts = new Float64Array(4096);
  private readonly big = new Map<number, [now: Quantity, known: Quantity]>();
  /** Row indexes by subscription sequence. */
  readonly bySeq = new Map<number, number[]>();

  push(seq: number, day: number, meterSeq: number, u: unknown, f: unknown, ku: unknown, kf: unknown): void {
    const i = this.length++;
    if (i === this.seq.length) this.grow();
    this.seq[i] = seq;
    this.day[i] = day;
    this.meterSeq[i] = meterSeq;
    const pu = safe(u);
    const pf = safe(f);
    const pku = safe(ku);
    const pkf = safe(kf);
    if (pu === undefined || pf === undefined || pku === undefined || pkf === undefined)
      this.big.set(i, [quantityOf(u, f), quantityOf(ku, kf)]);
    else {
      this.parts[4 * i] = pu;
      this.parts[4 * i + 1] = pf;
      this.parts[4 * i + 2] = pku;
      this.parts[4 * i + 3] = pkf;
    }
    const list = this.bySeq.get(seq);
    if (list) list.push(i);
    else this.bySeq.set(seq, [i]);
  }

  now(i: number): Quantity {
    return this.big.get(i)?.[0] ?? quantityFromUnits(this.parts[4 * i]!, this.parts[4 * i + 1]!);
  }

  known(i: number): Quantity {
    return this.big.get(i)?.[1] ?? quantityFromUnits(this.parts[4 * i + 2]!, this.parts[4 * i + 3]!);
  }

  private grow(): void {
    const n = this.seq.length * 2;
    const more = (a: Float64Array, size: number) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.seq = more(this.seq, n);
    this.day = more(this.day, n);
    this.meterSeq = more(this.meterSeq, n);
    this.parts = more(this.parts, 4 * n);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A summed column as a safe integer, or undefined when it is not one (bigint from SQLite, text from PostgreSQL). */
function safe(v: unknown): number | undefined {
  if (typeof v === "bigint") return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The daily aggregates a period's invoices need, in one grouped query: usage days from `from` to
 * the period's end, summed over usage reported before `until`, and separately over what was
 * reported before the period began (corrections of earlier periods are computed from both).
 * Subscriptions are filtered in the query when few or given as a subquery answering their keys,
 * else every row is read and filtered here.
 */
export async function usageRows(
  store: Store,
  seqs: ReadonlySet<number> | Expression<{ seq: number }>,
  from: number,
  period: { start: number; end: number },
  until: number,
): Promise<DayRows> {
  const out = new DayRows();
  const scoped = !(seqs instanceof Set);
  if (!scoped && seqs.size === 0) return out;
  const list = scoped ? [] : [...seqs].sort((a, b) => a - b);
  const few = scoped || list.length <= 2000;
  const subFilter = scoped
    ? sql`and subscription_seq in (${seqs})`
    : !few
      ? sql``
      : store.dialect === "postgres"
        ? sql`and subscription_seq = any(${list}::bigint[])`
        : sql`and subscription_seq in (${sql.join(list.map((s) => sql.lit(s)))})`;
  // Parameters, not literals: with a few subscriptions the statement is a named one on PostgreSQL
  // (estimates), planned once per connection whatever the window.
  const start = period.start;
  // SQLite's sums are exact 64-bit integers (read as bigints); PostgreSQL's are numeric, read as text.
  const num = (e: ReturnType<typeof sql>) => (store.dialect === "postgres" ? sql`cast(${e} as text)` : e);
  const q = sql<{ s: number; d: number; m: number; u: string; f: string; ku: string; kf: string }>`
    select subscription_seq as s, usage_day as d, meter_seq as m,
      ${num(sql`sum(q_units)`)} as u, ${num(sql`sum(q_frac)`)} as f,
      ${num(sql`sum(case when reported_day < ${start} then q_units else 0 end)`)} as ku,
      ${num(sql`sum(case when reported_day < ${start} then q_frac else 0 end)`)} as kf
    from usage_daily
    where usage_day >= ${from} and usage_day < ${period.end}
      and reported_day < ${until} ${subFilter}
    group by subscription_seq, usage_day, meter_seq`;
  const c = q.compile(store.db);
  const add = (r: unknown[]) => {
    const seq = Number(r[0]);
    if (few || (seqs as ReadonlySet<number>).has(seq))
      out.push(seq, Number(r[1]), Number(r[2]), r[3], r[4], r[5], r[6]);
  };
  if (store.sqlite) {
    // Iterated, not read whole: each row array is garbage at once.
    await store.db.connection().execute(async () => {
      for (const r of store
        .sqlite!.prepare(c.sql)
        .raw(true)
        .iterate(...(c.parameters as unknown[])) as IterableIterator<unknown[]>)
        add(r);
    });
  } else {
    const rows = few
      ? await queryNamed<unknown[]>(store, c, "array")
      : ((await store.pool!.query({ text: c.sql, values: [...c.parameters], rowMode: "array" }))
          .rows as unknown[][]);
    for (const r of rows) add(r);
  }
  return out;
}

const quantityOf = (units: unknown, frac: unknown): Quantity =>
  typeof units === "bigint" && typeof frac === "bigint"
    ? units * SCALE + frac
    : joinQuantity(units as string, frac as string);

/** Everything about prices a run needs, loaded once: versions per offer and currency, markups, offers' owners. */
export class PriceBook {
  private readonly versions = new Map<string, Promise<PriceSheetVersion[]>>();
  private constructor(
    private readonly store: Store,
    readonly cat: MeterCatalogue,
    readonly meters: ReadonlyMap<number, { key: string; id: string }>,
    private readonly markups: ReadonlyMap<string, Dec>,
    private readonly offerOwner: ReadonlyMap<string, string>,
    private readonly tree: ProviderTree | undefined,
  ) {}

  private static cached = new WeakMap<Store, { until: number; book: Promise<PriceBook> }>();

  /**
   * A book reused for a few seconds (estimates: many per second on a busy portal, and an estimate
   * may be a few seconds behind a price change). Closes always load a fresh one.
   */
  static recent(store: Store, now: number, ttlMs = 5_000): Promise<PriceBook> {
    const hit = PriceBook.cached.get(store);
    if (hit && hit.until > now) return hit.book;
    const book = PriceBook.load(store);
    PriceBook.cached.set(store, { until: now + ttlMs, book });
    book.catch(() => PriceBook.cached.delete(store));
    return book;
  }

  static async load(store: Store): Promise<PriceBook> {
    const db = store.db;
    const [cat, meterRows, markupRows, offers] = await Promise.all([
      meterCatalogue(db),
      db.selectFrom("meters").select(["seq", "key", "id"]).execute(),
      db.selectFrom("markups").select(["scope", "percent"]).execute(),
      db.selectFrom("offers").select(["id", "provider_id"]).execute(),
    ]);
    const providerMarkups = markupRows.some((m) => m.scope.startsWith("/providers/"));
    return new PriceBook(
      store,
      cat,
      new Map(meterRows.map((m) => [Number(m.seq), { key: m.key, id: cat.get(m.key)?.id ?? m.id }])),
      new Map(markupRows.map((m) => [m.scope, parsePercent(m.percent) as Dec])),
      new Map(offers.map((o) => [o.id, o.provider_id])),
      providerMarkups ? await ProviderTree.load(db) : undefined,
    );
  }

  private readonly names = new Map<string, string>();

  /** A meter's catalogue name (remembered: every line asks). */
  meterName(meterId: string): string {
    let n = this.names.get(meterId);
    if (n === undefined) {
      n = lookupMeter(this.cat, meterId)?.name ?? meterId;
      this.names.set(meterId, n);
    }
    return n;
  }

  versionsOf(offerId: string, currency: string): Promise<PriceSheetVersion[]> {
    const k = `${offerId}\u0001${currency}`;
    let v = this.versions.get(k);
    if (!v) {
      v = loadVersions(this.store.db, this.cat, offerId, currency).then((r) => r.versions);
      this.versions.set(k, v);
    }
    return v;
  }

  /**
   * The markup on a subscription's charges on an account: the account's own markup if it has one;
   * else, for customer and enrollment accounts, the reseller's (as the tenant pays it: the nearest
   * delegated provider between the subscription's provider and the offer's owner). A reseller
   * account is invoiced at the price sheets' prices (or its own markup): its own markup on its
   * tenants is what it charges them, not what it pays.
   */
  markupFor(account: BillingAccountRow, sub: BilledSubscription): Markup | undefined {
    const own = this.markups.get(`/billingAccounts/${account.id}`);
    if (own) return { scope: `/billingAccounts/${account.id}`, percent: own };
    if (account.kind === "reseller" || !this.tree) return undefined;
    const owner = this.offerOwner.get(sub.offerId);
    for (const id of this.tree.ancestors(sub.providerId)) {
      if (id === owner) break;
      const p = this.markups.get(`/providers/${id}`);
      if (p) return { scope: `/providers/${id}`, percent: p };
    }
    return undefined;
  }
}

const dayPeriods = new Map<number, string>();
/** `monthOf` for UTC midnights, remembered (called for every usage row). */
function periodOfDay(day: number): string {
  let p = dayPeriods.get(day);
  if (p === undefined) {
    p = monthOf(day);
    if (dayPeriods.size > 100_000) dayPeriods.clear();
    dayPeriods.set(day, p);
  }
  return p;
}

export interface ComputeOptions {
  /** Usage reported before this instant counts (the period's end for a close, the watermark for an estimate). */
  reportedUntil: number;
  /** Prices to use (an estimate's recent book); a close loads its own. */
  book?: PriceBook;
  /** Where corrections may start (`correctionStart`), when the caller looked it up already. */
  from?: number;
  /** The usage rows (`usageRows` from `from` to the period's end, reported before `reportedUntil`), when the caller has read them. */
  rows?: DayRows;
  /** The earlier invoices (`earlierInvoices` from `from`), when the caller reads them (or has read them) already. */
  before?: Awaited<ReturnType<typeof earlierInvoices>> | ReturnType<typeof earlierInvoices>;
}

/**
 * The earliest usage time an invoice of `period` may correct: of the usage reported in the period
 * (up to `until`), and of the price sheet versions published in it and backdated. Earlier periods
 * from there on are rerated; before it nothing can have changed.
 */
export async function correctionStart(store: Store, period: string, until: number): Promise<number> {
  const p = periodBounds(period);
  // One round trip for both bounds.
  const r = await sql<{ lo: unknown; b: unknown }>`select
      (select min(min_usage_hour) from usage_reported_bounds
        where reported_hour >= ${sql.lit(p.start)} and reported_hour < ${sql.lit(until)}) as lo,
      (select min(effective_from) from price_sheets
        where created_at >= ${sql.lit(p.start)} and created_at < ${sql.lit(until)}) as b`.execute(store.db);
  const row = r.rows[0];
  return [row?.lo, row?.b].reduce<number>(
    (m, t) => (t === null || t === undefined ? m : Math.min(m, periodBounds(monthOf(Number(t))).start)),
    p.start,
  );
}

const recentStarts = perStore(() => new Map<string, { until: number; start: Promise<number> }>());

/**
 * `correctionStart` for an estimate, reused for a few seconds (as the price book is) while the
 * closed watermark `asOf` stays: usage reported later is not in the estimate yet, so only a
 * backdated price sheet published since can make it stale, for those few seconds.
 */
export function recentCorrectionStart(
  store: Store,
  period: string,
  asOf: number,
  now: number,
  ttlMs = 5_000,
): Promise<number> {
  const cache = recentStarts(store);
  const key = `${period}|${asOf}`;
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit.start;
  if (cache.size >= 64) cache.clear();
  const start = correctionStart(store, period, now);
  cache.set(key, { until: now + ttlMs, start });
  start.catch(() => cache.delete(key));
  return start;
}

const lineDescription = (kind: InvoiceLineKind, meterName: string, c: ComputedLine): string => {
  const tier =
    c.tier === "included" ? " (included quantity)" : c.tier && c.tier !== "0" ? ` (from ${c.tier})` : "";
  switch (kind) {
    case "usage":
      return `${meterName}${tier}`;
    case "priorPeriodUsage":
      return `${meterName}${tier}: usage of ${c.usagePeriod} reported late`;
    case "adjustment":
      return c.meterId
        ? `Adjustment of ${c.usagePeriod}: ${meterName}${tier}`
        : `Adjustment of ${c.usagePeriod}: ${c.charge}`;
    case "recurringCharge":
      return `Recurring Charge (${c.offerId}, ${c.usagePeriod})`;
    case "commitmentDiscount":
      return `Monetary Commitment discount on ${meterName} (${c.usagePeriod})`;
    case "commitmentShortfall":
      return `Monetary Commitment shortfall (${c.offerId}, ${c.usagePeriod})`;
    case "credit":
      return `Monetary Credit (${c.offerId}, ${c.usagePeriod})`;
  }
};

function storedCharge(l: InvoiceLineRow): Charge {
  return {
    charge: l.charge as Charge["charge"],
    subscriptionId: l.subscription_id,
    offerId: l.offer_id,
    meterId: l.meter_id,
    priceSheetId: l.price_sheet_id,
    tier: l.tier,
    quantity: l.quantity === null ? null : parseSignedQuantity(l.quantity),
    listUnitPrice: l.list_unit_price === null ? null : new Dec(l.list_unit_price),
    unitPrice: l.unit_price === null ? null : new Dec(l.unit_price),
    amount: new Dec(l.amount),
    usageStart: l.usage_start === null ? null : Number(l.usage_start),
    usageEnd: l.usage_end === null ? null : Number(l.usage_end),
  };
}

/** What `computeInvoices` reads for a batch of accounts, before any rating. */
export interface BatchInputs {
  work: readonly AccountWork[];
  period: string;
  rows: DayRows;
  book: PriceBook;
  before: Awaited<ReturnType<typeof earlierInvoices>>;
}

/**
 * Reads what the invoices of some accounts for one period need: one grouped usage query for all
 * of them, the price book, and earlier invoices' lines in one query. A run reads the next batch
 * while it rates and writes this one.
 */
export async function readInputs(
  deps: Deps,
  work: readonly AccountWork[],
  period: string,
  opts: ComputeOptions,
): Promise<BatchInputs> {
  const p = periodBounds(period);
  const until = Math.min(opts.reportedUntil, p.end);
  const from = opts.from ?? (await correctionStart(deps.store, period, until));
  const seqs = new Set(work.flatMap((w) => w.subscriptions.map((s) => s.seq)));
  const ids = work.map((w) => w.account.id);
  const [rows, book, before] = await Promise.all([
    opts.rows ?? usageRows(deps.store, seqs, from, p, until),
    opts.book ?? PriceBook.load(deps.store),
    opts.before ??
      (from < p.start ? earlierInvoices(deps.store, ids, period, monthOf(from)) : { periods: [], lines: [] }),
  ]);
  return { work, period, rows, book, before };
}

/**
 * Computes the invoices of some accounts for one period (docs/billing.md, "What an invoice
 * covers"): one grouped usage query for all of them, earlier invoices' lines in one query, then
 * rating in memory — per offer (and markup) among each account's subscriptions, pooled.
 */
export async function computeInvoices(
  deps: Deps,
  work: readonly AccountWork[],
  period: string,
  opts: ComputeOptions,
): Promise<ComputedInvoice[]> {
  return rateInputs(deps, await readInputs(deps, work, period, opts));
}

/** The invoices of a batch whose inputs were read (`readInputs`). */
export async function rateInputs(deps: Deps, inputs: BatchInputs): Promise<ComputedInvoice[]> {
  const { work, period, rows, book, before } = inputs;
  const earlier = before.lines;
  const hasInvoice = new Set(before.periods.map((r) => `${r.accountId}\u0001${r.period}`));
  const invoiced = new Map<string, Map<string, Charge[]>>();
  for (const l of earlier) {
    let m = invoiced.get(l.accountId);
    if (!m) {
      m = new Map();
      invoiced.set(l.accountId, m);
    }
    const q = l.usage_period!;
    m.set(q, [...(m.get(q) ?? []), storedCharge(l)]);
  }
  const out: ComputedInvoice[] = [];
  for (const w of work)
    out.push(
      await computeOne(deps, book, w, period, rows, invoiced.get(w.account.id), (q) =>
        hasInvoice.has(`${w.account.id}\u0001${q}`),
      ),
    );
  return out;
}

async function computeOne(
  deps: Deps,
  book: PriceBook,
  w: AccountWork,
  period: string,
  rows: DayRows,
  invoiced: ReadonlyMap<string, Charge[]> | undefined,
  hasInvoice: (period: string) => boolean,
): Promise<ComputedInvoice> {
  const { account } = w;
  const currency = account.currency;
  // Usage per usage period, per pool (offer and markup): everything, and what was known before the period.
  interface Pool {
    offerId: string;
    markup: Markup | undefined;
    now: UsageQuantity[];
    known: UsageQuantity[];
  }
  // Every pool of the account is rated in every period, with or without usage: offer terms (a
  // recurring charge, a commitment) are owed per period whatever the usage.
  const poolTemplates = new Map<string, { offerId: string; markup: Markup | undefined }>();
  const periods = new Map<string, Map<string, Pool>>();
  const poolsOf = (q: string) => {
    let pools = periods.get(q);
    if (!pools) {
      pools = new Map([...poolTemplates].map(([k, t]) => [k, { ...t, now: [], known: [] }]));
      periods.set(q, pools);
    }
    return pools;
  };
  const subPool = new Map<string, string>();
  for (const s of w.subscriptions) {
    const markup = book.markupFor(account, s);
    const poolKey = `${s.offerId}\u0001${markup?.scope ?? ""}`;
    subPool.set(s.id, poolKey);
    if (!poolTemplates.has(poolKey)) poolTemplates.set(poolKey, { offerId: s.offerId, markup });
  }
  const late = new Map<string, Map<string, { start: number; end: number }>>();
  const latePeriods = new Set<string>();
  for (const s of w.subscriptions) {
    const poolKey = subPool.get(s.id)!;
    for (const i of rows.bySeq.get(s.seq) ?? []) {
      const day = rows.day[i]!;
      const now = rows.now(i);
      const q = periodOfDay(day);
      if (q < account.first_period) continue; // usage before the account's first period is not its to bill
      const meter = book.meters.get(rows.meterSeq[i]!);
      if (!meter) continue;
      const pool = poolsOf(q).get(poolKey)!;
      const end = day + DAY;
      pool.now.push({
        subscriptionId: s.id,
        meterKey: meter.key,
        meterId: meter.id,
        start: day,
        end,
        quantity: now,
      });
      // What was known before the period matters for earlier periods only.
      const known = q !== period ? rows.known(i) : 0n;
      if (q !== period && known > 0n)
        pool.known.push({
          subscriptionId: s.id,
          meterKey: meter.key,
          meterId: meter.id,
          start: day,
          end,
          quantity: known,
        });
      if (q !== period && now !== known) {
        latePeriods.add(q);
        let m = late.get(q);
        if (!m) {
          m = new Map();
          late.set(q, m);
        }
        const k = `${s.id}\u0001${meter.id}`;
        const d = m.get(k);
        m.set(
          k,
          d
            ? { start: Math.min(d.start, day), end: Math.max(d.end, day + DAY) }
            : { start: day, end: day + DAY },
        );
      }
    }
  }

  const unpriced: UnpricedUsageView[] = [];
  const rateAll = async (q: string, which: "now" | "known"): Promise<Charge[]> => {
    const bounds = periodBounds(q);
    const charges: Charge[] = [];
    for (const pool of poolsOf(q).values()) {
      const usage = pool[which];
      const r: RatingResult = rate({
        currency,
        period: bounds,
        versions: await book.versionsOf(pool.offerId, currency),
        usage,
        applyTerms: true,
        rounding: deps.config.rounding,
        ...(pool.markup ? { markup: pool.markup } : {}),
      });
      charges.push(...chargesOf(r, pool.offerId));
      if (which === "now")
        for (const u of r.unpriced)
          unpriced.push({
            subscriptionId: u.subscriptionId,
            meterId: u.meterId,
            quantity: formatQuantity(u.quantity),
            reason: u.reason,
            usagePeriod: q,
            usageStart: toIso(u.usageStart),
            usageEnd: toIso(u.usageEnd),
          });
    }
    return charges;
  };

  const current = await rateAll(period, "now");
  const prior: PriorPeriod[] = [];
  for (const q of [...latePeriods].sort()) {
    const before = unpriced.length;
    const now = await rateAll(q, "now");
    // Of an earlier period's unpriced usage, only what arrived late is this invoice's to list.
    const lateKeys = late.get(q)!;
    const kept = unpriced.splice(before).filter((u) => lateKeys.has(`${u.subscriptionId}\u0001${u.meterId}`));
    unpriced.push(...kept);
    const known = await rateAll(q, "known");
    prior.push({
      usagePeriod: q,
      // A period not closed yet (an estimate during the grace) will charge what was known itself.
      invoiced: hasInvoice(q) ? (invoiced?.get(q) ?? []) : known,
      known,
      now,
      lateUsage: lateKeys,
    });
  }
  // Corrections of periods without late usage: prices or terms backdated since they were invoiced.
  for (const [q, charges] of invoiced ?? []) {
    if (q === period || latePeriods.has(q)) continue;
    const known = await rateAll(q, "known");
    prior.push({ usagePeriod: q, invoiced: charges, known, now: known, lateUsage: new Map() });
  }

  const subs = new Map(w.subscriptions.map((s) => [s.id, s]));
  const lines: LineData[] = orderLines(invoiceCharges(period, current, prior)).map((c, i) => {
    const s = c.subscriptionId ? subs.get(c.subscriptionId) : undefined;
    const meterName = c.meterId ? book.meterName(c.meterId) : "";
    return Object.assign(c, {
      lineNo: i + 1,
      description: lineDescription(c.kind, meterName, c),
      subscriptionName: s?.displayName ?? null,
      departmentId: s?.departmentId ?? null,
      accountId: s?.accountId ?? null,
      costCenter: s?.costCenter ?? null,
    });
  });
  const taxRate = account.tax_rate === null ? null : new Dec(account.tax_rate);
  const t = totals(
    lines.map((l) => l.amount),
    taxRate,
    currency,
    deps.config.rounding,
  );
  return { account, period, lines, ...t, unpriced };
}

export const money = (d: Dec, currency: string) => formatMoney(d, currency);
