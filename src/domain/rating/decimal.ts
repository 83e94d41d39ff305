import { Decimal } from "decimal.js";

/**
 * decimal.js configured so that no operation tally performs on money ever rounds by accident:
 * prices (≤ 30 significant digits) times quantities (≤ 25) times a markup factor (≤ 12), summed
 * over any number of lines, stay far below 200 significant digits. Rounding happens only where
 * `roundMoney` is called, with the rule the operator chose.
 */
export const Dec = Decimal.clone({
  precision: 200,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -1000,
  toExpPos: 1000,
});
export type Dec = Decimal;

export const ZERO = new Dec(0);

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?$/;

export interface DecimalLimits {
  /** Most digits before the decimal point. */
  integerDigits: number;
  /** Most digits after the decimal point (after removing trailing zeros). */
  fractionDigits: number;
  negative?: boolean;
}

/**
 * Parses a decimal written as text (a JSON number's digits or a string) within limits, answering
 * the value or the reason it is not acceptable. Only plain decimal notation (with an optional
 * exponent) is accepted: decimal.js would also take hexadecimal and `Infinity`, which no price is.
 */
export function parseDecimal(v: unknown, limits: DecimalLimits): Dec | string {
  const text =
    typeof v === "number"
      ? Number.isFinite(v)
        ? String(v)
        : ""
      : typeof v === "string"
        ? v.trim()
        : undefined;
  if (text === undefined) return "must be a decimal number or a decimal string";
  if (!NUMBER_TEXT.test(text)) return `'${text.slice(0, 40)}' is not a decimal number`;
  const d = new Dec(text);
  if (d.isNeg() && !d.isZero() && !limits.negative) return "must not be negative";
  if (d.decimalPlaces() > limits.fractionDigits)
    return `must have at most ${limits.fractionDigits} digits after the decimal point`;
  if (d.abs().trunc().toFixed().length > limits.integerDigits)
    return `must have at most ${limits.integerDigits} digits before the decimal point`;
  return d.isZero() ? ZERO : d;
}

/** A decimal's canonical text: plain notation, no trailing zeros, no negative zero. */
export function decimalText(d: Dec): string {
  return d.isZero() ? "0" : d.toFixed();
}
