import { describe, expect, it } from "vitest";
import {
  backoffMs,
  batchKey,
  categoryOfStatus,
  eventDateTime,
  forwardedRecordId,
  isChargeableUsage,
  partition,
  registrationProblems,
  upstreamUrlProblem,
} from "../../src/domain/bridge.js";

const key = {
  cloudId: "7d4a9a4e-2a44-4f0e-9a53-1c1c1c1c1c1c",
  reportedHour: Date.UTC(2026, 10, 23, 5),
  subscriptionId: "00000000-0000-4000-8000-0000000000a1",
  usageHour: Date.UTC(2026, 10, 23, 3),
  meterKey: "FAB6EB84500B4A09A8CA7358F8BBAEA5",
  instanceHash: "ab".repeat(32),
};

describe("bridge rules", () => {
  it("writes azureStack.EventDateTime as Partner Center does (MM/dd/yyyy HH:mm:ss, UTC)", () => {
    expect(eventDateTime(Date.UTC(2017, 5, 5, 6))).toBe("06/05/2017 06:00:00");
    expect(eventDateTime(Date.UTC(2026, 11, 31, 23, 0, 0))).toBe("12/31/2026 23:00:00");
  });

  it("gives a forwarded record an id that depends on what it sums and nothing else", () => {
    const id = forwardedRecordId(key);
    expect(id).toMatch(/^tb-2026112305-[A-Za-z0-9_-]{43}$/);
    expect(id.length).toBeLessThanOrEqual(128);
    expect(forwardedRecordId({ ...key })).toBe(id);
    for (const change of [
      { cloudId: "7d4a9a4e-2a44-4f0e-9a53-1c1c1c1c1c1d" },
      { reportedHour: key.reportedHour + 3_600_000 },
      { subscriptionId: "00000000-0000-4000-8000-0000000000a2" },
      { usageHour: key.usageHour - 3_600_000 },
      { meterKey: "9CD92D4CBAFD4492B278BEDC2DE8232A" },
      { instanceHash: "cd".repeat(32) },
    ])
      expect(forwardedRecordId({ ...key, ...change })).not.toBe(id);
    expect(batchKey(key.cloudId, key.reportedHour, 3)).toBe(`tally-bridge:${key.cloudId}:2026112305:3`);
  });

  it("backs off exponentially from 5 s, with jitter, up to the maximum", () => {
    expect(backoffMs(1, 900_000, 0.5)).toBe(5_000);
    expect(backoffMs(2, 900_000, 0.5)).toBe(10_000);
    expect(backoffMs(5, 900_000, 0.5)).toBe(80_000);
    expect(backoffMs(30, 900_000, 0.5)).toBe(900_000);
    expect(backoffMs(30, 900_000, 0.999)).toBe(900_000);
    expect(backoffMs(1, 900_000, 0)).toBe(4_000);
    expect(backoffMs(1, 900_000, 0.999)).toBeLessThanOrEqual(6_000);
  });

  it("classifies upstream answers", () => {
    expect(categoryOfStatus(401)).toBe("LoginError");
    expect(categoryOfStatus(403)).toBe("Unauthorized");
    expect(categoryOfStatus(408)).toBe("RequestTimedOut");
    expect(categoryOfStatus(504)).toBe("RequestTimedOut");
    expect(categoryOfStatus(503)).toBe("UpstreamUnavailable");
    expect(categoryOfStatus(429)).toBe("UpstreamUnavailable");
    expect(categoryOfStatus(400)).toBe("UpstreamRejected");
    expect(categoryOfStatus(409)).toBe("UpstreamRejected");
  });

  it("refuses reporting off with PayAsYouUse, and reporting without an upstream", () => {
    const ok = {
      billingModel: "PayAsYouUse" as const,
      usageReportingEnabled: true,
      upstreamUrl: "https://hub",
      hasCredential: true,
    };
    expect(registrationProblems(ok, false)).toEqual([]);
    expect(registrationProblems({ ...ok, usageReportingEnabled: false }, false).map((i) => i.field)).toEqual([
      "usageReportingEnabled",
    ]);
    expect(
      registrationProblems(
        {
          ...ok,
          billingModel: "Capacity",
          usageReportingEnabled: false,
          upstreamUrl: null,
          hasCredential: false,
        },
        false,
      ),
    ).toEqual([]);
    expect(
      registrationProblems({ ...ok, upstreamUrl: null, hasCredential: false }, false).map((i) => i.field),
    ).toEqual(["upstreamUrl", "upstreamCredential"]);
  });

  it("accepts https upstreams, and plain http only to this machine unless allowed", () => {
    expect(upstreamUrlProblem("https://hub.example.com", false)).toBeUndefined();
    expect(upstreamUrlProblem("http://127.0.0.1:8080", false)).toBeUndefined();
    expect(upstreamUrlProblem("http://localhost:8080/tally", false)).toBeUndefined();
    expect(upstreamUrlProblem("http://[::1]:8080", false)).toBeUndefined();
    expect(upstreamUrlProblem("http://hub.example.com", false)).toMatch(/https/);
    expect(upstreamUrlProblem("http://hub.example.com", true)).toBeUndefined();
    expect(upstreamUrlProblem("ftp://hub.example.com", true)).toMatch(/https/);
    expect(upstreamUrlProblem("https://user:pw@hub.example.com", false)).toMatch(/credentials/);
    expect(upstreamUrlProblem("hub.example.com", false)).toMatch(/absolute/);
  });

  it("charges bridged usage only from PayAsYouUse clouds", () => {
    expect(isChargeableUsage(null)).toBe(true);
    expect(isChargeableUsage({ ImageType: "Windows" })).toBe(true);
    expect(isChargeableUsage({ "azureStack.BillingModel": "PayAsYouUse" })).toBe(true);
    expect(isChargeableUsage({ "azureStack.BillingModel": "Development" })).toBe(false);
    expect(isChargeableUsage({ "azureStack.BillingModel": "Capacity" })).toBe(false);
  });

  it("cuts batches by count and by size, keeping order", () => {
    const items = [1, 2, 3, 4, 5, 6, 7];
    expect(partition(items, 3, 1e9, () => 1)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(partition(items, 100, 10, (n) => n)).toEqual([[1, 2, 3, 4], [5], [6], [7]]);
    expect(partition([50, 1], 100, 10, (n) => n)).toEqual([[50], [1]]);
    expect(partition([], 3, 10, () => 1)).toEqual([]);
  });
});
