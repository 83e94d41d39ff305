import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAllPeriods, finalizeDue, startBillingLoop } from "../../src/billing/run.js";
import { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, operatorCalls, type TestApp } from "../helpers.js";
import { BLOB_CAPACITY, H, VM_BASE } from "../usage-helpers.js";

/**
 * Billing accounts and the resolution rule, and the monthly run of `tally serve`'s billing job:
 * every closable period of every account closed in one pass into the same invoices a close of
 * each would give, drafts finalized after the delay.
 */
const iso = (t: number) => new Date(t).toISOString();
const actor = { principalId: "test", requestId: "run" };

describe.each(DIALECTS)("billing accounts and the monthly run on %s", (dialect) => {
  let t: TestApp;
  const dirs = [guid(0x601), guid(0x602), guid(0x603), guid(0x604)];
  const subs = [guid(0x611), guid(0x612), guid(0x613), guid(0x614), guid(0x615)];
  const clock = () => t.clock as ManualClock;
  const { req, ok, createAccounts } = operatorCalls(() => t);

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(Date.UTC(2026, 11, 5, 12)) });
    for (const [i, id] of dirs.entries())
      await ok("POST", "/api/v1/directories", { id, displayName: `Dir ${i}` });
    await ok("POST", "/api/v1/providers", { id: "res", displayName: "Reseller" });
    await ok("POST", "/api/v1/providers", { id: "sub-res", displayName: "Sub-reseller", parentId: "res" });
    // subs[3] is under a sub-reseller of the reseller (so c3 bills nothing: an empty invoice);
    // subs[2] and subs[4] are in a directory nobody bills (until subs[2] is assigned).
    for (const [i, id] of subs.entries())
      await ok("POST", "/api/v1/subscriptions", {
        id,
        displayName: `S${i}`,
        directoryId: dirs[i === 4 ? 2 : i],
        ...(i === 3 ? { providerId: "sub-res" } : {}),
      });
    await ok("POST", "/api/v1/price-sheets", {
      offerId: "default",
      currency: "USD",
      effectiveDate: "2026-01-01",
      meters: [
        { meterId: VM_BASE, rates: { "0": "0.02", "1000": "0.015" }, includedQuantity: "10" },
        { meterId: BLOB_CAPACITY, rates: { "0": "0.0003" } },
      ],
      terms: [{ name: "Recurring Charge", recurringCharge: "3" }],
    });
    const records = [];
    for (const [i, sub] of subs.entries())
      for (let d = 1; d <= 30; d++)
        for (const [m, meter] of [VM_BASE, BLOB_CAPACITY].entries()) {
          const start = Date.UTC(2026, 10, d, 4 + m);
          records.push({
            id: `${sub}-${d}-${m}`,
            subscriptionId: sub,
            meterId: meter,
            quantity: `${(d * (i + 3)) % 41}.${d}`,
            usageStartTime: iso(start),
            usageEndTime: iso(start + H),
            reportedTime: iso(start + 2 * H),
            resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
          });
        }
    await ok("POST", "/api/v1/usage-imports", records);
  });
  afterAll(async () => t.cleanup());

  it("validates accounts", async () => {
    const make = (body: Record<string, unknown>) =>
      req("POST", "/api/v1/billing-accounts", { displayName: "X", currency: "USD", ...body });
    expect((await make({ kind: "customer" })).json().error.details[0].field).toBe("directoryId");
    expect((await make({ kind: "customer", directoryId: guid(0x6ff) })).statusCode).toBe(400);
    expect((await make({ kind: "reseller", providerId: "operator" })).json().error.message).toContain(
      "delegated provider",
    );
    expect((await make({ kind: "customer", directoryId: dirs[0], currency: "XXX" })).statusCode).toBe(400);
    expect((await make({ kind: "customer", directoryId: dirs[0], taxRate: "101" })).statusCode).toBe(400);
    expect((await make({ kind: "enrollment", directoryId: dirs[0] })).statusCode).toBe(400);
    const a = await make({
      id: "c0",
      kind: "customer",
      directoryId: dirs[0],
      taxRate: 8.875,
      firstPeriod: "2026-11",
    });
    expect(a.statusCode).toBe(201);
    expect(a.json()).toMatchObject({
      id: "c0",
      taxRate: "8.875",
      issuerName: "tally",
      currency: "USD",
      firstPeriod: "2026-11",
    });
    expect((await make({ id: "c0b", kind: "customer", directoryId: dirs[0] })).statusCode).toBe(409);
    expect((await make({ id: "c0", kind: "enrollment" })).statusCode).toBe(409);
    await createAccounts([
      ["c1", { kind: "customer", directoryId: dirs[1] }],
      ["c3", { kind: "customer", directoryId: dirs[3] }],
      ["r", { kind: "reseller", providerId: "res" }],
    ]);
    const patched = await ok("PATCH", "/api/v1/billing-accounts/c1", {
      taxRate: "20",
      address: { city: "Paris" },
    });
    expect(patched).toMatchObject({ taxRate: "20", address: { city: "Paris" } });
  });

  it("resolves every subscription to one account, or lists it unbilled", async () => {
    const why = async (sub: string) =>
      (await ok("GET", `/api/v1/subscriptions/${sub}/billing-account`)) as {
        reason: string;
        billingAccountId: string | null;
      };
    expect(await why(subs[0]!)).toMatchObject({ reason: "customer", billingAccountId: "c0" });
    expect(await why(subs[2]!)).toMatchObject({ reason: "unbilled", billingAccountId: null });
    // The nearest delegated provider with a reseller account wins over the directory's customer account.
    expect(await why(subs[3]!)).toMatchObject({ reason: "reseller", billingAccountId: "r" });
    // An explicit assignment wins over both.
    await ok("PUT", `/api/v1/billing-accounts/c1/subscriptions/${subs[2]}`, {});
    expect(await why(subs[2]!)).toMatchObject({ reason: "assigned", billingAccountId: "c1" });
    const listed = await ok("GET", "/api/v1/billing-accounts/c1/subscriptions");
    expect(listed.items.map((s: { id: string }) => s.id)).toEqual([subs[1], subs[2]]);
    const unbilled = await ok("GET", "/api/v1/billing/unbilled-subscriptions?limit=1000");
    const ids = unbilled.items.map((s: { id: string }) => s.id);
    expect(ids).toContain(subs[4]);
    expect(ids).not.toContain(subs[0]);
    expect(
      (
        await req("PUT", `/api/v1/billing-accounts/c1/subscriptions/${subs[2]}`, {
          departmentId: "x",
          accountId: "y",
        })
      ).statusCode,
    ).toBe(400);
  });

  it("closes every account's period in one run, into what a close of each gives", async () => {
    // One subscription per batch: the run's pipeline (read ahead, write behind) over several batches.
    const first = await closeAllPeriods(t.svc, actor, { batchSubscriptions: 1 });
    expect(first.periods).toEqual([{ period: "2026-11", accounts: 4, closed: 4 }]);
    expect(first.unbilled).toBeGreaterThanOrEqual(1);
    const again = await closeAllPeriods(t.svc, actor);
    expect(again.periods).toEqual([]);
    for (const id of ["c0", "c1", "c3", "r"]) {
      const [inv] = (await ok("GET", `/api/v1/billing-accounts/${id}/invoices`)).items;
      if (id === "c3") expect(inv).toMatchObject({ lines: [], total: "0.00" });
      else expect(inv.lines.length).toBeGreaterThan(0);
      await ok("DELETE", `/api/v1/billing-accounts/${id}/invoices/${inv.id}`);
      const single = await ok("POST", `/api/v1/billing-accounts/${id}/periods/2026-11/close`);
      const { id: _a, createdAt: _b, ...x } = inv;
      const { id: _c, createdAt: _d, ...y } = single;
      expect(y).toEqual(x);
    }
  });

  it("finalizes drafts once the finalize delay has passed", async () => {
    expect(await finalizeDue(t.svc, actor)).toBe(0);
    clock().set(Date.UTC(2026, 11, 8, 13));
    expect(await finalizeDue(t.svc, actor)).toBe(4);
    const numbers = [];
    for (const id of ["c0", "c1", "c3", "r"])
      numbers.push((await ok("GET", `/api/v1/billing-accounts/${id}/invoices`)).items[0].number);
    expect(numbers.sort()).toEqual(["INV-000001", "INV-000002", "INV-000003", "INV-000004"]);
  });

  it("runs as the billing job of tally serve, on one node at a time", async () => {
    clock().set(Date.UTC(2027, 0, 5, 12));
    // Two nodes' loops; the lease lets one of them work at a time, the unique (account, period) does the rest.
    const loops = [startBillingLoop(t.svc, 50), startBillingLoop(t.svc, 50)];
    const december = () =>
      t.svc.store.db
        .selectFrom("invoices")
        .select(["billing_account_id", "status"])
        .where("period", "=", "2026-12")
        .execute();
    for (let i = 0; i < 200 && (await december()).length < 4; i++)
      await new Promise((r) => setTimeout(r, 50));
    await Promise.all(loops.map((l) => l.stop()));
    const rows = await december();
    expect(rows.map((r) => r.billing_account_id).sort()).toEqual(["c0", "c1", "c3", "r"]);
    const audit = await t.svc.store.db
      .selectFrom("audit_log")
      .select("principal_id")
      .where("target", "like", "/billingAccounts/%/invoices/%")
      .where("principal_id", "=", "billing-job")
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(4);
  });
});
