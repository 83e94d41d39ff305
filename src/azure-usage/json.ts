import { type AzureGranularity, formatAzureInstant, granularityName } from "../domain/azure-query.js";
import { formatQuantity, joinQuantity } from "../domain/quantity.js";
import { DAY, HOUR } from "../domain/time.js";
import type { AzurePage, InstanceText } from "./service.js";

/** The resource provider namespace items are typed with: the tenant's or the operator's. */
export type UsageNamespace = "Microsoft.Commerce" | "Microsoft.Commerce.Admin";

interface BucketText {
  /** `"usageStartTime":"…","usageEndTime":"…"`, as bytes */
  times: Buffer;
  /** `Hourly_20261123_1300`, as bytes */
  name: Buffer;
}

// A page repeats few buckets (a month has 744 hours, 31 days); their text is made once per process.
const bucketTexts = { hourly: new Map<number, BucketText>(), daily: new Map<number, BucketText>() };

function bucketText(g: AzureGranularity, t: number): BucketText {
  const cache = bucketTexts[g];
  let b = cache.get(t);
  if (b === undefined) {
    const s = new Date(t).toISOString();
    b = {
      times: Buffer.from(
        `"usageStartTime":"${formatAzureInstant(t)}","usageEndTime":"${formatAzureInstant(t + (g === "hourly" ? HOUR : DAY))}"`,
      ),
      name: Buffer.from(
        `${granularityName(g)}_${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}_${s.slice(11, 13)}${s.slice(14, 16)}`,
      ),
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

/** Where a segment of an item's text was first written in the page: `[start, end)`. */
type Segment = [start: number, end: number];

/**
 * Appends bytes to a growing buffer. A page is ~0.9 MB, and nearly all of it is text repeated
 * from item to item (a subscription's, meter's and instance's parts, a bucket's dates): written
 * once per page as bytes and copied, rather than joined into strings that are flattened and
 * encoded item by item.
 */
class ByteWriter {
  private buf: Buffer;
  private n = 0;

  constructor(sizeHint: number, buffers: PageBuffers | undefined) {
    this.buf = buffers?.take(sizeHint) ?? PageBuffers.alloc(Math.max(1024, sizeHint));
  }

  private reserve(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const bigger = PageBuffers.alloc(Math.max(this.buf.length * 2, this.n + bytes));
    this.buf.copy(bigger, 0, 0, this.n);
    this.buf = bigger;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  /** Short ASCII text (numbers, punctuation), written without the encoder's call overhead. */
  ascii(s: string): void {
    this.reserve(s.length);
    const buf = this.buf;
    let n = this.n;
    for (let i = 0; i < s.length; i++) buf[n++] = s.charCodeAt(i);
    this.n = n;
  }

  /**
   * `quantityText(units, frac)` written digit by digit in the usual case (both sums plain digits
   * within the doubles' exact integers), making at most the text of a carried whole part.
   */
  quantity(units: string, frac: string): void {
    const f0 = frac.charCodeAt(0);
    const u0 = units.charCodeAt(0);
    if (units.length > 15 || frac.length > 15 || f0 < 48 || f0 > 57 || u0 < 48 || u0 > 57) {
      this.ascii(quantityText(units, frac));
      return;
    }
    // Digits beyond the fraction's ten carry into the whole part.
    const start = frac.length > 10 ? frac.length - 10 : 0;
    const whole = start > 0 ? String(Number(units) + Number(frac.slice(0, start))) : units;
    let end = frac.length;
    while (end > start && frac.charCodeAt(end - 1) === 48) end--;
    this.reserve(whole.length + 11);
    const buf = this.buf;
    let n = this.n;
    for (let i = 0; i < whole.length; i++) buf[n++] = whole.charCodeAt(i);
    if (end > start) {
      buf[n++] = 46; // .
      for (let i = frac.length - start; i < 10; i++) buf[n++] = 48;
      for (let i = start; i < end; i++) buf[n++] = frac.charCodeAt(i);
    }
    this.n = n;
  }

  /** Text of any characters, as UTF-8. */
  text(s: string): void {
    this.reserve(s.length * 3);
    this.n += this.buf.write(s, this.n, "utf8");
  }

  /** Where the next byte goes: the start (and then the end) of a segment to write again. */
  get at(): number {
    return this.n;
  }

  /** Writes again the bytes of a segment written earlier in this page; false when there is none yet. */
  repeat(segment: Segment | undefined): boolean {
    if (segment === undefined) return false;
    const [start, end] = segment;
    this.reserve(end - start);
    this.buf.copyWithin(this.n, start, end);
    this.n += end - start;
    return true;
  }

  /** Writes ASCII parts, answering where they went: a segment to `repeat`. */
  asciiSegment(...parts: string[]): Segment {
    const start = this.n;
    for (const p of parts) this.ascii(p);
    return [start, this.n];
  }

  result(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

const MAX_KEPT_BUFFERS = 4;
const MAX_KEPT_BYTES = 8 * 1024 * 1024;

/**
 * Page-sized buffers, used again once the page written in them has been sent. A fresh megabyte
 * per page costs the kernel's zeroing of its memory and the collector's work afterwards, as much
 * as writing the page; a few buffers kept serve one page at a time each.
 */
export class PageBuffers {
  /** The memory pages are written in: never a slice of Node's shared pool of small buffers. */
  private static readonly pages = new WeakSet<ArrayBufferLike>();
  private readonly free: Buffer[] = [];

  static alloc(size: number): Buffer {
    const b = Buffer.allocUnsafeSlow(size);
    PageBuffers.pages.add(b.buffer);
    return b;
  }

  take(size: number): Buffer | undefined {
    const i = this.free.findIndex((b) => b.length >= size);
    return i < 0 ? undefined : this.free.splice(i, 1)[0];
  }

  /** Hands back the memory of a page (`pageJson`'s answer), once nothing reads it any more. */
  give(page: Buffer): void {
    const whole = page.buffer;
    if (!PageBuffers.pages.has(whole) || whole.byteLength > MAX_KEPT_BYTES) return;
    if (this.free.length >= MAX_KEPT_BUFFERS || this.free.some((b) => b.buffer === whole)) return;
    this.free.push(Buffer.from(whole, 0, whole.byteLength));
  }
}

const OPEN = Buffer.from('{"value":[');

/**
 * The parts of an item's text that depend on its instance (and so its subscription) and meter,
 * each written once per page, then copied from where it was first written.
 */
interface InstanceSegments {
  subscription: string;
  instance: InstanceText;
  /** `_{tag}","type":"{type}","properties":{"subscriptionId":"{s}",` */
  mid?: Segment;
  /** `,"instanceData":"…","quantity":` */
  data?: Segment;
  /** With each meter: `{"id":"/subscriptions/{s}/providers/{type}/{s}-{m}-` and `_{tag}","name":"{s}-{m}-`. */
  byMeter: Map<number, { meter: string; head?: Segment; name?: Segment }>;
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
  o: {
    namespace: UsageNamespace;
    granularity: AzureGranularity;
    nextLink: string | undefined;
    /** Where to take the page's memory from; the caller gives it back once the page is sent. */
    buffers?: PageBuffers;
  },
): Buffer {
  const type = `${o.namespace}/UsageAggregate`;
  const providers = `/providers/${type}/`;
  const typed = `","type":"${type}","properties":{"subscriptionId":"`;
  const out = new ByteWriter(page.rows.length * 1024 + 512, o.buffers);
  const segments = new Map<number, InstanceSegments>();
  const meterTail = new Map<number, Segment>();
  out.bytes(OPEN);
  for (let k = 0; k < page.rows.length; k++) {
    const r = page.rows[k]!;
    const [s, b, m, i] = r.key;
    let it = segments.get(i);
    if (it === undefined) {
      const subscription = page.subscriptions.get(s);
      const instance = page.instances.get(i);
      if (subscription === undefined || instance === undefined)
        throw new Error(`aggregate ${r.key.join("/")} refers to a missing row`);
      it = { subscription, instance, byMeter: new Map() };
      segments.set(i, it);
    }
    let pair = it.byMeter.get(m);
    if (pair === undefined) {
      const meter = page.meters.get(m);
      if (meter === undefined) throw new Error(`aggregate ${r.key.join("/")} refers to a missing row`);
      pair = { meter };
      it.byMeter.set(m, pair);
    }
    const sub = it.subscription;
    const tag = it.instance.tag;
    const meter = pair.meter;
    const bucket = bucketText(o.granularity, b);
    // Each segment is copied from where it was first written on this page, or written (and noted).
    // name = {subscriptionId}-{meterId}-{bucket}_{instance}; the id ends with it, `name` repeats it.
    if (k > 0) out.ascii(",");
    if (!out.repeat(pair.head))
      pair.head = out.asciiSegment('{"id":"/subscriptions/', sub, providers, sub, "-", meter, "-");
    out.bytes(bucket.name);
    if (!out.repeat(pair.name)) pair.name = out.asciiSegment("_", tag, '","name":"', sub, "-", meter, "-");
    out.bytes(bucket.name);
    if (!out.repeat(it.mid)) it.mid = out.asciiSegment("_", tag, typed, sub, '",');
    out.bytes(bucket.times);
    if (!out.repeat(it.data)) {
      const at = out.at;
      out.ascii(',"instanceData":');
      out.text(it.instance.json);
      out.ascii(',"quantity":');
      it.data = [at, out.at];
    }
    out.quantity(r.units, r.frac);
    const tail = meterTail.get(m);
    if (!out.repeat(tail)) meterTail.set(m, out.asciiSegment(',"meterId":"', meter, '"}}'));
  }
  out.ascii("]");
  if (o.nextLink !== undefined) out.text(`,"nextLink":${JSON.stringify(o.nextLink)}`);
  out.ascii("}");
  return out.result();
}
