import { DomainError, invalid } from "../domain/errors.js";
import { formatQuantity, joinQuantity, parseQuantity } from "../domain/quantity.js";
import { formatMoney } from "../domain/rating/currency.js";
import { type Dec, decimalText, ZERO } from "../domain/rating/decimal.js";
import {
  type Adjustment,
  type Markup,
  type RatingResult,
  rate,
  type UsageQuantity,
} from "../domain/rating/engine.js";
import { formatEffectiveDate, type PriceSheetVersion } from "../domain/rating/price-sheet.js";
import { DAY, monthRange, toIso } from "../domain/time.js";
import type { OfferRow } from "../offers/repository.js";
import type { Services } from "../services.js";
import type { SubscriptionRow } from "../subscriptions/repository.js";
import { fetchAggregates, type RowKey } from "../usage/query.js";
import { closedUntil } from "../usage/service.js";
import { lookupMeter, type MeterCatalogue, meterCatalogue } from "./meters.js";
import { loadVersions } from "./price-sheets.js";
import { offerCurrencies } from "./repository.js";

type Deps = Pick<Services, "store" | "clock" | "catalog" | "logger" | "metrics" | "config">;

/** The most a usage preview may cover: a year of billing periods. */
const MAX_WINDOW_MS = 366 * DAY;

/** The currency to rate in: the one asked for, else the offer's only one. */
export async function resolveCurrency(
  deps: Pick<Deps, "store">,
  offer: OfferRow,
  asked?: string,
): Promise<string> {
  const have = await offerCurrencies(deps.store.db, offer.id);
  if (asked !== undefined) {
    const c = asked.toUpperCase();
    if (!have.includes(c))
      throw invalid(
        "currency",
        `offer '${offer.id}' has no ${c} price sheet${have.length ? `; it is priced in ${have.join(", ")}` : ""}`,
      );
    return c;
  }
  if (have.length === 1) return have[0]!;
  if (have.length === 0) throw invalid("offerId", `offer '${offer.id}' has no price sheet yet`);
  throw invalid("currency", `offer '${offer.id}' is priced in ${have.join(", ")}; say which`);
}

export interface RatePeriodJson {
  periodStart: string;
  periodEnd: string;
  chargedFrom: string;
  chargedUntil: string;
  termsApplied: boolean;
  termsPriceSheetId: string | null;
  lines: Record<string, unknown>[];
  unpriced: Record<string, unknown>[];
  adjustments: Record<string, unknown>[];
  usageAmount: string;
  adjustmentsAmount: string;
  total: string;
}

export interface RateAnswer {
  offerId: string;
  currency: string;
  subscriptionId: string | null;
  markup: { scope: string; percent: string } | null;
  rounding: string;
  /** Usage mode: usage reported up to this instant is included (later usage can still arrive). */
  usageClosedUntil: string | null;
  periods: RatePeriodJson[];
  total: string;
  /** False when some usage had no price (listed in `unpriced`): the total leaves it out. */
  complete: boolean;
}

function adjustmentJson(
  a: Adjustment,
  currency: string,
  meterName: (id: string) => string,
): Record<string, unknown> {
  const m = (d: Dec) => formatMoney(d, currency);
  switch (a.kind) {
    case "recurringCharge":
      return {
        kind: a.kind,
        description: "Recurring Charge",
        priceSheetId: a.priceSheetId,
        amount: m(a.amount),
      };
    case "commitmentDiscount":
      return {
        kind: a.kind,
        description: `Monetary Commitment: ${decimalText(a.percent)} % off ${meterName(a.meterId)}`,
        priceSheetId: a.priceSheetId,
        meterId: a.meterId,
        percent: decimalText(a.percent),
        base: m(a.base),
        amount: m(a.amount),
      };
    case "commitmentShortfall":
      return {
        kind: a.kind,
        description: "Monetary Commitment: eligible usage below the committed amount",
        priceSheetId: a.priceSheetId,
        committedAmount: m(a.committedAmount),
        eligibleAmount: m(a.eligibleAmount),
        amount: m(a.amount),
      };
    case "credit":
      return {
        kind: a.kind,
        description: "Monetary Credit",
        priceSheetId: a.priceSheetId,
        credit: m(a.credit),
        amount: m(a.amount),
        unused: m(a.unused),
      };
  }
}

