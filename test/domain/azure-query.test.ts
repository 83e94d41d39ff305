import { describe, expect, it } from "vitest";
import { Gate, Overloaded } from "../../src/azure-usage/gate.js";
import { PageBuffers, pageJson, quantityText } from "../../src/azure-usage/json.js";
import { decodeToken, encodeToken, type TokenState } from "../../src/azure-usage/token.js";
import {
  formatAzureInstant,
  isQueryProblem,
  onBoundary,
  parseAzureInstant,
  parseGranularity,
  parseRawQuery,
  type RawQuery,
} from "../../src/domain/azure-query.js";
import { formatQuantity, joinQuantity } from "../../src/domain/quantity.js";
import { canonicalAzurePath } from "../../src/http/azure-paths.js";

const at = Date.UTC(2019, 11, 30);

describe("the usage APIs' query string", () => {
  it("keeps a literal + and decodes escapes of either case, matching names case-insensitively", () => {
    const q = parseRawQuery(
      "/x?reportedStartTime=2019-12-30T01:00:00.0000000+01:00&ReportedEndTime=2019-12-31T00%3a00%3A00%2b00%3a00&flag&&api-version=1",
    ) as RawQuery;
    expect(isQueryProblem(q)).toBe(false);
    expect(q.get("reportedstarttime")).toEqual({
      name: "reportedStartTime",
      value: "2019-12-30T01:00:00.0000000+01:00",
    });
    expect(q.get("reportedendtime")?.value).toBe("2019-12-31T00:00:00+00:00");
    expect(q.get("flag")?.value).toBe("");
    expect(q.get("api-version")?.value).toBe("1");
    expect((parseRawQuery("/x") as RawQuery).size).toBe(0);
  });

  it("names the parameter of a malformed escape or of a conflicting repetition", () => {
    expect(parseRawQuery("/x?a=%zz")).toEqual({
      param: "a",
      reason: expect.stringContaining("percent-encoded"),
    });
    expect(parseRawQuery("/x?a=1&A=2")).toEqual({
      param: "A",
      reason: expect.stringContaining("more than once"),
    });
    expect(isQueryProblem(parseRawQuery("/x?a=1&a=1"))).toBe(false);
  });
});

describe("instants as clients send them", () => {
  it("reads every documented and observed form to the same instant", () => {
    for (const s of [
      "2019-12-30T00:00:00.000Z",
      "2019-12-30T00:00:00.0000000Z",
      "2019-12-30T01:00:00.0000000+01:00",
      "2019-12-29T19:00:00.0000000-05:00",
      "2019-12-30T00:00:00+00:00",
      "2019-12-30T00:00:00+00:00Z",
      "2019-12-30T00:00:00",
      "2019-12-30T00:00",
      "2019-12-30",
      "2019-12-30T05:30:00+0530",
      "2019-12-30T01:00:00 01:00",
      "2019-12-30t00:00:00z",
      "2019-12-30T00:00:00,000Z",
    ])
      expect(parseAzureInstant(s), s).toBe(at);
    expect(parseAzureInstant("2015-06-16T18:53:11+00:00Z")).toBe(Date.UTC(2015, 5, 16, 18, 53, 11));
    expect(parseAzureInstant("2019-12-30T00:00:00.123Z")).toBe(at + 123);
  });

  it("refuses impossible values, sub-millisecond precision and other text with a reason", () => {
    for (const [s, reason] of [
      ["2019-02-29T00:00:00Z", "does not exist"],
      ["2019-13-01T00:00:00Z", "month"],
      ["2019-12-30T24:00:00Z", "hour"],
      ["2019-12-30T00:60:00Z", "minute"],
      ["2019-12-30T00:00:60Z", "second"],
      ["2019-12-30T00:00:00+25:00", "offset"],
      ["2019-12-30T00:00:00.0000001Z", "millisecond"],
      ["yesterday", "ISO 8601"],
      ["", "ISO 8601"],
      ["2019-12-30T00:00:00Z extra", "ISO 8601"],
    ] as const)
      expect(parseAzureInstant(s), s).toEqual(expect.stringContaining(reason));
    expect(parseAzureInstant("2020-02-29T00:00:00Z")).toBe(Date.UTC(2020, 1, 29));
  });

  it("checks boundaries in UTC and writes the documented form", () => {
    expect(onBoundary(at, "daily")).toBe(true);
    expect(onBoundary(at + 3_600_000, "daily")).toBe(false);
    expect(onBoundary(at + 3_600_000, "hourly")).toBe(true);
    expect(onBoundary(at + 1, "hourly")).toBe(false);
    expect(onBoundary(parseAzureInstant("2019-12-30T05:30:00+05:30") as number, "hourly")).toBe(true);
    expect(onBoundary(parseAzureInstant("2019-12-30T05:00:00+05:30") as number, "hourly")).toBe(false);
    expect(formatAzureInstant(at + 13 * 3_600_000)).toBe("2019-12-30T13:00:00+00:00");
    expect(parseGranularity(undefined)).toBe("daily");
    expect(parseGranularity("HOURLY")).toBe("hourly");
    expect(parseGranularity(" daily ")).toBe("daily");
    expect(parseGranularity("Weekly")).toBeUndefined();
    expect(parseGranularity("")).toBeUndefined();
  });
});

