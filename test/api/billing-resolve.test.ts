import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveAll } from "../../src/billing/resolve.js";
import { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { H, VM_BASE } from "../usage-helpers.js";

/**
 * The resolution rule with nested resellers, read three ways that must agree: the monthly run's
 * (`resolveAll`, every subscription at once), an account's subscriptions (`GET …/subscriptions`,
 * one statement per account), and an estimate's usage (the same statement as a subquery).
 */
const iso = (t: number) => new Date(t).toISOString();

describe.each(DIALECTS)("billing resolution with nested resellers on %s", (dialect) => {
  let t: TestApp;
  const [d0, d1] = [guid(0x701), guid(0x702)];
  const s = Array.from({ length: 8 }, (_, i) => guid(0x710 + i));
  const { ok, createAccounts } = operatorCalls(() => t);
  // Where each subscription is, and the account that must bill it (null: unbilled).
  const layout: [sub: string, dir: string, provider: string, billedBy: string | null][] = [
    [s[0]!, d0, "operator", "c0"],
    [s[1]!, d0, "res", "r"],
    [s[2]!, d0, "sub-res", "r2"],
    [s[3]!, d0, "sub-sub", "r2"], // below the nearer reseller, not the outer one
    [s[4]!, d0, "other", "c0"], // a delegated provider without a reseller account
    [s[5]!, d1, "res", "r"],
    [s[6]!, d1, "operator", null],
    [s[7]!, d0, "sub-res", "c0"], // assigned explicitly below
  ];

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(Date.UTC(2026, 10, 20, 12)) });
    for (const id of [d0, d1]) await ok("POST", "/api/v1/directories", { id, displayName: id });
    for (const [id, parentId] of [
      ["res", undefined],
      ["sub-res", "res"],
      ["sub-sub", "sub-res"],
      ["other", undefined],
    ] as const)
      await ok("POST", "/api/v1/providers", { id, displayName: id, ...(parentId ? { parentId } : {}) });
    for (const [sub, directoryId, providerId] of layout)
      await ok("POST", "/api/v1/subscriptions", {
        id: sub,
        displayName: sub.slice(-4),
        directoryId,
        ...(providerId === "operator" ? {} : { providerId }),
      });
    await createAccounts([
      ["c0", { kind: "customer", directoryId: d0 }],
      ["r", { kind: "reseller", providerId: "res" }],
      ["r2", { kind: "reseller", providerId: "sub-res" }],
    ]);
    await ok("PUT", `/api/v1/billing-accounts/c0/subscriptions/${s[7]}`, {});
    await ok("POST", "/api/v1/price-sheets", {
      offerId: "default",
      currency: "USD",
      effectiveDate: "2026-01-01",
      meters: [{ meterId: VM_BASE, rates: { "0": "0.5" } }],
    });
    // Some usage for every subscription, reported in the open period.
    const records = layout.map(([sub], i) => {
      const start = Date.UTC(2026, 10, 3, i);
      return {
        id: `u-${i}`,
        subscriptionId: sub,
        meterId: VM_BASE,
        quantity: String(i + 1),
        usageStartTime: iso(start),
        usageEndTime: iso(start + H),
        reportedTime: iso(start + H),
        resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
      };
    });
    await ok("POST", "/api/v1/usage-imports", records);
  });
  afterAll(async () => t.cleanup());

  const expected = (account: string | null) =>
    layout
      .filter(([, , , by]) => by === account)
      .map(([sub]) => sub)
      .sort();

  it("gives every account the same subscriptions, however they are read", async () => {
    const all = await resolveAll(t.svc.store.db);
    // (Providers' own subscriptions resolve by the same rule: only this test's are looked at.)
    const ours = new Set(s);
    expect(
      all.unbilled
        .map((x) => x.id)
        .filter((id) => ours.has(id))
        .sort(),
    ).toEqual(expected(null));
    for (const account of ["c0", "r", "r2"]) {
      expect(
        (all.byAccount.get(account) ?? [])
          .map((x) => x.id)
          .filter((id) => ours.has(id))
          .sort(),
      ).toEqual(expected(account));
      const listed = await ok("GET", `/api/v1/billing-accounts/${account}/subscriptions`);
      expect(
        listed.items
          .map((x: { id: string }) => x.id)
          .filter((id: string) => ours.has(id))
          .sort(),
      ).toEqual(expected(account));
      const e = await ok("GET", `/api/v1/billing-accounts/${account}/estimate`);
      const billed = [...new Set(e.lines.map((l: { subscriptionId: string }) => l.subscriptionId))]
        .filter((id) => ours.has(id as string))
        .sort();
      expect(billed).toEqual(expected(account));
      // Each subscription's usage exactly once: quantity i + 1 at 0.5 each.
      const total = layout
        .map(([sub], i) => (expected(account).includes(sub) ? (i + 1) * 0.5 : 0))
        .reduce((a, b) => a + b, 0);
      expect(e.subtotal).toBe(total.toFixed(2));
    }
  });
});
