import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrap } from "../../src/bootstrap.js";
import { RetryableError } from "../../src/domain/errors.js";
import { formatQuantity, joinQuantity, parseQuantity, splitQuantity } from "../../src/domain/quantity.js";
import { openStore } from "../../src/storage/database.js";
import { ConstraintError } from "../../src/storage/errors.js";
import { isMigrated, migrateToLatest } from "../../src/storage/migrate.js";
import { DIALECTS, guid, openTestEnv, POSTGRES_URL, type TestEnv } from "../helpers.js";

describe.each(DIALECTS)("storage contract on %s", (dialect) => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await openTestEnv(dialect);
  });
  afterAll(async () => env.cleanup());

  const db = () => env.svc.store.db;
  const now = Date.UTC(2026, 10, 23, 12);

  it("is migrated, and migrating or bootstrapping again changes nothing", async () => {
    expect(await isMigrated(env.svc.store)).toBe(true);
    expect(await migrateToLatest(env.svc.store)).toEqual([]);
    const again = await bootstrap(env.svc.store, now + 1000);
    expect(again).toEqual(env.svc.system);
    const meters = await db()
      .selectFrom("meters")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(meters.n)).toBe(85);
  });

  it("creates the operator's root provider and default provider subscription on first start", async () => {
    const root = await db().selectFrom("providers").selectAll().where("parent_id", "is", null).execute();
    expect(root).toHaveLength(1);
    expect(root[0]!.subscription_id).toBe(env.svc.system.defaultProviderSubscriptionId);
    const sub = await db()
      .selectFrom("subscriptions")
      .selectAll()
      .where("id", "=", root[0]!.subscription_id)
      .executeTakeFirstOrThrow();
    expect(sub.directory_id).toBe(env.svc.system.operatorDirectoryId);
    const op = await db()
      .selectFrom("principals")
      .selectAll()
      .where("id", "=", env.svc.system.operatorPrincipalId)
      .executeTakeFirstOrThrow();
    expect(op.kind).toBe("operator");
  });

  it("translates unique violations into ConstraintError(unique)", async () => {
    const row = { id: guid(1), display_name: "A", created_at: now, updated_at: now };
    await db().insertInto("directories").values(row).execute();
    const err = await db()
      .insertInto("directories")
      .values(row)
      .execute()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConstraintError);
    expect((err as ConstraintError).kind).toBe("unique");
    expect((err as ConstraintError).code).toBe("AlreadyExists");
  });

  it("translates foreign-key violations into ConstraintError(foreign_key)", async () => {
    const err = await db()
      .insertInto("subscriptions")
      .values({
        id: guid(2),
        display_name: "S",
        directory_id: guid(999),
        provider_id: "operator",
        offer_id: "default",
        state: "Active",
        created_at: now,
        updated_at: now,
        deleted_at: null,
      })
      .execute()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConstraintError);
    expect((err as ConstraintError).kind).toBe("foreign_key");
  });

  it("rolls a failed transaction back whole", async () => {
    const err = await db()
      .transaction()
      .execute(async (trx) => {
        await trx
          .insertInto("directories")
          .values({ id: guid(3), display_name: "B", created_at: now, updated_at: now })
          .execute();
        await trx
          .insertInto("directories")
          .values({ id: guid(1), display_name: "dup", created_at: now, updated_at: now })
          .execute();
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConstraintError);
    expect(
      await db().selectFrom("directories").selectAll().where("id", "=", guid(3)).executeTakeFirst(),
    ).toBeUndefined();
  });

  it("keeps epoch milliseconds and large integers exact", async () => {
    const t = Date.UTC(2099, 11, 31, 23, 59, 59, 999);
    await db()
      .insertInto("directories")
      .values({ id: guid(4), display_name: "T", created_at: t, updated_at: t })
      .execute();
    const r = await db()
      .selectFrom("directories")
      .selectAll()
      .where("id", "=", guid(4))
      .executeTakeFirstOrThrow();
    expect(r.created_at).toBe(t);
    expect(typeof r.created_at).toBe("number");
  });

  it("sums the two quantity columns exactly (0.1 ten times is 1; sums beyond 2^53)", async () => {
    const table = `qsum_${randomBytes(3).toString("hex")}`;
    await sql`create table ${sql.table(table)} (g integer not null, u bigint not null, f bigint not null)`.execute(
      db(),
    );
    const rows: { g: number; u: number; f: number }[] = [];
    const add = (g: number, v: string) => {
      const [u, f] = splitQuantity(parseQuantity(v) as bigint);
      rows.push({ g, u, f });
    };
    for (let i = 0; i < 10; i++) add(1, "0.1");
    for (let i = 0; i < 20; i++) add(2, "999999999999999.9999999999");
    for (const r of rows)
      await sql`insert into ${sql.table(table)} (g, u, f) values (${r.g}, ${r.u}, ${r.f})`.execute(db());
    const sums = await sql<{ g: number; u: string; f: string }>`
      select g, cast(sum(u) as text) as u, cast(sum(f) as text) as f from ${sql.table(table)} group by g order by g`.execute(
      db(),
    );
    const total = sums.rows.map((r) => formatQuantity(joinQuantity(r.u, r.f)));
    expect(total).toEqual(["1", "19999999999999999.999999998"]);
    await sql`drop table ${sql.table(table)}`.execute(db());
  });

  it("keeps the audit log append-only, for the operator too", async () => {
    await db()
      .insertInto("audit_log")
      .values({
        at: now,
        principal_id: "p",
        action: "test/write",
        target: "/x",
        request_id: "r",
        details: null,
      })
      .execute();
    await expect(db().updateTable("audit_log").set({ action: "forged" }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(db().deleteFrom("audit_log").execute()).rejects.toThrow(/append-only/);
  });

  it("reports lock contention or serialization failures as retryable", async () => {
    if (dialect === "sqlite") {
      const other = await openStore({ url: env.config.databaseUrl });
      try {
        other.sqlite!.pragma("busy_timeout = 50");
        env.svc.store.sqlite!.exec("begin immediate");
        const err = await other.db
          .insertInto("meta")
          .values({ key: "contended", value: "x" })
          .execute()
          .catch((e: unknown) => e);
        env.svc.store.sqlite!.exec("rollback");
        expect(err).toBeInstanceOf(RetryableError);
      } finally {
        await other.close();
      }
    } else {
      // Two serializable transactions that each read what the other writes: one must fail with 40001.
      await db().insertInto("meta").values({ key: "ser-a", value: "0" }).execute();
      await db().insertInto("meta").values({ key: "ser-b", value: "0" }).execute();
      const store2 = await openStore({ url: POSTGRES_URL!, schema: env.schema! });
      try {
        const t1 = await env.svc.store.pool!.connect();
        const t2 = await store2.pool!.connect();
        await t1.query("begin isolation level serializable");
        await t2.query("begin isolation level serializable");
        await t1.query("select value from meta where key = 'ser-b'");
        await t2.query("select value from meta where key = 'ser-a'");
        await t1.query("update meta set value = '1' where key = 'ser-a'");
        await t2.query("update meta set value = '1' where key = 'ser-b'");
        await t1.query("commit");
        const { translateDbError } = await import("../../src/storage/errors.js");
        const err = await t2.query("commit").catch((e: unknown) => translateDbError(e));
        t1.release();
        t2.release();
        expect(err).toBeInstanceOf(RetryableError);
      } finally {
        await store2.close();
      }
    }
  });
});
