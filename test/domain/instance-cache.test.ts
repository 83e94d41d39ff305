import { describe, expect, it } from "vitest";
import { InstanceCache, type InstanceRow } from "../../src/usage/query.js";

/** An instance of exactly 100 characters as the cache counts them (64 of overhead, 36 of text). */
const row = (n: number): InstanceRow => ({
  hash: `h${String(n).padStart(5, "0")}`,
  resourceUri: `/r/${String(n).padStart(27, "0")}`,
  location: null,
  tags: null,
  additionalInfo: null,
});

describe("InstanceCache", () => {
  it("answers what it was given, and nothing else", () => {
    const c = new InstanceCache(10_000);
    c.set(1, row(1));
    c.set(2, row(2));
    expect(c.get(1)).toEqual(row(1));
    expect(c.get(2)).toEqual(row(2));
    expect(c.get(3)).toBeUndefined();
    expect(c.size).toBe(2);
  });

  it("keeps what was used lately and drops the rest, within its bound", () => {
    // A bound of 1,000 characters: a generation of 5 instances turns old; at most 10 are held.
    const c = new InstanceCache(1_000);
    for (let n = 1; n <= 5; n++) c.set(n, row(n)); // 1–5 turn old
    expect(c.get(1)).toEqual(row(1)); // read: back in the young generation
    for (let n = 10; n <= 13; n++) c.set(n, row(n)); // 1, 10–13 turn old; 2–5 are dropped
    expect(c.size).toBe(5);
    for (const n of [2, 3, 4, 5]) expect(c.get(n)).toBeUndefined();
    for (const n of [1, 10, 11, 12, 13]) expect(c.get(n)).toEqual(row(n));
    for (let n = 100; n < 1_100; n++) {
      c.set(n, row(n));
      expect(c.size).toBeLessThanOrEqual(10);
    }
    expect(c.get(1_099)).toEqual(row(1_099));
    expect(c.get(1)).toBeUndefined();
  });
});
