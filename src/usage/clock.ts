import { type Kysely, sql } from "kysely";
import type { DB } from "../storage/schema.js";

/** tally's usage watermarks (see docs/metering.md). */
export interface UsageClock {
  /** No live record can be stamped before this instant any more. */
  sealedUntil: number;
  /** Reported hours before this are aggregated: their answers are final. */
  closedUntil: number;
  /** The earliest reported instant any answer has covered, if any. */
  answeredFrom: number | null;
  /** When the first live record was stamped, if any. */
  firstLiveAt: number | null;
}

export async function readUsageClock(db: Kysely<DB>): Promise<UsageClock> {
  const rows = await db.selectFrom("usage_clock").select(["name", "value"]).execute();
  const v = new Map(rows.map((r) => [r.name, r.value === null ? null : Number(r.value)]));
  return {
    sealedUntil: v.get("sealed_until") ?? 0,
    closedUntil: v.get("rolled_up_until") ?? 0,
    answeredFrom: v.get("answered_from") ?? null,
    firstLiveAt: v.get("first_live_at") ?? null,
  };
}

/**
 * Records that an answer covered reported time from `from` on, so that a history import can never
 * change it afterwards. Only ever lowers the value; a no-op when it is already that low.
 */
export async function noteAnswered(db: Kysely<DB>, from: number): Promise<void> {
  await sql`update usage_clock set value = ${from}
    where name = 'answered_from' and (value is null or value > ${from})`.execute(db);
}