/** A rating result in the API's JSON shape: exact decimal strings, money in minor units, ISO times. */
export function resultJson(
  r: RatingResult,
  versions: readonly PriceSheetVersion[],
  cat: MeterCatalogue,
  chargedUntil: number,
  withSubscription: boolean,
): RatePeriodJson {
  const c = r.currency;
  const effective = new Map(versions.map((v) => [v.id, formatEffectiveDate(v.effectiveFrom)]));
  const meter = (id: string) => lookupMeter(cat, id);
  const sub = (id: string) => (withSubscription ? { subscriptionId: id } : {});
  return {
    periodStart: toIso(r.period.start),
    periodEnd: toIso(r.period.end),
    chargedFrom: toIso(r.chargeFrom),
    chargedUntil: toIso(chargedUntil),
    termsApplied: r.termsApplied,
    termsPriceSheetId: r.termsPriceSheetId,
    lines: r.lines.map((l) => ({
      ...sub(l.subscriptionId),
      meterId: l.meterId,
      meterName: meter(l.meterId)?.name ?? "",
      unit: meter(l.meterId)?.unit ?? "",
      priceSheetId: l.priceSheetId,
      effectiveDate: effective.get(l.priceSheetId) ?? formatEffectiveDate(l.effectiveFrom),
      tier: l.tier,
      quantity: formatQuantity(l.quantity),
      listUnitPrice: decimalText(l.listUnitPrice),
      unitPrice: decimalText(l.unitPrice),
      amount: formatMoney(l.amount, c),
      currency: c,
      usageStart: toIso(l.usageStart),
      usageEnd: toIso(l.usageEnd),
    })),
    unpriced: r.unpriced.map((u) => ({
      ...sub(u.subscriptionId),
      meterId: u.meterId,
      meterName: meter(u.meterId)?.name ?? "",
      quantity: formatQuantity(u.quantity),
      reason: u.reason,
      priceSheetId: u.priceSheetId,
      usageStart: toIso(u.usageStart),
      usageEnd: toIso(u.usageEnd),
    })),
    adjustments: r.adjustments.map((a) => adjustmentJson(a, c, (id) => meter(id)?.name ?? id)),
    usageAmount: formatMoney(r.usageAmount, c),
    adjustmentsAmount: formatMoney(r.adjustmentsAmount, c),
    total: formatMoney(r.total, c),
  };
}

function answer(
  base: Omit<RateAnswer, "periods" | "total" | "complete">,
  results: RatingResult[],
  periods: RatePeriodJson[],
): RateAnswer {
  const total = results.reduce((s, r) => s.plus(r.total), ZERO);
  return {
    ...base,
    periods,
    total: formatMoney(total, base.currency),
    complete: results.every((r) => r.unpriced.length === 0),
  };
}

const markupJson = (m: Markup | undefined) =>
  m ? { scope: m.scope, percent: decimalText(m.percent) } : null;

/**
 * Prices hypothetical quantities as if they were a billing period's only usage, consumed at `at`:
 * each quantity is priced from the first tier (after the included quantity), with the version in
 * force at `at`; the period's terms apply unless `applyTerms` is false.
 */
export async function rateQuantities(
  deps: Deps,
  input: {
    offer: OfferRow;
    currency?: string;
    quantities: readonly { meterId: string; quantity: string }[];
    at?: number;
    applyTerms: boolean;
    subscriptionId?: string;
    markup?: Markup;
  },
): Promise<RateAnswer> {
  const cat = await meterCatalogue(deps.store.db);
  const currency = await resolveCurrency(deps, input.offer, input.currency);
  const at = input.at ?? deps.clock.now();
  const period = monthRange(at);
  const problems: { field: string; reason: string }[] = [];
  const usage: UsageQuantity[] = [];
  input.quantities.forEach((q, i) => {
    const meter = lookupMeter(cat, q.meterId);
    const quantity = parseQuantity(q.quantity);
    if (!meter)
      problems.push({ field: `quantities[${i}].meterId`, reason: "is not a meter of the catalogue" });
    if (typeof quantity === "string") problems.push({ field: `quantities[${i}].quantity`, reason: quantity });
    if (meter && typeof quantity !== "string")
      usage.push({
        subscriptionId: input.subscriptionId ?? "",
        meterKey: meter.key,
        meterId: meter.id,
        start: at,
        end: at,
        quantity,
      });
  });
  if (problems.length)
    throw new DomainError("ValidationFailed", `${problems[0]!.field}: ${problems[0]!.reason}`, problems);
  const { versions } = await loadVersions(deps.store.db, cat, input.offer.id, currency);
  const r = rate({
    currency,
    period,
    versions,
    usage,
    applyTerms: input.applyTerms,
    rounding: deps.config.rounding,
    ...(input.markup ? { markup: input.markup } : {}),
  });
  return answer(
    {
      offerId: input.offer.id,
      currency,
      subscriptionId: input.subscriptionId ?? null,
      markup: markupJson(input.markup),
      rounding: deps.config.rounding,
      usageClosedUntil: null,
      // The quantities are the period's; shown as charged at `at`.
    },
    [r],
    [
      {
        ...resultJson(r, versions, cat, period.end, input.subscriptionId !== undefined),
        chargedFrom: toIso(at),
      },
    ],
  );
}

