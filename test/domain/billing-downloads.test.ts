import { describe, expect, it } from "vitest";
import { CumulativeAllocation, formatMinor, toMinor } from "../../src/domain/billing/allocation.js";
import { resourceParts } from "../../src/domain/billing/resource-uri.js";

const allocate = (amount: bigint, quantities: bigint[]) => {
  const a = new CumulativeAllocation(
    amount,
    quantities.reduce((s, q) => s + q, 0n),
  );
  return quantities.map((q) => a.next(q));
};

describe("cumulative allocation", () => {
  it("splits an amount exactly, each share within one minor unit of its exact part", () => {
    expect(allocate(100n, [1n, 1n, 1n])).toEqual([33n, 34n, 33n]);
    expect(allocate(1n, [1n, 1n, 1n, 1n])).toEqual([0n, 0n, 1n, 0n]); // 0.5 rounds to even
    expect(allocate(-500n, [3n, 7n])).toEqual([-150n, -350n]);
    expect(allocate(0n, [5n, 5n])).toEqual([0n, 0n]);
    expect(allocate(999n, [0n, 10n, 0n])).toEqual([0n, 999n, 0n]);
  });

  it("adds up to the amount for any quantities", () => {
    let seed = 1;
    const next = () => {
      seed = (seed * 48271) % 2147483647;
      return seed;
    };
    for (let round = 0; round < 200; round++) {
      const qs = Array.from({ length: 1 + (next() % 50) }, () => BigInt(next()) * 12345n);
      const amount = BigInt(next() % 1_000_000) - 300_000n;
      const shares = allocate(amount, qs);
      expect(shares.reduce((s, x) => s + x, 0n)).toBe(amount);
      const total = qs.reduce((s, q) => s + q, 0n);
      shares.forEach((s, i) => {
        const exact = (Number(amount) * Number(qs[i])) / Number(total);
        expect(Math.abs(Number(s) - exact)).toBeLessThanOrEqual(1.0000001);
      });
    }
  });

  it("gives nothing when there is no quantity to divide by", () => {
    expect(allocate(100n, [0n, 0n])).toEqual([0n, 0n]);
  });
});

describe("money in minor units", () => {
  it("converts exactly both ways, by the currency's minor units", () => {
    expect(toMinor("12.34", "EUR")).toBe(1234n);
    expect(toMinor("-0.05", "USD")).toBe(-5n);
    expect(toMinor("1230", "JPY")).toBe(1230n);
    expect(toMinor("1.005", "KWD")).toBe(1005n);
    expect(() => toMinor("1.005", "EUR")).toThrow();
    expect(formatMinor(1234n, "EUR")).toBe("12.34");
    expect(formatMinor(-5n, "USD")).toBe("-0.05");
    expect(formatMinor(7n, "JPY")).toBe("7");
    expect(formatMinor(0n, "KWD")).toBe("0.000");
  });
});

describe("resource id parts", () => {
  it("reads the resource group, the provider namespace and the name", () => {
    expect(
      resourceParts(
        "/subscriptions/s/resourceGroups/Prod-RG/providers/Microsoft.Compute/virtualMachines/vm1",
      ),
    ).toEqual({ resourceGroup: "Prod-RG", consumedService: "Microsoft.Compute", resourceName: "vm1" });
    expect(
      resourceParts(
        "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Sql/servers/db1/databases/orders",
      ),
    ).toEqual({ resourceGroup: "rg", consumedService: "Microsoft.Sql", resourceName: "orders" });
    expect(resourceParts("/subscriptions/s/resourceGroups/rg")).toEqual({
      resourceGroup: "rg",
      consumedService: "",
      resourceName: "",
    });
    expect(resourceParts("just-a-name")).toEqual({
      resourceGroup: "",
      consumedService: "",
      resourceName: "",
    });
  });
});
