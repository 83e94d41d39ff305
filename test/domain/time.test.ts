import { describe, expect, it } from "vitest";
import { floorDay, floorHour, parseDuration, parseInstant } from "../../src/domain/time.js";

describe("instants", () => {
  it("parses ISO 8601 with an offset to UTC epoch milliseconds", () => {
    expect(parseInstant("2026-01-31T13:00:00Z")).toBe(Date.UTC(2026, 0, 31, 13));
    expect(parseInstant("2026-01-31T14:00:00+01:00")).toBe(Date.UTC(2026, 0, 31, 13));
    expect(parseInstant("2026-01-31T08:30:00-04:30")).toBe(Date.UTC(2026, 0, 31, 13));
    expect(parseInstant("2026-01-31T13:00:00.1234567Z")).toBe(Date.UTC(2026, 0, 31, 13, 0, 0, 123));
    expect(parseInstant("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
  });

  it("rejects impossible or offset-less times", () => {
    expect(parseInstant("2026-02-30T00:00:00Z")).toMatch(/day 30 does not exist/);
    expect(parseInstant("2025-02-29T00:00:00Z")).toMatch(/does not exist/);
    expect(parseInstant("2026-01-01T23:59:60Z")).toMatch(/leap/);
    expect(parseInstant("2026-01-01T24:00:00Z")).toMatch(/hour/);
    expect(parseInstant("2026-13-01T00:00:00Z")).toMatch(/month/);
    expect(parseInstant("2026-01-01T00:00:00")).toMatch(/offset/);
    expect(parseInstant("2026-01-01")).toMatch(/offset/);
    expect(parseInstant("yesterday")).toMatch(/ISO 8601/);
  });

  it("floors to UTC hours and days", () => {
    const t = Date.UTC(2026, 4, 5, 17, 42, 13, 9);
    expect(floorHour(t)).toBe(Date.UTC(2026, 4, 5, 17));
    expect(floorDay(t)).toBe(Date.UTC(2026, 4, 5));
  });

  it("parses durations", () => {
    expect(parseDuration("8h")).toBe(8 * 3_600_000);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("0s")).toBe(0);
    expect(parseDuration("8 hours")).toBeUndefined();
  });
});