/**
 * Prices a subscription's usage in the usage-time window [from, to) (UTC midnights), billing
 * period by billing period. Within a period, usage from the period's start counts towards tiers
 * and included quantities (graduation is period-to-date) but only usage inside the window is
 * charged; the period's offer terms apply when the window covers the whole period. Usage is what
 * has been reported and aggregated so far (`usageClosedUntil`).
 */
export async function rateSubscriptionUsage(
  deps: Deps,
  input: {
    subscription: SubscriptionRow;
    offer: OfferRow;
    currency?: string;
    from: number;
    to: number;
    markup?: Markup;
  },
): Promise<RateAnswer> {
  const { from, to } = input;
  if (from % DAY !== 0) throw invalid("from", "must be a UTC midnight (usage is rated by day)");
  if (to % DAY !== 0) throw invalid("to", "must be a UTC midnight (usage is rated by day)");
  if (to <= from) throw invalid("to", "must be after from");
  if (to - from > MAX_WINDOW_MS) throw invalid("to", "the window may cover at most 366 days");
  const cat = await meterCatalogue(deps.store.db);
  const currency = await resolveCurrency(deps, input.offer, input.currency);
  const { versions } = await loadVersions(deps.store.db, cat, input.offer.id, currency);
  const closed = await closedUntil(deps, deps.clock.now());
  const results: RatingResult[] = [];
  const periods: RatePeriodJson[] = [];
  for (let p = monthRange(from); p.start < to; p = monthRange(p.end)) {
    const until = Math.min(to, p.end);
    const r = await ratePeriod(deps, {
      subscriptions: [input.subscription],
      currency,
      period: p,
      versions,
      chargeFrom: Math.max(from, p.start),
      chargeUntil: until,
      applyTerms: from <= p.start && to >= p.end,
      ...(input.markup ? { markup: input.markup } : {}),
    });
    results.push(r);
    periods.push(resultJson(r, versions, cat, until, true));
  }
  return answer(
    {
      offerId: input.offer.id,
      currency,
      subscriptionId: input.subscription.id,
      markup: markupJson(input.markup),
      rounding: deps.config.rounding,
      usageClosedUntil: toIso(closed),
    },
    results,
    periods,
  );
}

/**
 * Rates the usage of some subscriptions on one offer in one billing period, pooled: tiers and
 * included quantities count their usage together, in usage-day order (then subscription id), as
 * the engine documents. This is the entry point billing uses per billing account and period (one
 * call per offer among the account's subscriptions); the preview uses it per subscription. Usage
 * from the period's start to `chargeUntil` is read; before `chargeFrom` it only advances tiers.
 */
export async function ratePeriod(
  deps: Deps,
  input: {
    subscriptions: readonly Pick<SubscriptionRow, "id" | "seq">[];
    currency: string;
    period: { start: number; end: number };
    versions: readonly PriceSheetVersion[];
    chargeFrom?: number;
    chargeUntil?: number;
    applyTerms: boolean;
    markup?: Markup;
  },
): Promise<RatingResult> {
  const usage = await periodUsage(
    deps,
    input.subscriptions,
    input.period.start,
    input.chargeUntil ?? input.period.end,
  );
  return rate({
    currency: input.currency,
    period: input.period,
    versions: input.versions,
    usage,
    applyTerms: input.applyTerms,
    rounding: deps.config.rounding,
    ...(input.chargeFrom !== undefined ? { chargeFrom: input.chargeFrom } : {}),
    ...(input.markup ? { markup: input.markup } : {}),
  });
}

/** Subscriptions' usage per meter and usage day in [from, to), from the daily aggregates. */
async function periodUsage(
  deps: Deps,
  subs: readonly Pick<SubscriptionRow, "id" | "seq">[],
  from: number,
  to: number,
): Promise<UsageQuantity[]> {
  const ids = new Map(subs.map((s) => [Number(s.seq), s.id]));
  const out: UsageQuantity[] = [];
  const q = {
    basis: "usage" as const,
    granularity: "daily" as const,
    from,
    to,
    subscriptionSeqs: [...ids.keys()].sort((a, b) => a - b),
    groupBy: "meter" as const,
  };
  let after: RowKey | null = null;
  for (;;) {
    const rows = await fetchAggregates(deps.store, q, after, 5000);
    for (const r of rows) {
      const meter = await deps.catalog.meterBySeq(r.key[2]);
      if (!meter) continue;
      out.push({
        subscriptionId: ids.get(r.key[0]) ?? "",
        meterKey: meter.key,
        meterId: meter.id,
        start: r.key[1],
        end: r.key[1] + DAY,
        quantity: joinQuantity(r.units, r.frac),
      });
    }
    if (rows.length < 5000) return out;
    after = rows.at(-1)!.key;
  }
}
