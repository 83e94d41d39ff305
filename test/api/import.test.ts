import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIALECTS, openTestApp, type TestApp } from "../helpers.js";
import { H, ingest, makeWorld, record, setClock, T0, usage, usageAll, type World } from "../usage-helpers.js";

const iso = (t: number) => new Date(t).toISOString();
const D = 24 * H;

describe.each(DIALECTS)("history import on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  const post = (body: unknown, contentType = "application/json") =>
    t.app.inject({
      method: "POST",
      url: "/api/v1/usage-imports",
      headers: { ...t.op, "content-type": contentType },
      payload: typeof body === "string" ? body : JSON.stringify(body),
    });
  const hist = (id: string, start: number, reported: number, extra: Record<string, unknown> = {}) => ({
    ...record({ id, sub: w.subA, quantity: "2.5", start }),
    reportedTime: iso(reported),
    ...extra,
  });

  beforeAll(async () => {
    t = await openTestApp(dialect);
    w = await makeWorld(t);
    setClock(t, T0 + 10 * D + 12 * H);
  });
  afterAll(async () => t.cleanup());

  it("imports records with their own reported times, once, validated like live ingest, aggregated at once", async () => {
    const recs = [
      hist("h-1", T0 + 3 * H, T0 + 4 * H + 5 * 60_000),
      hist("h-2", T0 + 3 * H, T0 + 28 * H, { sourceId: "compute" }),
    ];
    const r = await post(recs);
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ inserted: 2, duplicates: 0, importId: expect.any(String) });
    expect((await post(recs)).json()).toMatchObject({ inserted: 0, duplicates: 2 });
    // A second import adding to the same reported hour adds to its aggregates.
    expect(
      (await post([hist("h-3", T0 + 3 * H, T0 + 4 * H + 30 * 60_000, { resourceUri: recs[0]!.resourceUri })]))
        .statusCode,
    ).toBe(201);
    await validation();
    const hour4 = await usageAll(t, { from: iso(T0 + 4 * H), to: iso(T0 + 5 * H) });
    expect(hour4.map((i) => [i.usageStartTime, i.quantity])).toEqual([[iso(T0 + 3 * H), "5"]]);
    const day1 = await usageAll(t, { from: iso(T0 + D), to: iso(T0 + 2 * D), granularity: "daily" });
    expect(day1.map((i) => [i.usageStartTime, i.quantity])).toEqual([[iso(T0), "2.5"]]);
    const list = await t.app.inject({ url: "/api/v1/usage-imports", headers: t.op });
    expect(list.json().items).toHaveLength(3);
    const counts = list
      .json()
      .items.map((i: { inserted: number; duplicates: number }) => `${i.inserted}/${i.duplicates}`);
    expect(counts.sort()).toEqual(["0/2", "1/0", "2/0"]);
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .selectAll()
      .where("action", "=", "usage/import")
      .execute();
    expect(audit).toHaveLength(3);
  });

  // Runs before anything queries the imported hours (a query closes them to imports).
  async function validation() {
    const nd = [
      JSON.stringify(hist("v-1", T0 + 5 * H, T0 + 6 * H)),
      JSON.stringify(hist("v-2", T0 + 5 * H, T0 + 6 * H, { sourceId: "nobody" })),
      JSON.stringify({ ...hist("v-3", T0 + 5 * H, T0 + 6 * H), reportedTime: undefined }),
    ].join("\n");
    const r = await post(nd, "application/x-ndjson");
    expect(r.statusCode).toBe(400);
    expect(r.json().error.details).toEqual([
      { index: 2, line: 3, field: "reportedTime", reason: "is required" },
      { index: 1, line: 2, field: "sourceId", reason: "source 'nobody' does not exist" },
    ]);
    const early = await post([hist("v-4", T0 + 6 * H, T0 + 5 * H)]);
    expect(early.json().error.details[0]).toMatchObject({
      field: "usageStartTime",
      reason: "must not be after reportedTime",
    });
    const conflict = await post([{ ...hist("h-1", T0 + 3 * H, T0 + 4 * H + 5 * 60_000), quantity: "9" }]);
    expect(conflict.statusCode).toBe(409);
  }

  it("never reaches an open hour, live usage, or reported time already answered", async () => {
    // A fresh store: the first test's queries already closed its early hours to imports.
    await t.cleanup();
    t = await openTestApp(dialect);
    w = await makeWorld(t);
    setClock(t, T0 + 10 * D + 12 * H);
    // Not closed yet: the current hour.
    const open = await post([hist("x-1", T0 + 10 * D + 11 * H, T0 + 10 * D + 12 * H)]);
    expect(open.statusCode).toBe(400);
    expect(open.json().error.details[0].reason).toMatch(/must be before .*not closed yet/);
    // Live usage starts at day 10 12:00; hours from then on are the live system's.
    await ingest(t, w.apiKey, [
      record({ id: "live-1", sub: w.subB, quantity: 1, start: T0 + 10 * D + 11 * H }),
    ]);
    setClock(t, T0 + 10 * D + 15 * H);
    const afterLive = await post([hist("x-2", T0 + 10 * D + 12 * H, T0 + 10 * D + 13 * H)]);
    expect(afterLive.json().error.details[0].reason).toMatch(
      /must be before 2026-12-03T12:00:00.000Z: imports may not reach the first hour with live usage/,
    );
    // Someone asks about reported hour day 5 12:00: from then on nothing may change.
    expect(
      (await usage(t, { from: iso(T0 + 5 * D + 12 * H), to: iso(T0 + 5 * D + 13 * H) })).statusCode,
    ).toBe(200);
    const answered = await post([hist("x-3", T0 + 6 * D, T0 + 6 * D + H)]);
    expect(answered.statusCode).toBe(400);
    expect(answered.json().error.details[0].reason).toMatch(/already answered/);
    // Before that, history can still be added.
    expect((await post([hist("x-4", T0 + 5 * D, T0 + 5 * D + H)])).statusCode).toBe(201);
  });
});
