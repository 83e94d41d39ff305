import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCli, runTally } from "../cli-helpers.js";
import { guid, POSTGRES_URL } from "../helpers.js";

/** `tally billing …` in-process on a local database, as the operator (this file runs in its own worker). */
const cli = localCli("bcli");
const { dataDir } = cli;
const run = runTally;

describe(`tally billing (${POSTGRES_URL ? "PostgreSQL" : "SQLite"})`, () => {
  const DIR = guid(0xb1);
  const SUB = guid(0xb2);
  beforeAll(async () => {
    await cli.setUp();
    expect((await run("migrate")).code).toBe(0);
    expect((await run("directory", "create", "--id", DIR, "--display-name", "Contoso")).code).toBe(0);
    expect(
      (await run("subscription", "create", "--display-name", "Dev", "--directory", DIR, "--id", SUB)).code,
    ).toBe(0);
  });
  afterAll(async () => {
    await cli.tearDown();
  });

  it("creates, lists, shows and updates accounts", async () => {
    const c = await run(
      "--json",
      "billing",
      "accounts",
      "create",
      "--id",
      "contoso",
      "--kind",
      "customer",
      "--name",
      "Contoso",
      "--currency",
      "eur",
      "--directory",
      DIR,
      "--tax-rate",
      "19",
      "--address",
      '{"city":"Berlin","country":"DE"}',
    );
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toMatchObject({
      id: "contoso",
      currency: "EUR",
      taxRate: "19",
      address: { city: "Berlin" },
    });
    const l = await run("billing", "accounts", "list");
    expect(l.out).toMatch(/contoso\s.*customer.*EUR/);
    const u = await run("--json", "billing", "accounts", "update", "contoso", "--tax-rate", "none");
    expect(JSON.parse(u.out).taxRate).toBeNull();
    expect((await run("billing", "accounts", "get", "nope")).code).toBe(1);
    const r = await run("--json", "billing", "resolve", SUB);
    expect(JSON.parse(r.out)).toMatchObject({ reason: "customer", billingAccountId: "contoso" });
  });

  it("sets up an enrollment and assigns a subscription", async () => {
    expect(
      (
        await run(
          "billing",
          "accounts",
          "create",
          "--id",
          "ent",
          "--kind",
          "enrollment",
          "--name",
          "E",
          "--currency",
          "USD",
        )
      ).code,
    ).toBe(0);
    expect(
      (
        await run(
          "billing",
          "departments",
          "create",
          "ent",
          "eng",
          "--name",
          "Engineering",
          "--cost-center",
          "CC1",
        )
      ).code,
    ).toBe(0);
    expect(
      (
        await run(
          "billing",
          "enrollment-accounts",
          "create",
          "ent",
          "eng-a",
          "--department",
          "eng",
          "--name",
          "A",
        )
      ).code,
    ).toBe(0);
    expect((await run("billing", "departments", "list", "ent")).out).toContain("CC1");
    expect((await run("billing", "assign", "ent", SUB)).code).toBe(1);
    expect(
      (await run("billing", "assign", "ent", SUB, "--department", "eng", "--account", "eng-a")).code,
    ).toBe(0);
    expect(JSON.parse((await run("--json", "billing", "resolve", SUB)).out)).toMatchObject({
      reason: "assigned",
      billingAccountId: "ent",
    });
    expect((await run("billing", "unassign", "ent", SUB)).code).toBe(0);
  });

  it("shows periods and the estimate, refuses to close an open period", async () => {
    const p = await run("--json", "billing", "periods", "contoso");
    expect(p.code).toBe(0);
    expect(JSON.parse(p.out)[0]).toMatchObject({ status: "open", invoiceId: null });
    const e = await run("--json", "billing", "estimate", "contoso");
    expect(JSON.parse(e.out)).toMatchObject({ estimate: true, billingAccountId: "contoso", currency: "EUR" });
    expect((await run("billing", "estimate", "contoso")).out).toContain("estimate");
    const current = new Date().toISOString().slice(0, 7);
    const c = await run("billing", "close", "contoso", current);
    expect(c.code).toBe(1);
    expect(c.err).toContain("still open");
    expect((await run("billing", "invoices", "contoso", "--json")).out.trim()).toBe("[]");
  });

  it("downloads the month to date through the local database", async () => {
    const file = join(dataDir, "mtd.csv");
    const d = await run("--json", "billing", "download", "contoso", "--period", "current", "--output", file);
    expect(d.code, d.err).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ file });
    expect(readFileSync(file, "utf8")).toContain("Billing Period,Meter Category");
    expect((await run("billing", "download", "nobody", "--period", "current", "--output", file)).code).toBe(
      1,
    );
  });

  it("exits 2 on usage errors and has help", async () => {
    expect((await run("billing", "close", "contoso", "2026-13")).code).toBe(2);
    expect((await run("billing", "close", "contoso")).code).toBe(2);
    expect((await run("billing", "accounts", "update", "contoso")).code).toBe(2);
    expect((await run("billing", "--help")).code).toBe(0);
    expect((await run("billing", "close", "--help")).code).toBe(0);
  });
});
