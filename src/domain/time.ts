/** Times are UTC epoch milliseconds everywhere inside tally. */
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export const floorHour = (t: number): number => t - (((t % HOUR) + HOUR) % HOUR);
export const floorDay = (t: number): number => t - (((t % DAY) + DAY) % DAY);

export function toIso(t: number): string {
  return new Date(t).toISOString();
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$/;

const daysInMonth = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/**
 * Strict ISO 8601 / RFC 3339 date-time with a mandatory offset. Returns epoch ms (sub-millisecond
 * digits are truncated) or a reason why the text is not a valid instant. Impossible dates
 * (2026-02-30) and leap seconds (:60) are rejected rather than rolled over.
 */
export function parseInstant(s: string): number | string {
  const m = ISO.exec(s);
  if (!m) return "must be an ISO 8601 date-time with an offset, e.g. 2026-01-31T13:00:00Z";
  const [, ys, mos, ds, hs, mis, ss, frac = "", off] = m as unknown as string[];
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const sec = Number(ss);
  if (mo < 1 || mo > 12) return `month ${mos} does not exist`;
  if (d < 1 || d > daysInMonth(y, mo)) return `day ${ds} does not exist in ${ys}-${mos}`;
  if (h > 23) return `hour ${hs} does not exist`;
  if (mi > 59) return `minute ${mis} does not exist`;
  if (sec > 59) return `second ${ss} does not exist (leap seconds are not accepted)`;
  let offsetMin = 0;
  if (off !== "Z" && off !== "z" && off !== undefined) {
    const oh = Number(off.slice(1, 3));
    const om = Number(off.slice(4, 6));
    if (oh > 23 || om > 59) return `offset ${off} is not valid`;
    offsetMin = (off[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms) - offsetMin * 60_000;
}

/** `YYYY-MM` of a UTC instant. */
export function monthOf(t: number): string {
  return new Date(t).toISOString().slice(0, 7);
}

/** Parses a duration such as `90s`, `15m`, `8h`, `30d` into milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR, d: DAY }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return n * unit;
}

/** The first UTC midnight at or after `t`. */
export const ceilDay = (t: number): number => floorDay(t + DAY - 1);

/** `YYYY-MM-DD` of a UTC instant. */
export function dateOf(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** The UTC month containing `t`, as [start, end). */
export function monthRange(t: number): { start: number; end: number } {
  const d = new Date(t);
  return {
    start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}
