import { type AzureGranularity, formatAzureInstant, granularityName } from "../domain/azure-query.js";
import { formatQuantity, joinQuantity } from "../domain/quantity.js";
import { DAY, HOUR } from "../domain/time.js";
import type { AzurePage } from "./service.js";

/** The resource provider namespace items are typed with: the tenant's or the operator's. */
export type UsageNamespace = "Microsoft.Commerce" | "Microsoft.Commerce.Admin";

interface BucketText {
  /** `"usageStartTime":"…","usageEndTime":"…"` */
  times: string;
  /** `Hourly_20261123_1300` */
  name: string;
}

// A page repeats few buckets (a month has 744 hours, 31 days); their text is made once per process.
const bucketTexts = { hourly: new Map<number, BucketText>(), daily: new Map<number, BucketText>() };

function bucketText(g: AzureGranularity, t: number): BucketText {
  const cache = bucketTexts[g];
  let b = cache.get(t);
  if (b === undefined) {
    const s = new Date(t).toISOString();
    b = {
      times: `"usageStartTime":"${formatAzureInstant(t)}","usageEndTime":"${formatAzureInstant(t + (g === "hourly" ? HOUR : DAY))}"`,
      name: `${granularityName(g)}_${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}_${s.slice(11, 13)}${s.slice(14, 16)}`,
    };
    if (cache.size >= 50_000) cache.clear();
    cache.set(t, b);
  }
  return b;
}

const SCALE = 1e10;

/**
 * The exact decimal text of summed quantity columns: in plain numbers while both sums are well
 * inside the doubles' exact integers (the usual case), else through bigint.
 */
export function quantityText(units: string, frac: string): string {
  if (units.length > 15 || frac.length > 15) return formatQuantity(joinQuantity(units, frac));
  const f = Number(frac);
  const whole = Number(units) + Math.floor(f / SCALE);
  let rest = f % SCALE;
  if (rest === 0) return String(whole);
  let digits = 10;
  while (rest % 10 === 0) {
    rest /= 10;
    digits--;
  }
  const text = String(rest);
  return `${whole}.${"0".repeat(digits - text.length)}${text}`;
}

type Utf8Writer = (this: Buffer, s: string, offset: number) => number;
// Buffer's own UTF-8 encoder without `write`'s argument handling: a tenth of a microsecond per call,
// a thousand calls a page. (Present on every Node Buffer; `write` is the fallback.)
const utf8Write: Utf8Writer =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Writer }).utf8Write ??
  function (this: Buffer, s: string, offset: number) {
    return this.write(s, offset);
  };

/**
 * Appends text to a growing buffer as UTF-8. A page is ~0.9 MB: one item's text written straight
 * into the bytes costs a fifth of what building one string for the page, joining it and encoding
 * the result does.
 */
class ByteWriter {
  private buf: Buffer;
  private n = 0;

  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, sizeHint));
  }

  put(s: string): void {
    if (this.n + s.length * 3 > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + s.length * 3));
      this.buf.copy(bigger, 0, 0, this.n);
      this.buf = bigger;
    }
    this.n += utf8Write.call(this.buf, s, this.n);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

/**
 * A usage-API page as JSON (UTF-8 bytes), written field by field rather than by a schema
 * serializer, because the exact text is the contract (reference §2.6–§2.7, §9.3: the SDKs accept
 * malformed answers, so nothing downstream would notice a mistake): `value` always present; items
 * with `id`, `name`, `type` and `properties.{subscriptionId, usageStartTime, usageEndTime,
 * instanceData, quantity, meterId}` in the documented order; dates `yyyy-MM-ddTHH:mm:ss+00:00`;
 * `instanceData` a JSON string; `quantity` a JSON number written from the exact decimal text,
 * never through a double; `nextLink` only when another page follows.
 *
 * The documented name `{subscriptionId}-{meterId}` is not unique when several resources share a
 * meter, or a query spans several buckets; the granularity, the bucket and the instance's content
 * hash are appended to it (`…-Hourly_20261123_1300_3f2a…`), keeping the documented prefix.
 * Subscription ids are GUIDs and meter ids catalogue GUIDs (validated on the way in): they need
 * no escaping.
 */
export function pageJson(
  page: Pick<AzurePage, "rows" | "subscriptions" | "meters" | "instances">,
  o: { namespace: UsageNamespace; granularity: AzureGranularity; nextLink: string | undefined },
): Buffer {
  const type = `${o.namespace}/UsageAggregate`;
  const out = new ByteWriter(page.rows.length * 1024 + 512);
  // The text around each item's variable parts, made once per subscription, meter and instance.
  const subText = new Map<number, { head: string; name: string; mid: string }>();
  const meterText = new Map<number, { name: string; tail: string }>();
  const instText = new Map<number, { tag: string; data: string }>();
  out.put('{"value":[');
  for (let k = 0; k < page.rows.length; k++) {
    const r = page.rows[k]!;
    const [s, b, m, i] = r.key;
    let st = subText.get(s);
    let mt = meterText.get(m);
    let it = instText.get(i);
    if (st === undefined || mt === undefined || it === undefined) {
      const sub = page.subscriptions.get(s);
      const meter = page.meters.get(m);
      const inst = page.instances.get(i);
      if (sub === undefined || meter === undefined || inst === undefined)
        throw new Error(`aggregate ${r.key.join("/")} refers to a missing row`);
      st ??= {
        head: `{"id":"/subscriptions/${sub}/providers/${type}/${sub}-`,
        name: `","name":"${sub}-`,
        mid: `","type":"${type}","properties":{"subscriptionId":"${sub}",`,
      };
      mt ??= { name: `${meter}-`, tail: `,"meterId":"${meter}"}}` };
      it ??= { tag: `_${inst.tag}`, data: `,"instanceData":${inst.json},"quantity":` };
      subText.set(s, st);
      meterText.set(m, mt);
      instText.set(i, it);
    }
    const bucket = bucketText(o.granularity, b);
    // name = {subscriptionId}-{meterId}-{bucket}_{instance}; the id ends with it, `name` repeats it.
    const tail = `${mt.name}${bucket.name}${it.tag}`;
    out.put(
      `${k > 0 ? "," : ""}${st.head}${tail}${st.name}${tail}${st.mid}${bucket.times}${it.data}` +
        `${quantityText(r.units, r.frac)}${mt.tail}`,
    );
  }
  out.put("]");
  if (o.nextLink !== undefined) out.put(`,"nextLink":${JSON.stringify(o.nextLink)}`);
  out.put("}");
  return out.bytes();
}
