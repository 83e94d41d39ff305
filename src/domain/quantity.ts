/**
 * Usage quantities are exact fixed-point numbers with 10 fractional digits, held as a bigint count
 * of 1e-10 units. In storage a quantity is two integer columns, the whole part and the fraction
 * (0 ≤ frac < 1e10), so that SQL `SUM` stays exact on SQLite and PostgreSQL alike.
 */
export type Quantity = bigint;

export const FRACTION_DIGITS = 10;
export const SCALE = 10n ** BigInt(FRACTION_DIGITS);
const SCALE_N = 10 ** FRACTION_DIGITS;
export const MAX_QUANTITY: Quantity = 10n ** 15n * SCALE;

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * Parses a decimal string or a JSON number into a quantity, or returns the reason it is not one:
 * finite, ≥ 0, at most 10^15, and exact in 10 fractional digits (trailing zeros are fine).
 */
export function parseQuantity(v: unknown): Quantity | string {
  let text: string;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return "must be a finite number";
    text = String(v);
  } else if (typeof v === "string") {
    text = v.trim();
    if (text === "") return "must not be empty";
  } else {
    return "must be a number or a decimal string";
  }
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return `'${clip(text)}' is not a decimal number`;
  const [, sign, whole = "", frac = "", expText] = m;
  const exp = expText === undefined ? 0 : Number(expText);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 64) return "exponent is out of range";
  // Shift the decimal point by the exponent on the digit string, then scale to 1e-10 units.
  const digits = (whole + frac).replace(/^0+(?=\d)/, "");
  let point = whole.length + exp; // position of the decimal point within `digits` (before trimming)
  point -= (whole + frac).length - digits.length;
  const fracDigits = digits.length - point;
  if (fracDigits > FRACTION_DIGITS) {
    const extra = digits.slice(digits.length - (fracDigits - FRACTION_DIGITS));
    if (/[^0]/.test(extra)) return `has more than ${FRACTION_DIGITS} fractional digits`;
  }
  let q: bigint;
  if (fracDigits >= FRACTION_DIGITS) {
    const keep = digits.slice(0, digits.length - (fracDigits - FRACTION_DIGITS));
    q = keep === "" ? 0n : BigInt(keep);
  } else {
    if (digits.length + (FRACTION_DIGITS - fracDigits) > 40) return "must be at most 10^15";
    q = BigInt(digits === "" ? "0" : digits) * 10n ** BigInt(FRACTION_DIGITS - fracDigits);
  }
  if (sign === "-" && q !== 0n) return "must not be negative";
  if (q > MAX_QUANTITY) return "must be at most 10^15";
  return q;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

const SIMPLE = /^(\d{1,15})(?:\.(\d{1,10}))?$/;

/**
 * The storage columns of a quantity, straight from its text or number: a fast path without bigint
 * arithmetic for the common forms (plain decimals up to 15 whole and 10 fractional digits, safe
 * integers), and the exact general parser for everything else.
 */
export function parseQuantityParts(v: unknown): [units: number, frac: number] | string {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= 1e15) return [v, 0];
  const text = typeof v === "number" && Number.isFinite(v) ? String(v) : v;
  if (typeof text === "string") {
    const m = SIMPLE.exec(text);
    if (m) {
      const units = Number(m[1]);
      if (units < 1e15 || (units === 1e15 && (m[2] === undefined || /^0*$/.test(m[2])))) {
        return [units, m[2] === undefined ? 0 : Number(m[2].padEnd(FRACTION_DIGITS, "0"))];
      }
    }
  }
  const q = parseQuantity(v);
  return typeof q === "string" ? q : splitQuantity(q);
}

/** Exact decimal text without trailing zeros: 24000000000n → "2.4". */
export function formatQuantity(q: Quantity): string {
  const neg = q < 0n;
  const a = neg ? -q : q;
  const whole = a / SCALE;
  const frac = a % SCALE;
  let s = whole.toString();
  if (frac !== 0n) s += `.${frac.toString().padStart(FRACTION_DIGITS, "0").replace(/0+$/, "")}`;
  return neg ? `-${s}` : s;
}

/** Splits a quantity into its storage columns (both safe JS integers for quantities ≤ 10^15). */
export function splitQuantity(q: Quantity): [units: number, frac: number] {
  return [Number(q / SCALE), Number(q % SCALE)];
}

/** Joins summed storage columns back into a quantity; sums arrive as number, bigint or string. */
export function joinQuantity(units: number | bigint | string, frac: number | bigint | string): Quantity {
  return BigInt(units) * SCALE + BigInt(frac);
}

export const quantityFromUnits = (units: number, frac: number): Quantity =>
  Number.isSafeInteger(units * SCALE_N + frac)
    ? BigInt(units * SCALE_N + frac)
    : BigInt(units) * SCALE + BigInt(frac);