describe("continuation tokens", () => {
  const secret = Buffer.alloc(32, 7);
  const state: TokenState = {
    api: "operator",
    pathSubscriptionId: "6f1c3a52-8d1e-4c1b-9b7a-2f0e5d4c3b21",
    subscriberId: "00000000-0000-4000-8000-0000000000a1",
    granularity: "hourly",
    from: Date.UTC(2026, 9, 1),
    to: Date.UTC(2026, 10, 1),
    after: [12_345, Date.UTC(2026, 9, 13, 7), 42, 2 ** 40],
  };

  it("round-trips the query and the key, with and without a subscriber", () => {
    const token = encodeToken(secret, state);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeToken(secret, token)).toEqual(state);
    const tenant = {
      ...state,
      api: "tenant" as const,
      subscriberId: undefined,
      granularity: "daily" as const,
    };
    expect(decodeToken(secret, encodeToken(secret, tenant))).toEqual(tenant);
  });

  it("refuses any changed byte, another secret, truncation and junk", () => {
    const token = encodeToken(secret, state);
    const bytes = Buffer.from(token, "base64url");
    for (let i = 0; i < bytes.length; i++) {
      const b = Buffer.from(bytes);
      b[i] = b[i]! ^ 1;
      expect(decodeToken(secret, b.toString("base64url")), `byte ${i}`).toBeUndefined();
    }
    expect(decodeToken(Buffer.alloc(32, 8), token)).toBeUndefined();
    expect(decodeToken(secret, token.slice(0, -2))).toBeUndefined();
    expect(decodeToken(secret, "")).toBeUndefined();
    expect(decodeToken(secret, "a+b/c==")).toBeUndefined();
    expect(decodeToken(secret, "x".repeat(500))).toBeUndefined();
  });
});

describe("usage-API paths", () => {
  it("rewrites the namespace and type to the registered spelling, nothing else", () => {
    const s = "00000000-0000-4000-8000-0000000000A1";
    expect(canonicalAzurePath(`/subscriptions/${s}/providers/microsoft.commerce/usageaggregates?x=1+2`)).toBe(
      `/subscriptions/${s}/providers/Microsoft.Commerce/UsageAggregates?x=1+2`,
    );
    expect(
      canonicalAzurePath(
        `/Subscriptions/${s}/Providers/Microsoft.Commerce.Admin/Locations/../SubscriberUsageAggregates/`,
      ),
    ).toBe(`/subscriptions/${s}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates`);
    expect(
      canonicalAzurePath(`/subscriptions/${s}/providers/microsoft.commerce/ratecard?api-version=1`),
    ).toBe(`/subscriptions/${s}/providers/Microsoft.Commerce/RateCard?api-version=1`);
    const reg = `/subscriptions/${s}/resourceGroups/Rg1/providers/Microsoft.AzureStack/registrations`;
    expect(
      canonicalAzurePath(
        `/subscriptions/${s}/resourcegroups/Rg1/providers/microsoft.azurestack/Registrations`,
      ),
    ).toBe(reg);
    expect(
      canonicalAzurePath(
        `/subscriptions/${s}/RESOURCEGROUPS/Rg1/Providers/Microsoft.AzureStack/registrations/Cloud-1/customersubscriptions/Sub-A?api-version=2017-06-01`,
      ),
    ).toBe(`${reg}/Cloud-1/customerSubscriptions/Sub-A?api-version=2017-06-01`);
    expect(canonicalAzurePath(`${reg}x`)).toBe(`${reg}x`);
    for (const other of [
      "/api/v1/usage?from=x",
      `/subscriptions/${s}/providers/Microsoft.AzureStack/registrations`,
      `/subscriptions/${s}/resourceGroups/rg/providers/Microsoft.Commerce/UsageAggregates`,
      "/s",
      "/",
    ])
      expect(canonicalAzurePath(other)).toBe(other);
  });
});

