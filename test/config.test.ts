import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../src/config.js";

describe("identity configuration", () => {
  it("defaults to embedded tokens with a 60 s clock skew and a 30 d maximum lifetime", () => {
    const c = loadConfig({});
    expect(c.authMode).toBe("embedded");
    expect(c.oidc).toBeUndefined();
    expect(c.tokenClockSkewMs).toBe(60_000);
    expect(c.tokenMaxTtlMs).toBe(30 * 86_400_000);
  });

  it("needs an issuer and an audience in OIDC mode, and accepts several audiences", () => {
    expect(() => loadConfig({ TALLY_AUTH_MODE: "oidc" })).toThrow(ConfigError);
    expect(() => loadConfig({ TALLY_AUTH_MODE: "oidc" })).toThrow(
      /TALLY_OIDC_ISSUER: required.*\n.*TALLY_OIDC_AUDIENCE/s,
    );
    const c = loadConfig({
      TALLY_AUTH_MODE: "oidc",
      TALLY_OIDC_ISSUER: "https://login.example.com/t/v2.0",
      TALLY_OIDC_AUDIENCE: "api://tally, 6f1c3a52-8d1e-4c1b-9b7a-2f0e5d4c3b21",
      TALLY_TOKEN_CLOCK_SKEW: "2m",
    });
    expect(c.oidc).toEqual({
      issuer: "https://login.example.com/t/v2.0",
      audiences: ["api://tally", "6f1c3a52-8d1e-4c1b-9b7a-2f0e5d4c3b21"],
      jwksUrl: undefined,
      cooldownMs: 30_000,
    });
    expect(c.tokenClockSkewMs).toBe(120_000);
  });

  it("names the variable that is wrong", () => {
    expect(() => loadConfig({ TALLY_AUTH_MODE: "saml" })).toThrow(
      /TALLY_AUTH_MODE: expected one of embedded, oidc/,
    );
    expect(() => loadConfig({ TALLY_OIDC_JWKS_URL: "not a url" })).toThrow(/TALLY_OIDC_JWKS_URL/);
    expect(() => loadConfig({ TALLY_TOKEN_CLOCK_SKEW: "a while" })).toThrow(/TALLY_TOKEN_CLOCK_SKEW/);
    expect(() => loadConfig({ TALLY_TOKEN_TTL: "40d" })).toThrow(
      /TALLY_TOKEN_TTL: must not be longer than TALLY_TOKEN_MAX_TTL/,
    );
  });

  it("parses the bridge's settings and names the one that is wrong", () => {
    const d = loadConfig({});
    expect(d).toMatchObject({
      bridgeIntervalMs: 10_000,
      bridgeBatchRecords: 1000,
      bridgeTimeoutMs: 60_000,
      bridgeRetryMaxMs: 900_000,
      bridgeAllowHttp: false,
    });
    expect(loadConfig({ TALLY_BRIDGE_ALLOW_HTTP: "on", TALLY_BRIDGE_BATCH_RECORDS: "500" })).toMatchObject({
      bridgeAllowHttp: true,
      bridgeBatchRecords: 500,
    });
    expect(() => loadConfig({ TALLY_BRIDGE_ALLOW_HTTP: "perhaps" })).toThrow(
      /TALLY_BRIDGE_ALLOW_HTTP: expected true or false/,
    );
    expect(() => loadConfig({ TALLY_BRIDGE_BATCH_RECORDS: "20000" })).toThrow(/TALLY_BRIDGE_BATCH_RECORDS/);
    expect(() => loadConfig({ TALLY_BRIDGE_INTERVAL: "10ms" })).toThrow(
      /TALLY_BRIDGE_INTERVAL: must be at least 1s/,
    );
    expect(() => loadConfig({ TALLY_BRIDGE_RETRY_MAX: "1s" })).toThrow(/TALLY_BRIDGE_RETRY_MAX/);
  });

  it("documents every variable in the README's configuration table", () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    expect(CONFIG_VARIABLES.filter((v) => !readme.includes(`| \`${v}\` |`))).toEqual([]);
  });
});

describe("rating configuration", () => {
  it("rounds half-even unless told half-up, and names a bad value", () => {
    expect(loadConfig({}).rounding).toBe("half-even");
    expect(loadConfig({ TALLY_ROUNDING: "half-up" }).rounding).toBe("half-up");
    expect(() => loadConfig({ TALLY_ROUNDING: "up" })).toThrow(
      /TALLY_ROUNDING: expected one of half-even, half-up/,
    );
  });

  it("parses billing's settings: close grace, finalize delay (or off), interval and issuer", () => {
    const d = loadConfig({});
    expect([d.billingCloseGraceMs, d.billingFinalizeDelayMs, d.billingIntervalMs, d.billingIssuer]).toEqual([
      86_400_000,
      259_200_000,
      300_000,
      "tally",
    ]);
    const c = loadConfig({
      TALLY_BILLING_CLOSE_GRACE: "2h",
      TALLY_BILLING_FINALIZE_DELAY: "off",
      TALLY_BILLING_ISSUER: "Contoso Cloud GmbH",
    });
    expect([c.billingCloseGraceMs, c.billingFinalizeDelayMs, c.billingIssuer]).toEqual([
      7_200_000,
      undefined,
      "Contoso Cloud GmbH",
    ]);
    expect(() => loadConfig({ TALLY_BILLING_FINALIZE_DELAY: "soon" })).toThrow(
      /TALLY_BILLING_FINALIZE_DELAY: .*or off/,
    );
    expect(() => loadConfig({ TALLY_BILLING_INTERVAL: "10ms" })).toThrow(
      /TALLY_BILLING_INTERVAL: must be at least 1s/,
    );
  });
});
