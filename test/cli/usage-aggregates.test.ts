import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../../src/cli/client.js";
import { loadConfig } from "../../src/config.js";
import { buildApp } from "../../src/http/app.js";
import type { App } from "../../src/http/types.js";
import { localCli, runTally } from "../cli-helpers.js";
import { guid, POSTGRES_URL } from "../helpers.js";

/**
 * `tally usage aggregates` in-process, as `tally …` runs it (real clock, local database as the
 * operator, or a server with --server), over a day of history imported two days back.
 */
const cli = localCli("cliagg");
const run = runTally;

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const start = new Date(today - 3 * DAY).toISOString();
const end = new Date(today - 2 * DAY).toISOString();
const SUB = guid(0x5a);
const DIR = guid(0xd5);
// 1,500 VMs, a quantity each with ten fractional digits.
const quantity = (vm: number) => `${vm}.${String(vm * 7919).padStart(10, "0")}`;
const total = Array.from({ length: 1500 }, (_, vm) => quantity(vm))
  .reduce((s, q) => s.plus(q), new Decimal(0))
  .toFixed();

describe(`tally usage aggregates (${POSTGRES_URL ? "PostgreSQL" : "SQLite"})`, () => {
  beforeAll(async () => {
    await cli.setUp();
    expect((await run("migrate")).code).toBe(0);
    const client = await LocalClient.open(loadConfig());
    try {
      await client.request("POST", "/api/v1/directories", { id: DIR, displayName: "CLI" });
      await client.request("POST", "/api/v1/subscriptions", {
        id: SUB,
        displayName: "CLI",
        directoryId: DIR,
      });
      const usageStart = today - 3 * DAY + 3_600_000;
      await client.request(
        "POST",
        "/api/v1/usage-imports",
        Array.from({ length: 1500 }, (_, vm) => ({
          id: `cli-${vm}`,
          subscriptionId: SUB,
          meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
          quantity: quantity(vm),
          usageStartTime: new Date(usageStart).toISOString(),
          usageEndTime: new Date(usageStart + 3_600_000).toISOString(),
          resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${vm}`,
          location: "local",
          reportedTime: new Date(usageStart + 3_600_000).toISOString(),
        })),
      );
    } finally {
      await client.close();
    }
  });
  afterAll(async () => {
    await cli.tearDown();
  });

  const window = ["--reported-start", start, "--reported-end", end];

  it("prints one page as JSON with exact quantities, then continues with the token", async () => {
    const first = await run("--json", "usage", "aggregates", ...window, "--subscription", SUB);
    expect(first.code, first.err).toBe(0);
    const page1 = JSON.parse(first.out) as { properties: { quantity: number } }[];
    expect(page1).toHaveLength(1000);
    const token = /more: --continuation-token (\S+)/.exec(first.err)?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = await run(
      "--json",
      "usage",
      "aggregates",
      ...window,
      "--subscription",
      SUB,
      "--continuation-token",
      token!,
    );
    expect(second.code, second.err).toBe(0);
    expect(JSON.parse(second.out)).toHaveLength(500);
    expect(second.err).not.toContain("more:");
    // Every digit as the server sent it: the JSON numbers are printed from their text, not from doubles.
    const printed = [...(first.out + second.out).matchAll(/"quantity": ([0-9.]+),/g)].map((m) => m[1]).sort();
    const want = Array.from({ length: 1500 }, (_, vm) => new Decimal(quantity(vm)).toFixed()).sort();
    expect(printed).toEqual(want);
  });

  it("follows every page with --all, as CSV, and totals exactly", async () => {
    const r = await run("usage", "aggregates", ...window, "--subscription", SUB, "--all", "--csv");
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toBe(
      "subscriptionId,meterId,usageStartTime,usageEndTime,quantity,resourceUri,location,tags,additionalInfo",
    );
    expect(lines).toHaveLength(1501);
    const quantities = lines.slice(1).map((l) => l.split(",")[4]!);
    expect(quantities.reduce((s, q) => s.plus(q), new Decimal(0)).toFixed()).toBe(total);
    expect(lines[1]).toContain(`,local,,`);
  });

  it("defaults to the operator API on the operator's provider subscription, as a table", async () => {
    const r = await run("usage", "aggregates", ...window, "--all");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/SUBSCRIPTION.*METER.*USAGE START.*QUANTITY/);
    expect(r.out.split(SUB).length - 1).toBe(1500);
    const one = await run(
      "--json",
      "usage",
      "aggregates",
      ...window,
      "--subscriber",
      SUB,
      "--granularity",
      "Hourly",
    );
    expect(one.code, one.err).toBe(0);
    expect(JSON.parse(one.out)[0].name).toContain("-Hourly_");
  });

  it("talks to a server with --server and --token", async () => {
    const client = await LocalClient.open(loadConfig());
    const app: App = await buildApp(client.svc);
    try {
      const url = await app.listen({ port: 0, host: "127.0.0.1" });
      const token = await client.svc.tokens.sign({
        subject: client.svc.system.operatorPrincipalId,
        ttlMs: 600_000,
      });
      const r = await run(
        "--server",
        url,
        "--token",
        token,
        "--json",
        "usage",
        "aggregates",
        ...window,
        "--subscription",
        SUB,
        "--all",
      );
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toHaveLength(1500);
    } finally {
      await app.close();
      await client.close();
    }
  });

  it("reports the server's refusals and its own usage errors", async () => {
    const bad = await run("usage", "aggregates", ...window, "--subscription", SUB, "--granularity", "Weekly");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("InvalidAggregationGranularity");
    const open = await run(
      "usage",
      "aggregates",
      "--reported-start",
      start,
      "--reported-end",
      new Date(today + 2 * DAY).toISOString(),
      "--subscription",
      SUB,
    );
    expect(open.code).toBe(1);
    expect(open.err).toContain("RequestEndTimeIsInFuture");
    expect(
      (await run("usage", "aggregates", ...window, "--subscription", SUB, "--subscriber", SUB)).code,
    ).toBe(2);
    expect((await run("usage", "aggregates", ...window, "--all", "--continuation-token", "x")).code).toBe(2);
    expect((await run("usage", "aggregates", "--reported-start", start)).code).toBe(2);
  });
});
