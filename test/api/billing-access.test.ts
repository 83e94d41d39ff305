import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { billingDocumentSource } from "../../src/billing/documents.js";
import { ManualClock } from "../../src/clock.js";
import { DIALECTS, guid, openTestApp, type TestApp } from "../helpers.js";
import { H, VM_BASE } from "../usage-helpers.js";

/**
 * Each billing role and both enrollment policies against each billing endpoint, on an enterprise
 * enrollment with two departments: department administrators and account owners see only their
 * part (lines of their subscriptions, totals of their part) and money only when the policy says
 * so; everybody else answers 404.
 */
const NOW = Date.UTC(2026, 11, 5, 12);
const iso = (t: number) => new Date(t).toISOString();
/** EUR amounts (always two decimals) in cents. */
const cents = (s: string) => BigInt(s.replace(".", ""));
const euros = (c: bigint) => `${c / 100n}.${(c % 100n).toString().padStart(2, "0")}`;

type Outcome = "ok" | 403 | 404;
const ROLES: Record<string, { role: string; scope: string }> = {
  ea: { role: "Enterprise administrator", scope: "/enrollments/ent" },
  ear: { role: "Enterprise administrator (read only)", scope: "/enrollments/ent" },
  bao: { role: "Billing account owner", scope: "/billingAccounts/ent" },
  bac: { role: "Billing account contributor", scope: "/billingAccounts/ent" },
  bar: { role: "Billing account reader", scope: "/billingAccounts/ent" },
  im: { role: "Invoice manager", scope: "/billingAccounts/ent" },
  da: { role: "Department administrator", scope: "/enrollments/ent/departments/eng" },
  dar: { role: "Department administrator (read only)", scope: "/enrollments/ent/departments/eng" },
  ao: { role: "Account owner", scope: "/enrollments/ent/departments/ops/accounts/ops-a" },
  other: { role: "Billing account owner", scope: "/billingAccounts/elsewhere" },
  tenant: { role: "Owner", scope: `/subscriptions/${guid(0x8e1)}` },
};

// read: account, periods, estimate, invoices, invoice; write: close, patch, department, discard, finalize
const ALL: Outcome[] = ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"];
const READER: Outcome[] = ["ok", "ok", "ok", "ok", "ok", 403, 403, 403, 403, 403];
const NONE: Outcome[] = [404, 404, 404, 404, 404, 404, 404, 404, 404, 404];
const EXPECTED: Record<string, Outcome[]> = {
  ea: ALL,
  ear: READER,
  bao: ALL,
  bac: ALL,
  bar: READER,
  im: ["ok", "ok", "ok", "ok", "ok", 403, 403, 403, 403, "ok"],
  da: READER,
  dar: READER,
  ao: READER,
  other: NONE,
  tenant: NONE,
};

