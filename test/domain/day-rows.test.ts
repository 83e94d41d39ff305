import { describe, expect, it } from "vitest";
import { DayRows } from "../../src/billing/compute.js";

const Q = 10n ** 10n;

describe("a batch's usage days held in columns", () => {
  it("answers each row's quantities exactly, from SQLite's bigint sums and PostgreSQL's text sums", () => {
    const rows = new DayRows();
    rows.push(7, 86_400_000, 3, 12n, 5_000_000_000n, 2n, 0n);
    rows.push(8, 0, 4, "1", "9999999999", "0", "0");
    expect(rows.now(0)).toBe(12n * Q + 5_000_000_000n);
    expect(rows.known(0)).toBe(2n * Q);
    expect(rows.now(1)).toBe(Q + 9_999_999_999n);
    expect(rows.known(1)).toBe(0n);
    expect([rows.seq[1], rows.day[0], rows.meterSeq[1]]).toEqual([8, 86_400_000, 4]);
  });

  it("keeps sums beyond the safe integers exact, and a fraction sum above one unit", () => {
    const rows = new DayRows();
    const huge = 2n ** 60n + 1n;
    rows.push(1, 0, 1, huge, 3n * Q + 7n, "90071992547409930", "0");
    expect(rows.now(0)).toBe(huge * Q + 3n * Q + 7n);
    expect(rows.known(0)).toBe(90_071_992_547_409_930n * Q);
  });

  it("grows past its first capacity and indexes rows by subscription", () => {
    const rows = new DayRows();
    for (let i = 0; i < 3000; i++) rows.push(i % 3, i, 1, BigInt(i), 0n, 0n, 0n);
    expect(rows.length).toBe(3000);
    expect(rows.now(2999)).toBe(2999n * Q);
    expect(rows.bySeq.get(2)).toHaveLength(1000);
    expect(rows.bySeq.get(1)!.slice(0, 2)).toEqual([1, 4]);
  });
});
