import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/domain/cursor.js";
import { DomainError } from "../../src/domain/errors.js";
import { canonicalGuid, meterKey } from "../../src/domain/ids.js";

describe("ids", () => {
  it("compares meter ids case- and hyphen-insensitively", () => {
    const k = meterKey("FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5");
    expect(k).toBe("FAB6EB84500B4A09A8CA7358F8BBAEA5");
    expect(meterKey("fab6eb84500b4a09a8ca7358f8bbaea5")).toBe(k);
    expect(meterKey("fab6eb84-500b-4a09-a8ca-7358f8bbaea5")).toBe(k);
    expect(meterKey("F271A8A388C44D93956A063E1D2FA80B")).toBe("F271A8A388C44D93956A063E1D2FA80B");
    expect(meterKey("not-a-meter")).toBeUndefined();
    expect(meterKey("FAB6EB84-500B-4A09-A8CA-7358F8BBAEA")).toBeUndefined();
    expect(meterKey("F-A-B6EB84500B4A09A8CA7358F8BBAEA5")).toBeUndefined();
  });

  it("canonicalises GUIDs to lower case with hyphens", () => {
    expect(canonicalGuid("11111111-AAAA-4BBB-8CCC-DDDDDDDDDDDD")).toBe(
      "11111111-aaaa-4bbb-8ccc-dddddddddddd",
    );
    expect(canonicalGuid("11111111aaaa4bbb8cccdddddddddddd")).toBe("11111111-aaaa-4bbb-8ccc-dddddddddddd");
    expect(canonicalGuid("nope")).toBeUndefined();
  });

  it("round-trips cursors and rejects forged ones", () => {
    expect(decodeCursor(encodeCursor(["a", 3]), ["string", "number"])).toEqual(["a", 3]);
    expect(() => decodeCursor("garbage!!", ["string"])).toThrow(DomainError);
    expect(() => decodeCursor(encodeCursor([1]), ["string"])).toThrow(/cursor/);
  });
});
