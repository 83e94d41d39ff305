import { minorUnits } from "../rating/currency.js";
import { Dec } from "../rating/decimal.js";

/** An amount (decimal text already rounded to the currency's minor units) as a count of minor units. */
export function toMinor(amount: string, currency: string): bigint {
  const m = new Dec(amount).mul(new Dec(10).pow(minorUnits(currency)));
  if (!m.isInteger()) throw new Error(`amount ${amount} is not in whole minor units of ${currency}`);
  return BigInt(m.toFixed(0));
}

/** Minor units back to decimal text with exactly the currency's digits: 1234n USD → `12.34`. */
export function formatMinor(minor: bigint, currency: string): string {
  const digits = minorUnits(currency);
  const neg = minor < 0n;
  const a = (neg ? -minor : minor).toString().padStart(digits + 1, "0");
  const text = digits === 0 ? a : `${a.slice(0, -digits)}.${a.slice(-digits)}`;
  return neg ? `-${text}` : text;
}

/** round(n / d) half to even, for d > 0. */
function divRound(n: bigint, d: bigint): bigint {
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / d;
  const r2 = (a % d) * 2n;
  if (r2 > d || (r2 === d && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}

/**
 * Splits an amount over rows in proportion to their quantities by cumulative rounding: the row that
 * brings the running quantity from Qᵢ₋₁ to Qᵢ gets round(A·Qᵢ/Q) − round(A·Qᵢ₋₁/Q) minor units. Each
 * row is within one minor unit of its exact share, rows are priced as they stream by (only the
 * running total is kept), and once the running quantity reaches Q the rows add up to A exactly.
 */
export class CumulativeAllocation {
  private done = 0n;
  private given = 0n;

  constructor(
    /** A, in minor units. */
    readonly amount: bigint,
    /** Q, the total quantity the rows will bring (1e-10 units); 0 gives every row 0. */
    readonly total: bigint,
  ) {}

  /** The share of a row of `units`, in minor units. */
  next(units: bigint): bigint {
    if (this.total <= 0n) return 0n;
    this.done += units;
    const upTo = this.done >= this.total ? this.amount : divRound(this.amount * this.done, this.total);
    const share = upTo - this.given;
    this.given = upTo;
    return share;
  }

  /** What the rows so far were given, in minor units. */
  get allocated(): bigint {
    return this.given;
  }
}
