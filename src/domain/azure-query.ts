import { DAY, HOUR } from "./time.js";

/**
 * The query string of the Azure-compatible usage APIs, read the way real clients write it
 * (reference §2.3): parameters are percent-decoded without form semantics, so a literal `+` in an
 * unescaped offset (`…T01:00:00.0000000+01:00`, as the Az PowerShell module sends it) stays a `+`.
 */
export interface QueryParam {
  /** The name as the client spelled it (messages quote it back). */
  name: string;
  value: string;
}

export type RawQuery = ReadonlyMap<string, QueryParam>;

export type QueryProblem = { param: string; reason: string };

/**
 * Parses the query part of a raw request URL into parameters keyed by lower-cased name (ARM
 * matches query parameter names case-insensitively). A malformed escape, or one parameter given
 * twice with different values, is a problem naming that parameter: an ambiguous window must not
 * be answered with either of its readings.
 */
export function parseRawQuery(url: string): RawQuery | QueryProblem {
  const q = url.indexOf("?");
  const out = new Map<string, QueryParam>();
  if (q < 0) return out;
  const hash = url.indexOf("#", q);
  const text = url.slice(q + 1, hash < 0 ? undefined : hash);
  for (const part of text.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      return { param: rawName, reason: "the parameter name is not validly percent-encoded" };
    }
    try {
      value = decodeURIComponent(rawValue);
    } catch {
      return { param: name, reason: "the value is not validly percent-encoded" };
    }
    const key = name.toLowerCase();
    const seen = out.get(key);
    if (seen && seen.value !== value)
      return { param: name, reason: "is given more than once with different values" };
    out.set(key, { name, value });
  }
  return out;
}

export const isQueryProblem = (v: RawQuery | QueryProblem): v is QueryProblem => !(v instanceof Map);

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(?:([Zz])|([+\- ])(\d{2}):?(\d{2})([Zz])?)?$/;

const daysInMonth = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/**
 * An instant as the usage API's clients send it, to epoch ms, or the reason it is not one.
 * Accepted: a date or a date-time with 0–9 fractional digits (7 from .NET, 3 from JavaScript);
 * `Z`, `±hh:mm` or `±hhmm`, a `Z` after an explicit offset (the documentation's own example
 * `2015-06-16T18:53:11+00:00Z`; the offset counts), or no offset at all (UTC, as PowerShell's
 * `{0:s}` writes it). A space where the offset's sign belongs is a `+` that some client
 * form-decoded. Impossible dates and leap seconds are refused, not rolled over.
 */
export function parseAzureInstant(s: string): number | string {
  const m = INSTANT.exec(s.trim());
  if (!m)
    return "is not an ISO 8601 date-time; send e.g. 2026-11-01T00:00:00Z or 2026-11-01T00:00:00.0000000+00:00";
  const [, ys, mos, ds, hs = "00", mis = "00", ss = "00", frac = "", , sign, oh, om] = m as unknown as (
    | string
    | undefined
  )[];
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
  if (sec > 59) return `second ${ss} does not exist`;
  let offsetMin = 0;
  if (sign !== undefined) {
    const ohn = Number(oh);
    const omn = Number(om);
    if (ohn > 23 || omn > 59) return `offset ${sign.trim() || "+"}${oh}:${om} is not valid`;
    offsetMin = (sign === "-" ? -1 : 1) * (ohn * 60 + omn);
  }
  // Usage windows start on whole hours: finer than a millisecond can only be a mistake, never rounded away.
  if (/[1-9]/.test(frac.slice(3))) return "is more precise than a millisecond";
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms) - offsetMin * 60_000;
}

export type AzureGranularity = "daily" | "hourly";

/** `Daily` (the default when absent) or `Hourly`, in any case; undefined when invalid. */
export function parseGranularity(v: string | undefined): AzureGranularity | undefined {
  if (v === undefined) return "daily";
  const k = v.trim().toLowerCase();
  return k === "daily" || k === "hourly" ? k : undefined;
}

export const granularityName = (g: AzureGranularity) => (g === "daily" ? "Daily" : "Hourly");

/** Whether an instant lies on a bucket boundary: a whole UTC hour, or a UTC midnight. */
export function onBoundary(t: number, g: AzureGranularity): boolean {
  return t % (g === "hourly" ? HOUR : DAY) === 0;
}

/** `yyyy-MM-ddTHH:mm:ss+00:00`, the form the Azure Stack documentation shows for usage times. */
export function formatAzureInstant(t: number): string {
  return `${new Date(t).toISOString().slice(0, 19)}+00:00`;
}
