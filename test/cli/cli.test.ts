import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCli, runTally } from "../cli-helpers.js";
import { guid, POSTGRES_URL } from "../helpers.js";

/**
 * The CLI in-process, as `tally …` would run it: one process-wide configuration from the
 * environment (this file runs in its own worker), local database, operator identity.
 */
const cli = localCli("cli");
const { dataDir } = cli;
const run = runTally;

describe(`tally CLI (${POSTGRES_URL ? "PostgreSQL" : "SQLite"})`, () => {
  beforeAll(async () => {
    await cli.setUp();
  });
  afterAll(async () => {
    await cli.tearDown();
  });

  it("refuses to work on an unmigrated database, then migrates", async () => {
    const before = await run("directory", "list");
    expect(before.code).toBe(1);
    expect(before.err).toMatch(/tally migrate/);
    const r = await run("migrate");
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/up to date/);
  });

  it("prints an operator token from a key only its owner can read", async () => {
    const r = await run("token", "create", "--operator", "--expires", "1h");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const mode = statSync(join(dataDir, "keys", "jwt-keys.json")).mode & 0o777;
    expect(mode).toBe(0o600);
    expect((await run("token", "create")).code).toBe(2);
    expect((await run("token", "create", "--operator", "--expires", "forever")).code).toBe(2);
  });

  it("creates, shows, lists, updates and deletes directories", async () => {
    const c = await run("directory", "create", "--id", guid(0xc1), "--display-name", "Contoso");
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/displayName\s+Contoso/);
    const g = await run("--json", "directory", "get", guid(0xc1));
    expect(JSON.parse(g.out)).toMatchObject({ id: guid(0xc1), displayName: "Contoso" });
    const l = await run("directory", "list");
    expect(l.out).toContain("Contoso");
    expect(l.out).toContain("Operator");
    expect((await run("directory", "update", guid(0xc1), "--display-name", "Contoso Ltd")).out).toContain(
      "Contoso Ltd",
    );
    const dup = await run("directory", "create", "--id", guid(0xc1), "--display-name", "Again");
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/AlreadyExists/);
    const bad = await run("directory", "create", "--id", "nope", "--display-name", "x");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/id: must be a GUID/);
  });

  it("creates providers and subscriptions and soft-deletes a subscription", async () => {
    const p = await run("--json", "provider", "create", "--id", "csp-1", "--display-name", "CSP One");
    expect(p.code).toBe(0);
    expect(JSON.parse(p.out)).toMatchObject({ id: "csp-1", parentId: "operator" });
    const s = await run(
      "--json",
      "subscription",
      "create",
      "--display-name",
      "Dev",
      "--directory",
      guid(0xc1),
      "--provider",
      "csp-1",
      "--id",
      guid(0xc2),
    );
    expect(JSON.parse(s.out)).toMatchObject({ id: guid(0xc2), providerId: "csp-1", state: "Active" });
    const list = await run("--json", "subscription", "list", "--provider", "csp-1", "--all");
    expect(JSON.parse(list.out).map((x: { id: string }) => x.id)).toEqual([guid(0xc2)]);
    const del = await run("--json", "subscription", "delete", guid(0xc2));
    expect(JSON.parse(del.out).state).toBe("Deleted");
    expect(JSON.parse((await run("--json", "subscription", "get", guid(0xc2))).out).state).toBe("Deleted");
  });

  it("registers a source, shows its key once, rotates and revokes", async () => {
    const c = await run("--json", "source", "create", "storage-rp");
    const created = JSON.parse(c.out);
    expect(created.apiKey).toMatch(/^tsk_/);
    const g = await run("source", "get", "storage-rp");
    expect(g.out).not.toContain(created.apiKey);
    expect(g.out).toContain(created.apiKey.slice(0, 10));
    const r = await run("--json", "source", "rotate", "storage-rp", "--grace", "1h");
    expect(JSON.parse(r.out).apiKey).toMatch(/^tsk_/);
    expect(JSON.parse((await run("--json", "source", "revoke", "storage-rp")).out)).toEqual({ revoked: 2 });
  });

  it("lists and deprecates meters", async () => {
    const l = await run("--json", "meter", "list", "--category", "Compute");
    expect(
      JSON.parse(l.out)
        .map((m: { name: string }) => m.name)
        .sort(),
    ).toEqual(["Base VM Size Hours", "VM size hours", "Windows VM Size Hours"]);
    const d = await run("--json", "meter", "deprecate", "6dab500fa4fd49c4956d229bb9c8c793");
    expect(JSON.parse(d.out)).toMatchObject({
      id: "6DAB500F-A4FD-49C4-956D-229BB9C8C793",
      status: "deprecated",
    });
  });

  it("assigns, lists and removes roles, and lists the role definitions", async () => {
    const a = await run(
      "--json",
      "role",
      "assign",
      "--principal",
      "cli-user",
      "--role",
      "reader",
      "--scope",
      "/",
    );
    expect(a.code).toBe(0);
    const created = JSON.parse(a.out);
    expect(created).toMatchObject({ principalId: "cli-user", role: "Reader", scope: "/" });
    const l = await run("--json", "role", "list", "--principal", "cli-user");
    expect(JSON.parse(l.out).map((x: { id: string }) => x.id)).toEqual([created.id]);
    expect((await run("role", "list", "--scope", "/")).out).toMatch(/Owner/);
    const bad = await run("role", "assign", "--principal", "x", "--role", "Reader", "--scope", "/nowhere/1");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/scope: must be one of/);
    expect((await run("role", "assign", "--principal", "x", "--role", "Boss", "--scope", "/")).err).toMatch(
      /unknown role 'Boss'/,
    );
    expect((await run("role", "remove", created.id)).code).toBe(0);
    expect(JSON.parse((await run("--json", "role", "list", "--principal", "cli-user")).out)).toEqual([]);
    const d = await run("role", "definitions");
    expect(d.code).toBe(0);
    expect(d.out).toContain("Billing account owner");
    expect(d.out).toContain("departmentAdminsCanViewCharges");
  });

  it("lists the audit log, newest first", async () => {
    const r = await run("--json", "audit", "list", "--action", "roleAssignments/delete");
    expect(r.code).toBe(0);
    const items = JSON.parse(r.out);
    expect(items[0]).toMatchObject({
      action: "roleAssignments/delete",
      details: { principalId: "cli-user" },
    });
    expect((await run("audit", "list", "--target", "/directories/", "--limit", "1")).out).toMatch(
      /directories\/write/,
    );
    expect((await run("audit", "list", "--from", "yesterday")).code).toBe(1);
  });

  it("sets and shows enrollment policies", async () => {
    const s = await run(
      "--json",
      "enrollment-policy",
      "set",
      "e-100",
      "--department-admins-view-charges",
      "on",
    );
    expect(s.code).toBe(0);
    expect(JSON.parse(s.out)).toMatchObject({ enrollmentId: "e-100", departmentAdminsCanViewCharges: true });
    const g = await run("--json", "enrollment-policy", "get", "e-100");
    expect(JSON.parse(g.out)).toMatchObject({ accountOwnersCanViewCharges: false });
    expect(
      (await run("enrollment-policy", "set", "e-100", "--account-owners-view-charges", "maybe")).code,
    ).toBe(2);
    expect((await run("enrollment-policy", "set", "e-100")).code).toBe(2);
  });

  it("rotates the signing key; earlier tokens keep verifying and the CLI keeps working", async () => {
    const before = JSON.parse(readFileSync(join(dataDir, "keys", "jwt-keys.json"), "utf8")).keys;
    const r = await run("--json", "token", "rotate-key");
    expect(r.code).toBe(0);
    const kid = JSON.parse(r.out).kid;
    const after = JSON.parse(readFileSync(join(dataDir, "keys", "jwt-keys.json"), "utf8")).keys;
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1).kid).toBe(kid);
    expect(after.filter((k: { retiredAt?: string }) => k.retiredAt === undefined)).toHaveLength(1);
    expect((await run("directory", "list")).code).toBe(0);
    const tok = await run("token", "create", "--operator");
    const header = JSON.parse(Buffer.from(tok.out.split(".")[0]!, "base64url").toString());
    expect(header.kid).toBe(kid);
    expect((await run("token", "create", "--operator", "--expires", "90d")).code).toBe(2);
    const audit = JSON.parse((await run("--json", "audit", "list", "--action", "signingKeys/write")).out);
    expect(audit[0].target).toBe(`/signingKeys/${kid}`);
  });

  it("manages offers, imports and exports price sheets, sets markups and previews charges", async () => {
    expect(
      (await run("offer", "create", "--id", "MS-AZR-0003P", "--display-name", "Pay-As-You-Go")).code,
    ).toBe(0);
    expect((await run("offer", "list")).out).toMatch(/MS-AZR-0003P/);
    const dir = mkdtempSync(join(tmpdir(), "tally-cli-prices-"));
    const vm = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
    const header = "offerId,currency,effectiveDate,meterId,tierStart,unitPrice,includedQuantity";
    const bad = join(dir, "bad.csv");
    writeFileSync(
      bad,
      [header, `MS-AZR-0003P,USD,2026-01-01,${vm},0,abc,`, `MS-AZR-0003P,USD,2026-01-01,nope,0,1,`, ""].join(
        "\n",
      ),
    );
    const rejected = await run("prices", "import", bad);
    expect(rejected.code).toBe(1);
    expect(rejected.err).toMatch(/2 lines of the file are invalid; nothing was imported/);
    expect(rejected.err).toMatch(/line 2: unitPrice: 'abc' is not a decimal number/);
    expect(rejected.err).toMatch(/line 3: meterId: 'nope' is not a meter of the catalogue/);
    const good = join(dir, "good.csv");
    writeFileSync(
      good,
      [
        header,
        `MS-AZR-0003P,USD,2026-01-01,${vm},0,0.02,10`,
        `MS-AZR-0003P,USD,2026-01-01,${vm},100,0.015,10`,
        "",
      ].join("\n"),
    );
    expect((await run("prices", "import", good, "--dry-run")).err).toMatch(/would import 1/);
    const imported = await run("--json", "prices", "import", good);
    expect(imported.code).toBe(0);
    const id = JSON.parse(imported.out).versions[0].id;
    expect((await run("prices", "get", id)).out).toMatch(/0: 0.02; 100: 0.015/);
    const out = join(dir, "export.csv");
    expect((await run("prices", "export", "--offer", "MS-AZR-0003P", "--output", out)).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(good, "utf8"));
    expect((await run("prices", "list", "--offer", "MS-AZR-0003P")).out).toContain(id);
    expect((await run("prices", "diff", id)).out).toMatch(/base: \(none\)/);
    const rate = await run(
      "--json",
      "rate",
      "--offer",
      "MS-AZR-0003P",
      "--quantity",
      `${vm}=110`,
      "--at",
      "2026-02-01T00:00:00Z",
    );
    expect(rate.code).toBe(0);
    expect(JSON.parse(rate.out).total).toBe("1.95");
    expect((await run("rate", "--offer", "MS-AZR-0003P", "--quantity", "oops")).code).toBe(2);
    expect(
      (await run("--json", "markup", "set", "--scope", "/providers/csp-1", "--percent", "10")).code,
    ).toBe(0);
    const changed = await run("--json", "markup", "set", "--scope", "/providers/csp-1", "--percent", "-5");
    expect(JSON.parse(changed.out)).toMatchObject({ scope: "/providers/csp-1", percent: "-5" });
    expect((await run("markup", "list")).out).toMatch(/csp-1/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers the cloud, maps tenants, and shows and runs the bridge", async () => {
    const src = await run("--json", "source", "create", "cloud-west", "--kind", "bridge");
    expect(src.code).toBe(0);
    expect(JSON.parse(src.out)).toMatchObject({ name: "cloud-west", kind: "bridge" });

    const secretFile = join(dataDir, "upstream.key");
    writeFileSync(secretFile, "receiver-secret-value\n", { mode: 0o600 });
    const def = guid(0xde1);
    const created = await run(
      "--json",
      "registration",
      "create",
      "AzureStack-cli",
      "--billing-model",
      "Development",
      "--default-subscription",
      def,
      "--upstream-type",
      "Https",
      "--upstream-url",
      "http://127.0.0.1:9/usage",
      "--upstream-credential-file",
      secretFile,
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ name: "AzureStack-cli", upstreamCredentialSet: true });
    const shown = await run("registration", "get");
    expect(shown.code).toBe(0);
    expect(shown.out).toContain("AzureStack-cli");
    expect(shown.out).not.toContain("receiver-secret-value");
    expect((await run("registration", "create", "x", "--billing-model", "Development")).code).toBe(2);

    const csp = guid(0xc5c);
    const tenant = guid(0x7e7);
    expect((await run("customer-subscription", "add", csp, "--tenant", tenant)).code).toBe(0);
    expect(JSON.parse((await run("--json", "customer-subscription", "list")).out)).toMatchObject([
      { id: csp, tenantId: tenant, registrationName: "AzureStack-cli" },
    ]);
    expect((await run("customer-subscription", "remove", csp)).code).toBe(0);
    expect((await run("customer-subscription", "get", csp)).code).toBe(1);

    const st = await run("--json", "bridge", "status");
    expect(st.err).toBe("");
    expect(st.code).toBe(0);
    expect(JSON.parse(st.out)).toMatchObject({ state: "UpToDate", registrationName: "AzureStack-cli" });
    expect((await run("bridge", "status")).out).toMatch(/lag\s+0s/);
    const ran = await run("--json", "bridge", "run");
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.out)).toMatchObject({ outcome: "UpToDate", batches: 0 });

    expect((await run("registration", "update", "--reporting", "off")).code).toBe(0);
    const refused = await run("registration", "update", "--billing-model", "PayAsYouUse");
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/cannot be turned off with the PayAsYouUse/);
    expect((await run("registration", "update")).code).toBe(2);

    const tok = await run("registration", "token", "--billing-model", "Capacity", "--reporting", "off");
    expect(JSON.parse(Buffer.from(tok.out.trim(), "base64").toString())).toEqual({
      billingModel: "Capacity",
      usageReportingEnabled: false,
    });
    expect((await run("registration", "delete", "AzureStack-cli")).code).toBe(0);
    expect((await run("registration", "get")).err).toMatch(/not registered/);
  });

  it("exits 2 on usage errors", async () => {
    expect((await run("directory", "frobnicate")).code).toBe(2);
    expect((await run("directory", "create")).code).toBe(2);
    expect((await run("--help")).code).toBe(0);
  });
});