describe("the usage-API gate", () => {
  it("runs up to the limit, queues up to the queue in order, and sheds the rest", async () => {
    const gate = new Gate(2, 1, 3);
    const releases: (() => void)[] = [];
    const order: number[] = [];
    const job = (n: number) =>
      gate.run(
        () =>
          new Promise<void>((r) => {
            order.push(n);
            releases.push(r);
          }),
      );
    const a = job(1);
    const b = job(2);
    const c = job(3);
    await expect(job(4)).rejects.toBeInstanceOf(Overloaded);
    await expect(job(4)).rejects.toMatchObject({ retryAfterSec: 3 });
    expect([gate.inFlight, gate.queued]).toEqual([2, 1]);
    releases[0]!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([1, 2, 3]);
    expect([gate.inFlight, gate.queued]).toEqual([2, 0]);
    releases[1]!();
    releases[2]!();
    await Promise.all([b, c]);
    expect([gate.inFlight, gate.queued]).toEqual([0, 0]);
    await gate
      .run(async () => {
        throw new Error("boom");
      })
      .catch(() => undefined);
    expect(gate.inFlight).toBe(0);
  });
});

describe("quantity text", () => {
  it("writes summed columns exactly, carrying the fraction, on the fast path and beyond it", () => {
    expect(quantityText("0", "0")).toBe("0");
    expect(quantityText("0", "1")).toBe("0.0000000001");
    expect(quantityText("2", "4000000000")).toBe("2.4");
    expect(quantityText("1", "25000000000")).toBe("3.5");
    expect(quantityText("999999999999999", "19999999999")).toBe("1000000000000000.9999999999");
    expect(quantityText("123456789012345678", "100")).toBe("123456789012345678.00000001");
    let a = 7;
    const next = () => {
      a = (a * 1103515245 + 12345) % 2147483648;
      return a;
    };
    for (let i = 0; i < 2000; i++) {
      const units = String(next() % 10 ** (1 + (i % 15)));
      const frac = String((next() * 7919 + next()) % 10 ** (1 + (i % 14)));
      expect(quantityText(units, frac), `${units} ${frac}`).toBe(formatQuantity(joinQuantity(units, frac)));
    }
  });
});

describe("page text", () => {
  it("writes each item's quantity as quantityText does, into reused page buffers", () => {
    let a = 11;
    const next = () => {
      a = (a * 1103515245 + 12345) % 2147483648;
      return a;
    };
    const cases: [string, string][] = [
      ["0", "0"],
      ["0", "1"],
      ["12", "5000000000"],
      ["1", "25000000000"],
      ["999999999999999", "9999999999"],
      ["123456789012345678", "100"],
      ["5", "123456789012345"],
      ["999999999999999", "99999999999"],
      ["1", "1234567890123456"],
    ];
    for (let i = 0; i < 2000; i++)
      cases.push([
        String(next() % 10 ** (1 + (i % 16))),
        String((next() * 7919 + next()) % 10 ** (1 + (i % 12))),
      ]);
    const buffers = new PageBuffers();
    const sub = "10000001-0000-4000-8000-000000000001";
    const meter = "6dab500f-a4fd-49c4-956d-229bb9c8c793";
    for (let round = 0; round < 2; round++) {
      const body = pageJson(
        {
          rows: cases.map(([units, frac], k) => ({ key: [1, k * 3_600_000, 1, 1], units, frac })),
          subscriptions: new Map([[1, sub]]),
          meters: new Map([[1, meter]]),
          instances: new Map([[1, { json: JSON.stringify('{"a":"ü"}'), tag: "0123456789abcdef" }]]),
        },
        { namespace: "Microsoft.Commerce", granularity: "hourly", nextLink: undefined, buffers },
      );
      const text = body.toString();
      const quantities = [...text.matchAll(/"quantity":([^,]+),/g)].map((m) => m[1]);
      expect(quantities).toEqual(cases.map(([u, f]) => quantityText(u, f)));
      expect(JSON.parse(text).value[0].properties.instanceData).toBe('{"a":"ü"}');
      buffers.give(body);
    }
  });
});
