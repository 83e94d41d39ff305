import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { DB } from "./schema.js";

/**
 * Leases on background jobs, so that when several nodes share a database one of them runs a job at
 * a time (DESIGN §6). A lease is held until `until`; its holder renews it while working, and
 * another node may take it once it has lapsed (its holder died or stalled).
 */
export async function acquireLease(
  db: Kysely<DB>,
  name: string,
  owner: string,
  now: number,
  ttlMs: number,
): Promise<boolean> {
  await db
    .insertInto("job_leases")
    .values({ name, owner, until: 0 })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  // One conditional update: on PostgreSQL the row lock makes exactly one contender win.
  const r = await db
    .updateTable("job_leases")
    .set({ owner, until: now + ttlMs })
    .where("name", "=", name)
    .where((eb) => eb.or([eb("owner", "=", owner), eb("until", "<=", now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function releaseLease(db: Kysely<DB>, name: string, owner: string): Promise<void> {
  await db
    .updateTable("job_leases")
    .set({ until: 0 })
    .where("name", "=", name)
    .where("owner", "=", owner)
    .execute();
}

/** A unique owner name for this process's leases (one per background job or request that takes one). */
export const leaseOwner = (): string => `node-${process.pid}-${randomUUID().slice(0, 8)}`;
