import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIALECTS, openTestApp, type TestApp } from "../helpers.js";
import {
  BLOB_CAPACITY,
  DISK_BYTES,
  H,
  ingest,
  makeWorld,
  record,
  STATIC_IP,
  setClock,
  T0,
  usageAll,
  type World,
} from "../usage-helpers.js";

describe.each(DIALECTS)("usage ingest on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  const count = async () =>
    Number(
      (
        await t.svc.store.db
          .selectFrom("usage_records")
          .select((eb) => eb.fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await openTestApp(dialect, {
      env: { TALLY_INGEST_MAX_BYTES: "64KiB", TALLY_INGEST_MAX_RECORDS: "50" },
    });
    w = await makeWorld(t);
    setClock(t, T0 + 12 * H + 30 * 60_000);
  });
  afterAll(async () => t.cleanup());

  it("accepts a JSON array, {records: [...]} and NDJSON", async () => {
    const a = await ingest(t, w.apiKey, [
      record({ id: "fmt-1", sub: w.subA, quantity: 1, start: T0 + 10 * H }),
    ]);
    expect(a.statusCode).toBe(200);
    expect(a.json()).toEqual({ inserted: 1, duplicates: 0 });
    const b = await ingest(t, w.apiKey, {
      records: [record({ id: "fmt-2", sub: w.subA, quantity: 1, start: T0 + 10 * H })],
    });
    expect(b.json()).toEqual({ inserted: 1, duplicates: 0 });
    const nd = [
      record({ id: "fmt-3", sub: w.subA, quantity: 1, start: T0 + 10 * H }),
      record({ id: "fmt-4", sub: w.subB, quantity: 2, start: T0 + 10 * H }),
    ]
      .map((r) => JSON.stringify(r))
      .join("\n");
    const c = await ingest(t, w.apiKey, `${nd}\n\n`, "application/x-ndjson");
    expect(c.json()).toEqual({ inserted: 2, duplicates: 0 });
  });

  it("counts re-sent records once, across batches and within a batch", async () => {
    const recs = [1, 2, 3].map((i) =>
      record({ id: `dup-${i}`, sub: w.subA, quantity: "0.5", start: T0 + 11 * H, vm: `vm${i}` }),
    );
    expect((await ingest(t, w.apiKey, recs)).json()).toEqual({ inserted: 3, duplicates: 0 });
    const before = await count();
    expect((await ingest(t, w.apiKey, recs)).json()).toEqual({ inserted: 0, duplicates: 3 });
    expect((await ingest(t, w.apiKey, [...recs, recs[0]])).json()).toEqual({ inserted: 0, duplicates: 4 });
    const mixed = [
      recs[1],
      record({ id: "dup-4", sub: w.subA, quantity: "0.5", start: T0 + 11 * H }),
      record({ id: "dup-4", sub: w.subA, quantity: "0.5", start: T0 + 11 * H }),
    ];
    expect((await ingest(t, w.apiKey, mixed)).json()).toEqual({ inserted: 1, duplicates: 2 });
    expect(await count()).toBe(before + 1);
    // Key order of tags does not make a different record.
    const tagged = record({
      id: "dup-5",
      sub: w.subA,
      quantity: 1,
      start: T0 + 11 * H,
      tags: { a: "1", b: "2" },
    });
    await ingest(t, w.apiKey, [tagged]);
    const reordered = { ...tagged, tags: { b: "2", a: "1" } };
    expect((await ingest(t, w.apiKey, [reordered])).json()).toEqual({ inserted: 0, duplicates: 1 });
  });

  it("rejects an id re-sent with different content with 409 and the conflicting indexes, storing nothing", async () => {
    await ingest(t, w.apiKey, [record({ id: "c-1", sub: w.subA, quantity: 1, start: T0 + 11 * H })]);
    const before = await count();
    const r = await ingest(t, w.apiKey, [
      record({ id: "c-new", sub: w.subA, quantity: 1, start: T0 + 11 * H }),
      record({ id: "c-1", sub: w.subA, quantity: 2, start: T0 + 11 * H }),
    ]);
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe("Conflict");
    expect(r.json().error.conflicts).toEqual([1]);
    expect(await count()).toBe(before);
    const inBatch = await ingest(t, w.apiKey, [
      record({ id: "c-2", sub: w.subA, quantity: 1, start: T0 + 11 * H }),
      record({ id: "c-3", sub: w.subA, quantity: 1, start: T0 + 11 * H }),
      record({ id: "c-2", sub: w.subA, quantity: 3, start: T0 + 11 * H }),
    ]);
    expect(inBatch.statusCode).toBe(409);
    expect(inBatch.json().error.conflicts).toEqual([0, 2]);
    expect(await count()).toBe(before);
  });

  it("rejects a batch with invalid records, naming every one by index, field and reason", async () => {
    const before = await count();
    const good = record({ id: "v-ok", sub: w.subA, quantity: 1, start: T0 + 11 * H });
    const r = await ingest(t, w.apiKey, [
      good,
      { ...good, id: "v-1", quantity: -1 },
      record({ id: "v-2", sub: "00000000-0000-4000-8000-00000000dead", quantity: 1, start: T0 + 11 * H }),
      { ...good, id: "v-3", meterId: "00000000-0000-4000-8000-00000000beef" },
      { ...good, id: "v-4", usageStartTime: "2026-02-30T00:00:00Z" },
      { ...good, id: "v-5", usageStartTime: "2026-11-23T10:00:00", usageEndTime: "2026-11-23T11:00:00Z" },
      { ...good, id: "v-6", usageStartTime: "2026-11-23T10:30:00Z", usageEndTime: "2026-11-23T11:30:00Z" },
      { ...good, id: "v-7\u0001" },
      { ...good, id: "v-8", resourceUri: "/subscriptions/someone-else/x" },
      { ...good, id: "v-9", quantity: "1e999999" },
      { ...good, id: "v-10", quantity: "0.00000000001" },
      { ...good, id: "v-11", usageStartTime: "2026-11-23T10:00:60Z" },
      { ...good, id: "v-12", colour: "red" },
      { ...good, id: "v-13", usageStartTime: "2027-01-01T00:00:00Z", usageEndTime: "2027-01-01T01:00:00Z" },
      "not an object",
      { ...good, id: "" },
    ]);
    expect(r.statusCode).toBe(400);
    const body = r.json().error;
    expect(body.code).toBe("ValidationFailed");
    expect(body.message).toMatch(/15 of 16 record\(s\) are invalid; nothing was stored/);
    const by = (i: number) =>
      body.details
        .filter((d: { index: number }) => d.index === i)
        .map((d: { field: string; reason: string }) => `${d.field}: ${d.reason}`);
    expect(by(0)).toEqual([]);
    expect(by(1)).toEqual(["quantity: must not be negative"]);
    expect(by(2)).toEqual([
      "subscriptionId: subscription '00000000-0000-4000-8000-00000000dead' does not exist",
    ]);
    expect(by(3)).toEqual(["meterId: is not a meter of the catalogue"]);
    expect(by(4)).toEqual(["usageStartTime: day 30 does not exist in 2026-02"]);
    expect(by(5)[0]).toMatch(/^usageStartTime: must be an ISO 8601 date-time with an offset/);
    expect(by(6)).toEqual(["usageEndTime: the usage window may not cross a UTC hour boundary"]);
    expect(by(7)).toEqual(["id: must not contain control characters"]);
    expect(by(8)).toEqual(["resourceUri: must start with /subscriptions/{subscriptionId}/"]);
    expect(by(9)).toEqual(["quantity: exponent is out of range"]);
    expect(by(10)).toEqual(["quantity: has more than 10 fractional digits"]);
    expect(by(11)[0]).toMatch(/leap seconds/);
    expect(by(12)).toEqual(["colour: is not a usage record field"]);
    expect(by(13)).toEqual(["usageStartTime: is in the future"]);
    expect(by(14)).toEqual(["(record): must be a JSON object"]);
    expect(by(15)).toEqual(["id: must not be empty"]);
    expect(await count()).toBe(before);
  });

  it("names the NDJSON line of an invalid record and the position of a JSON syntax error", async () => {
    const good = JSON.stringify(record({ id: "nd-1", sub: w.subA, quantity: 1, start: T0 + 11 * H }));
    const bad = JSON.stringify({
      ...record({ id: "nd-2", sub: w.subA, quantity: 1, start: T0 + 11 * H }),
      quantity: "abc",
    });
    const r = await ingest(t, w.apiKey, `${good}\n\n${bad}\n`, "application/x-ndjson");
    expect(r.statusCode).toBe(400);
    expect(r.json().error.details).toEqual([
      { index: 1, line: 3, field: "quantity", reason: "'abc' is not a decimal number" },
    ]);
    const syntax = await ingest(t, w.apiKey, `${good}\n{"id": "x",\n`, "application/x-ndjson");
    expect(syntax.statusCode).toBe(400);
    expect(syntax.json().error.message).toMatch(/line 2/);
    const broken = await ingest(t, w.apiKey, '[{"id": 1,}]');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.message).toMatch(/not valid JSON.*position|JSON/);
    const nan = await ingest(t, w.apiKey, `[${good.replace('"quantity":1', '"quantity":NaN')}]`);
    expect(nan.statusCode).toBe(400);
  });

  it("bounds body size, record count, tags and additionalInfo", async () => {
    const big = "x".repeat(70 * 1024);
    const tooBig = await ingest(t, w.apiKey, [
      { ...record({ id: "big", sub: w.subA, quantity: 1, start: T0 + 11 * H }), additionalInfo: { big } },
    ]);
    expect(tooBig.statusCode).toBe(413);
    const many = Array.from({ length: 51 }, (_, i) =>
      record({ id: `many-${i}`, sub: w.subA, quantity: 1, start: T0 + 11 * H }),
    );
    const tooMany = await ingest(t, w.apiKey, many);
    expect(tooMany.statusCode).toBe(413);
    expect(tooMany.json().error.message).toMatch(/at most 50 records/);
    let deep: unknown = "leaf";
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const base = record({ id: "deep", sub: w.subA, quantity: 1, start: T0 + 11 * H });
    const r = await ingest(t, w.apiKey, [
      { ...base, additionalInfo: deep },
      { ...base, id: "tags", tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) },
      { ...base, id: "tagv", tags: { owner: 42 } },
      { ...base, id: "arr", additionalInfo: [1, 2] },
    ]);
    expect(r.statusCode).toBe(400);
    expect(r.json().error.details.map((d: { field: string }) => d.field)).toEqual([
      "additionalInfo",
      "tags",
      "tags.owner",
      "additionalInfo",
    ]);
    const wrongType = await ingest(t, w.apiKey, "id=1", "application/x-www-form-urlencoded");
    expect(wrongType.statusCode).toBe(415);
  });

  it("keeps quantities exact: decimal strings, long JSON numbers, 10^15 Byte*hours", async () => {
    const start = T0 + 9 * H;
    const recs = [
      ...Array.from({ length: 10 }, (_, i) =>
        record({ id: `tenth-${i}`, sub: w.subB, meter: STATIC_IP, quantity: 0.1, start, vm: "ip" }),
      ),
      record({ id: "long-1", sub: w.subB, meter: BLOB_CAPACITY, quantity: "0", start, vm: "blob" }),
      record({
        id: "bytes-1",
        sub: w.subB,
        meter: DISK_BYTES,
        quantity: "999999999999999.9999999999",
        start,
        vm: "disk",
      }),
      record({
        id: "bytes-2",
        sub: w.subB,
        meter: DISK_BYTES,
        quantity: "1000000000000000",
        start,
        vm: "disk",
      }),
    ];
    // A JSON number with more significant digits than a double holds: parsed exactly, not rounded.
    const text = JSON.stringify(recs).replace('"quantity":"0"', '"quantity":123456789.1234567891');
    expect((await ingest(t, w.apiKey, text)).json()).toEqual({ inserted: 13, duplicates: 0 });
    // Too many fractional digits as a long JSON number is refused rather than rounded.
    const rounded = JSON.stringify([
      record({ id: "long-2", sub: w.subB, meter: BLOB_CAPACITY, quantity: "0", start }),
    ]).replace('"quantity":"0"', '"quantity":0.123456789012345678');
    const refused = await ingest(t, w.apiKey, rounded);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.details[0].reason).toMatch(/fractional digits/);
    setClock(t, T0 + 13 * H + 60_000);
    const items = await usageAll(t, {
      from: new Date(T0 + 12 * H).toISOString(),
      to: new Date(T0 + 13 * H).toISOString(),
      subscriptionId: w.subB,
    });
    const q = Object.fromEntries(
      items
        .filter((i) => i.usageStartTime === new Date(start).toISOString())
        .map((i) => [i.meterId, i.quantity]),
    );
    expect(q[STATIC_IP]).toBe("1");
    expect(q[BLOB_CAPACITY]).toBe("123456789.1234567891");
    expect(q[DISK_BYTES]).toBe("1999999999999999.9999999999");
  });
});