describe.each(DIALECTS)("who sees what of an enrollment's billing on %s", (dialect) => {
  let t: TestApp;
  const DIR = guid(0x8d0);
  const SE1 = guid(0x8e1);
  const SE2 = guid(0x8e2);
  const tokens: Record<string, string> = {};
  let invoiceId = "";

  const as = (who: string, method: string, url: string, body?: unknown) =>
    t.app.inject({
      method: method as "GET",
      url,
      headers: who === "operator" ? t.op : { authorization: `Bearer ${tokens[who]}` },
      ...(body ? { payload: body as object } : {}),
    });
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await as("operator", method, url, body);
    if (r.statusCode >= 300) throw new Error(`${method} ${url}: ${r.statusCode} ${r.body}`);
    return r.statusCode === 204 ? undefined : r.json();
  };
  const close = async () =>
    (await ok("POST", "/api/v1/billing-accounts/ent/periods/2026-11/close")).id as string;

  beforeAll(async () => {
    t = await openTestApp(dialect, { clock: new ManualClock(NOW) });
    await ok("POST", "/api/v1/directories", { id: DIR, displayName: "Enterprise" });
    await ok("POST", "/api/v1/price-sheets", {
      offerId: "default",
      currency: "EUR",
      effectiveDate: "2026-01-01",
      meters: [{ meterId: VM_BASE, rates: { "0": "0.5" } }],
    });
    for (const id of [SE1, SE2])
      await ok("POST", "/api/v1/subscriptions", { id, displayName: `E ${id.slice(-1)}`, directoryId: DIR });
    const records = [];
    for (const [i, sub] of [SE1, SE2].entries())
      for (let d = 1; d <= 30; d++) {
        const start = Date.UTC(2026, 10, d, 8);
        records.push({
          id: `r-${sub}-${d}`,
          subscriptionId: sub,
          meterId: VM_BASE,
          quantity: `${d + i * 100}.5`,
          usageStartTime: iso(start),
          usageEndTime: iso(start + H),
          reportedTime: iso(start + 2 * H),
          resourceUri: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
        });
      }
    await ok("POST", "/api/v1/usage-imports", records);
    await ok("POST", "/api/v1/billing-accounts", {
      id: "ent",
      kind: "enrollment",
      displayName: "Enterprise",
      currency: "EUR",
      taxRate: "7.5",
      firstPeriod: "2026-11",
    });
    await ok("POST", "/api/v1/billing-accounts/ent/departments", {
      id: "eng",
      displayName: "Engineering",
      costCenter: "CC-ENG",
    });
    await ok("POST", "/api/v1/billing-accounts/ent/departments", { id: "ops", displayName: "Operations" });
    await ok("POST", "/api/v1/billing-accounts/ent/enrollment-accounts", {
      id: "eng-a",
      departmentId: "eng",
      displayName: "Eng A",
    });
    await ok("POST", "/api/v1/billing-accounts/ent/enrollment-accounts", {
      id: "ops-a",
      departmentId: "ops",
      displayName: "Ops A",
      costCenter: "CC-OPS-A",
    });
    await ok("PUT", `/api/v1/billing-accounts/ent/subscriptions/${SE1}`, {
      departmentId: "eng",
      accountId: "eng-a",
    });
    await ok("PUT", `/api/v1/billing-accounts/ent/subscriptions/${SE2}`, {
      departmentId: "ops",
      accountId: "ops-a",
    });
    for (const [who, a] of Object.entries(ROLES)) {
      await ok("POST", "/api/v1/role-assignments", { principalId: who, role: a.role, scope: a.scope });
      tokens[who] = await t.svc.tokens.sign({ subject: who, ttlMs: 3_600_000 });
    }
    invoiceId = await close();
  });
  afterAll(async () => t.cleanup());

  it("validates enrollment assignments", async () => {
    const bad = await as("operator", "PUT", `/api/v1/billing-accounts/ent/subscriptions/${SE1}`, {
      departmentId: "ops",
      accountId: "eng-a",
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain("department 'eng'");
    const none = await as("operator", "PUT", `/api/v1/billing-accounts/ent/subscriptions/${SE1}`, {
      departmentId: "eng",
      accountId: "nope",
    });
    expect(none.statusCode).toBe(400);
    const why = await ok("GET", `/api/v1/subscriptions/${SE1}/billing-account`);
    expect(why).toEqual({
      subscriptionId: SE1,
      reason: "assigned",
      billingAccountId: "ent",
      departmentId: "eng",
      accountId: "eng-a",
    });
  });

  it("answers each billing role on each billing endpoint as the roles say", async () => {
    const endpoints: [
      string,
      (who: string) => Promise<{ method: string; url: string; body?: unknown }>,
      number,
    ][] = [
      ["account", async () => ({ method: "GET", url: "/api/v1/billing-accounts/ent" }), 200],
      ["periods", async () => ({ method: "GET", url: "/api/v1/billing-accounts/ent/periods" }), 200],
      ["estimate", async () => ({ method: "GET", url: "/api/v1/billing-accounts/ent/estimate" }), 200],
      ["invoices", async () => ({ method: "GET", url: "/api/v1/billing-accounts/ent/invoices" }), 200],
      [
        "invoice",
        async () => ({ method: "GET", url: `/api/v1/billing-accounts/ent/invoices/${invoiceId}` }),
        200,
      ],
      [
        "close",
        async () => ({ method: "POST", url: "/api/v1/billing-accounts/ent/periods/2026-11/close" }),
        200,
      ],
      [
        "patch",
        async () => ({
          method: "PATCH",
          url: "/api/v1/billing-accounts/ent",
          body: { displayName: "Enterprise" },
        }),
        200,
      ],
      [
        "department",
        async (who) => ({
          method: "POST",
          url: "/api/v1/billing-accounts/ent/departments",
          body: { id: `dep-${who}`, displayName: "New" },
        }),
        201,
      ],
      [
        "discard",
        async (who) => {
          if (EXPECTED[who]![8] === "ok") {
            // A draft to discard, then closed again for the next caller.
            const r = await as(who, "DELETE", `/api/v1/billing-accounts/ent/invoices/${invoiceId}`);
            expect(r.statusCode, `${who} discard`).toBe(204);
            invoiceId = await close();
            return { method: "GET", url: `/api/v1/billing-accounts/ent/invoices/${invoiceId}` };
          }
          return { method: "DELETE", url: `/api/v1/billing-accounts/ent/invoices/${invoiceId}` };
        },
        200,
      ],
      [
        "finalize",
        async () => ({ method: "POST", url: `/api/v1/billing-accounts/ent/invoices/${invoiceId}/finalize` }),
        200,
      ],
    ];
    const failures: string[] = [];
    for (const [i, [name, req, success]] of endpoints.entries()) {
      // Refusals first, so that a finalize does not stop the discards that follow.
      const order = Object.keys(ROLES).sort(
        (a, b) => Number(EXPECTED[a]![i] === "ok") - Number(EXPECTED[b]![i] === "ok"),
      );
      for (const who of order) {
        const want = EXPECTED[who]![i]!;
        const r = await req(who);
        const res = await as(
          r.method === "GET" && name === "discard" ? "operator" : who,
          r.method,
          r.url,
          r.body,
        );
        const expected = want === "ok" ? success : want;
        if (res.statusCode !== expected)
          failures.push(
            `${name} as ${who}: ${res.statusCode}, expected ${expected}: ${res.body.slice(0, 160)}`,
          );
      }
    }
    expect(failures).toEqual([]);
  });

  it("shows department administrators and account owners their part, money only when the policy allows", async () => {
    const view = async (who: string) =>
      (await as(who, "GET", `/api/v1/billing-accounts/ent/invoices/${invoiceId}`)).json();
    const whole = await view("ea");
    expect(whole.chargesHidden).toBeUndefined();
    expect(whole.partial).toBeUndefined();
    const bySub = (inv: { lines: { subscriptionId: string | null }[] }) =>
      new Set(inv.lines.map((l) => l.subscriptionId));
    expect(bySub(whole)).toEqual(new Set([SE1, SE2]));
    const eng = whole.lines.find((l: { subscriptionId: string }) => l.subscriptionId === SE1);
    expect(eng).toMatchObject({ departmentId: "eng", accountId: "eng-a", costCenter: "CC-ENG" });
    expect(whole.lines.find((l: { subscriptionId: string }) => l.subscriptionId === SE2)).toMatchObject({
      departmentId: "ops",
      accountId: "ops-a",
      costCenter: "CC-OPS-A",
    });

    // Policies off (the default): quantities, no money.
    for (const who of ["da", "dar", "ao"]) {
      const v = await view(who);
      expect(v).toMatchObject({ chargesHidden: true, partial: true, subtotal: null, tax: null, total: null });
      expect(bySub(v)).toEqual(new Set([who === "ao" ? SE2 : SE1]));
      for (const l of v.lines) {
        expect(l.quantity).not.toBeNull();
        expect([l.amount, l.unitPrice, l.listUnitPrice]).toEqual([null, null, null]);
      }
      const est = (await as(who, "GET", "/api/v1/billing-accounts/ent/estimate")).json();
      expect(est).toMatchObject({ chargesHidden: true, total: null });
      expect(JSON.stringify(await view(who))).not.toContain(who === "ao" ? SE1 : SE2);
    }

    // Department administrators may see charges: their part's, with totals of their part.
    await ok("PATCH", "/api/v1/enrollment-policies/ent", { departmentAdminsCanViewCharges: true });
    const da = await view("da");
    expect(da.chargesHidden).toBeUndefined();
    const engLines = whole.lines.filter((l: { subscriptionId: string }) => l.subscriptionId === SE1);
    expect(da.lines).toEqual(engLines);
    const sub = engLines.reduce((s: bigint, l: { amount: string }) => s + cents(l.amount), 0n);
    expect(da.subtotal).toBe(euros(sub));
    expect((await view("ao")).chargesHidden).toBe(true);
    await ok("PATCH", "/api/v1/enrollment-policies/ent", { accountOwnersCanViewCharges: true });
    const ao = await view("ao");
    expect(ao.chargesHidden).toBeUndefined();
    expect(ao.lines).toEqual(whole.lines.filter((l: { subscriptionId: string }) => l.subscriptionId === SE2));

    // The whole invoice adds up: its parts' subtotals make the subtotal.
    expect(cents(whole.subtotal)).toBe(cents(da.subtotal) + cents(ao.subtotal));
  });

  it("gives the downloads documents as the caller may see them", async () => {
    const docs = billingDocumentSource(t.svc);
    const user = (id: string) => ({ id, kind: "user" as const, displayName: id, directoryId: null });
    const whole = await docs.invoice(user("ea"), "ent", invoiceId);
    expect(whole.chargesVisible).toBe(true);
    expect(whole.subscriptions.map((s) => s.id).sort()).toEqual([SE1, SE2].sort());
    expect([whole.reportedFrom, whole.reportedTo]).toEqual([Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)]);
    expect(whole.account).toMatchObject({ id: "ent", kind: "enrollment", currency: "EUR" });
    await ok("PATCH", "/api/v1/enrollment-policies/ent", { departmentAdminsCanViewCharges: false });
    const part = await docs.periodDocument(user("dar"), "ent", "2026-11");
    expect(part.chargesVisible).toBe(false);
    expect(part.subscriptions.map((s) => s.id)).toEqual([SE1]);
    expect(part.document.lines.every((l) => l.subscriptionId === SE1 && l.amount === null)).toBe(true);
    const current = await docs.periodDocument(user("ea"), "ent", "current");
    expect(current.document).toMatchObject({ estimate: true, period: "2026-12" });
    await expect(docs.periodDocument(user("ea"), "ent", "2026-10")).rejects.toMatchObject({
      code: "NotFound",
    });
    await expect(docs.invoice(user("tenant"), "ent", invoiceId)).rejects.toMatchObject({ code: "NotFound" });
    await expect(docs.periodDocument(user("ea"), "ent", "2026-13")).rejects.toMatchObject({
      code: "ValidationFailed",
    });
  });

  it("lists only the accounts a caller reaches", async () => {
    const ids = async (who: string) =>
      (await as(who, "GET", "/api/v1/billing-accounts")).json().items.map((a: { id: string }) => a.id);
    expect(await ids("da")).toEqual(["ent"]);
    expect(await ids("tenant")).toEqual([]);
    expect(await ids("other")).toEqual([]);
  });
});
