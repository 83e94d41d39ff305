import type { Actor } from "../audit/repository.js";
import { nextPeriod, periodBounds } from "../domain/billing/invoice.js";
import { monthOf } from "../domain/time.js";
import { type Loop, startLoop } from "../loop.js";
import { acquireLease, leaseOwner, releaseLease } from "../storage/lease.js";
import { closedUntil } from "../usage/service.js";
import { type AccountWork, PriceBook, rateInputs, readInputs } from "./compute.js";
import { type Deps, finalizeInvoice, writeInvoices } from "./invoices.js";
import { resolveAll } from "./resolve.js";

/** Subscriptions' usage read per batch of accounts (one grouped query each). */
const BATCH_SUBSCRIPTIONS = 2_000;
/** Accounts whose invoices are written per transaction. */
const WRITE_ACCOUNTS = 500;

export interface RunFigures {
  periods: { period: string; accounts: number; closed: number }[];
  unbilled: number;
  finalized: number;
}

/** The last period that may be closed at `now`: ended more than the grace ago, usage rolled up past its end. */
export function lastClosablePeriod(now: number, graceMs: number, watermark: number): string | undefined {
  let p = monthOf(now);
  for (let i = 0; i < 3; i++) {
    p = monthOf(periodBounds(p).start - 1);
    const end = periodBounds(p).end;
    if (now >= end + graceMs && watermark >= end) return p;
  }
  return undefined;
}

/**
 * The monthly run: closes every closable period of every account, oldest first, into drafts.
 * Usage is read for many accounts at once (one grouped query per batch), rated in memory, and
 * written with multi-row inserts, many accounts per transaction; `unique (account, period)`
 * keeps it idempotent when a close of the same period races it.
 */
export async function closeAllPeriods(
  deps: Deps,
  actor: Actor,
  opts: {
    upTo?: string;
    onProgress?: (done: number, total: number) => void;
    /** Subscriptions per batch (tests use small batches to run the pipeline over several). */
    batchSubscriptions?: number;
  } = {},
): Promise<RunFigures> {
  const now = deps.clock.now();
  const watermark = await closedUntil(deps, now);
  const last = opts.upTo ?? lastClosablePeriod(now, deps.config.billingCloseGraceMs, watermark);
  const { accounts, byAccount, unbilled } = await resolveAll(deps.store.db);
  const figures: RunFigures = { periods: [], unbilled: unbilled.length, finalized: 0 };
  if (last === undefined || accounts.length === 0) return figures;
  const have = new Set(
    (await deps.store.db.selectFrom("invoices").select(["billing_account_id", "period"]).execute()).map(
      (r) => `${r.billing_account_id}\u0001${r.period}`,
    ),
  );
  const first = accounts.reduce((m, a) => (a.first_period < m ? a.first_period : m), last);
  const todo: { period: string; work: AccountWork[] }[] = [];
  for (let p = first; p <= last; p = nextPeriod(p)) {
    const work = accounts
      .filter((a) => a.first_period <= p && !have.has(`${a.id}\u0001${p}`))
      .map((a) => ({ account: a, subscriptions: byAccount.get(a.id) ?? [] }));
    if (work.length) todo.push({ period: p, work });
  }
  const total = todo.reduce((s, t) => s + t.work.length, 0);
  const book = await PriceBook.load(deps.store); // one price book for the whole run
  const batchSize = opts.batchSubscriptions ?? BATCH_SUBSCRIPTIONS;
  // Batches of accounts of up to BATCH_SUBSCRIPTIONS subscriptions, oldest period first.
  const batches: { period: string; work: AccountWork[]; last: boolean }[] = [];
  for (const { period, work } of todo) {
    for (let i = 0; i < work.length; ) {
      let subs = 0;
      let j = i;
      while (j < work.length && (j === i || subs + work[j]!.subscriptions.length <= batchSize))
        subs += work[j++]!.subscriptions.length;
      batches.push({ period, work: work.slice(i, j), last: j === work.length });
      i = j;
    }
  }
  // A pipeline: the next batch's usage is read (by the database) while this one is rated, and a
  // batch's invoices are written while the next one is rated. Batches of one period are
  // independent (different accounts); a period's writes end before the next period is read.
  const read = (k: number) => {
    const b = batches[k]!;
    const r = readInputs(deps, b.work, b.period, { reportedUntil: periodBounds(b.period).end, book });
    r.catch(() => undefined); // awaited below; not unhandled if an earlier batch fails first
    return r;
  };
  let next = batches.length ? read(0) : undefined;
  let writing: Promise<void> = Promise.resolve();
  let closed = 0;
  let done = 0;
  for (let k = 0; k < batches.length; k++) {
    const b = batches[k]!;
    const inputs = await next!;
    next = k + 1 < batches.length && !b.last ? read(k + 1) : undefined;
    const computed = await rateInputs(deps, inputs);
    await writing;
    writing = (async () => {
      for (let i = 0; i < computed.length; i += WRITE_ACCOUNTS) {
        closed += (await writeInvoices(deps, actor, computed.slice(i, i + WRITE_ACCOUNTS), now)).size;
        done += Math.min(WRITE_ACCOUNTS, computed.length - i);
        opts.onProgress?.(done, total);
      }
    })();
    writing.catch(() => undefined); // awaited below; not unhandled if rating the next batch fails
    if (b.last) {
      await writing;
      figures.periods.push({
        period: b.period,
        accounts: todo.find((t) => t.period === b.period)!.work.length,
        closed,
      });
      closed = 0;
      if (k + 1 < batches.length) next = read(k + 1);
    }
  }
  return figures;
}

/** Finalizes the drafts older than the finalize delay (none when it is `off`). */
export async function finalizeDue(deps: Deps, actor: Actor): Promise<number> {
  const delay = deps.config.billingFinalizeDelayMs;
  if (delay === undefined) return 0;
  const due = await deps.store.db
    .selectFrom("invoices")
    .select(["id", "billing_account_id"])
    .where("status", "=", "draft")
    .where("created_at", "<=", deps.clock.now() - delay)
    .orderBy("created_at")
    .execute();
  for (const d of due) await finalizeInvoice(deps, actor, d.billing_account_id, d.id);
  return due.length;
}

const LEASE = "billing";

/**
 * The billing job of `tally serve`: on one node at a time (a lease), closes every closable period
 * and finalizes the drafts that are due. Audited as the system principal `billing-job`.
 */
export function startBillingLoop(deps: Deps, intervalMs = deps.config.billingIntervalMs): Loop {
  const owner = leaseOwner();
  const actor = { principalId: "billing-job", requestId: `billing-${owner}` };
  const pass = async () => {
    const ttl = Math.max(intervalMs * 4, 10 * 60_000);
    if (!(await acquireLease(deps.store.db, LEASE, owner, deps.clock.now(), ttl))) return;
    try {
      const f = await closeAllPeriods(deps, actor);
      f.finalized = await finalizeDue(deps, actor);
      if (f.periods.length || f.finalized)
        deps.logger.info({ ...f }, "billing job: periods closed and drafts finalized");
    } finally {
      await releaseLease(deps.store.db, LEASE, owner).catch(() => undefined);
    }
  };
  return startLoop(deps.logger, "billing job pass failed", intervalMs, pass);
}
