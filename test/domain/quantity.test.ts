import { describe, expect, it } from "vitest";
import {
  formatQuantity,
  joinQuantity,
  MAX_QUANTITY,
  parseQuantity,
  splitQuantity,
} from "../../src/domain/quantity.js";

const q = (v: unknown) => {
  const r = parseQuantity(v);
  if (typeof r === "string") throw new Error(r);
  return r;
};

describe("quantities", () => {
  it("parses decimal strings and numbers exactly", () => {
    expect(formatQuantity(q("2.4"))).toBe("2.4");
    expect(formatQuantity(q(2.4))).toBe("2.4");
    expect(formatQuantity(q("0.0000000001"))).toBe("0.0000000001");
    expect(formatQuantity(q("1000000000000000"))).toBe("1000000000000000");
    expect(formatQuantity(q("1e15"))).toBe("1000000000000000");
    expect(formatQuantity(q("1.5E-3"))).toBe("0.0015");
    expect(formatQuantity(q(1e-7))).toBe("0.0000001");
    expect(formatQuantity(q("007.50"))).toBe("7.5");
    expect(formatQuantity(q("0"))).toBe("0");
    expect(formatQuantity(q("-0"))).toBe("0");
    expect(formatQuantity(q("1.50000000000000"))).toBe("1.5");
    expect(formatQuantity(q(".5"))).toBe("0.5");
  });

  it("adds 0.1 ten times to exactly 1", () => {
    let sum = 0n;
    for (let i = 0; i < 10; i++) sum += q("0.1");
    expect(formatQuantity(sum)).toBe("1");
    let floats = 0;
    for (let i = 0; i < 10; i++) floats += 0.1;
    expect(floats).not.toBe(1); // the reason quantities are not floats
  });

  it("rejects what is not an exact non-negative quantity", () => {
    expect(parseQuantity("-1")).toMatch(/negative/);
    expect(parseQuantity(Number.NaN)).toMatch(/finite/);
    expect(parseQuantity(Number.POSITIVE_INFINITY)).toMatch(/finite/);
    expect(parseQuantity("NaN")).toMatch(/not a decimal/);
    expect(parseQuantity("Infinity")).toMatch(/not a decimal/);
    expect(parseQuantity("1e999999999")).toMatch(/exponent/);
    expect(parseQuantity("1e40")).toMatch(/10\^15/);
    expect(parseQuantity("1000000000000000.0000000001")).toMatch(/10\^15/);
    expect(parseQuantity("0.00000000001")).toMatch(/fractional digits/);
    expect(parseQuantity("1.2.3")).toMatch(/not a decimal/);
    expect(parseQuantity("")).toMatch(/empty/);
    expect(parseQuantity(".")).toMatch(/not a decimal/);
    expect(parseQuantity(true)).toMatch(/number or a decimal string/);
    expect(parseQuantity(null)).toMatch(/number or a decimal string/);
  });

  it("round-trips through the two storage columns", () => {
    for (const s of ["0", "2.4", "0.0000000001", "999999999999999.9999999999", "1000000000000000"]) {
      const v = q(s);
      const [units, frac] = splitQuantity(v);
      expect(Number.isSafeInteger(units)).toBe(true);
      expect(joinQuantity(units, frac)).toBe(v);
    }
    expect(MAX_QUANTITY).toBe(q("1e15"));
    // sums of both columns, as SQL returns them, join exactly
    expect(formatQuantity(joinQuantity("3", "25000000000"))).toBe("5.5");
  });
});
