import { randomBytes, randomUUID } from "node:crypto";

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered ids are what a
 * resource provider that cares about index locality emits; random v4 ids are the costly case.
 */
export function uuidv7(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METERS = [
  "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5", // Base VM Size Hours
  "9CD92D4C-BAFD-4492-B278-BEDC2DE8232A", // Windows VM Size Hours
  "6DAB500F-A4FD-49C4-956D-229BB9C8C793", // VM size hours
  "09F8879E-87E9-4305-A572-4B7BE209F857", // BlockBlobCapacity
  "F271A8A388C44D93956A063E1D2FA80B", // Static IP
  "CBCFEF9A-B91F-4597-A4D3-01FE334BED82", // SQL MB*hours
];

export interface BenchRecord {
  id: string;
  subscriptionId: string;
  meterId: string;
  quantity: string;
  usageStartTime: string;
  usageEndTime: string;
  resourceUri: string;
  location: string;
  tags?: Record<string, string>;
  additionalInfo?: Record<string, unknown>;
}

export type IdKind = "v7" | "v4";

/**
 * Realistic usage records: UUIDv7 record ids by default (random v4 ids on request),
 * one record per resource, meter and hour, resource URIs in the Azure form, tags and
 * additionalInfo on part of them, quantities with decimals.
 */
export function makeRecords(
  n: number,
  subscriptions: string[],
  endHour: number,
  seed = 1,
  ids: IdKind = "v7",
): BenchRecord[] {
  const rand = rng(seed);
  const t0 = Date.now();
  const out: BenchRecord[] = new Array(n);
  const resourcesPerSub = 8;
  for (let i = 0; i < n; i++) {
    const sub = subscriptions[Math.floor(rand() * subscriptions.length)]!;
    const res = Math.floor(rand() * resourcesPerSub);
    const meter = METERS[res % METERS.length]!;
    const hour = endHour - (1 + Math.floor(rand() * 48)) * 3_600_000;
    const vcpus = 1 + Math.floor(rand() * 16);
    out[i] = {
      id: ids === "v7" ? uuidv7(t0 + Math.floor(i / 64)) : randomUUID(),
      subscriptionId: sub,
      meterId: meter,
      quantity: res < 3 ? String(vcpus) : (rand() * 1000).toFixed(6),
      usageStartTime: new Date(hour).toISOString(),
      usageEndTime: new Date(hour + 3_600_000).toISOString(),
      resourceUri: `/subscriptions/${sub}/resourceGroups/rg-${res % 3}/providers/Microsoft.Compute/virtualMachines/vm-${res}`,
      location: "local",
      ...(res % 2 === 0 ? { tags: { env: res % 4 === 0 ? "prod" : "dev", owner: `team-${res % 5}` } } : {}),
      ...(res < 3
        ? {
            additionalInfo: {
              ImageType: res === 1 ? "Windows" : "Linux",
              VCPUs: vcpus,
              ServiceType: "Standard_D2",
            },
          }
        : {}),
    };
  }
  return out;
}

export const BENCH_METERS = METERS;

/** One resource instance of a subscription, as `usage_instances` holds it. */
export interface BenchInstance {
  resourceUri: string;
  location: string;
  tags: string | null;
  additionalInfo: string | null;
}

/** One row of `usage_hourly` for a subscription (meter as an index into BENCH_METERS). */
export interface BenchHourly {
  hour: number;
  meter: number;
  instance: number;
  reported: number;
  units: number;
  frac: number;
}

const HOUR_MS = 3_600_000;

/**
 * A month of one subscription's hourly aggregates, shaped like a tenant's: 7 resources with 2
 * meters each (14 instance-meter pairs), each resource running for one stretch of 1 to 5 days
 * (about 72 hours on average, so ~1,000 rows a month), reported the hour after use, except 3%
 * that arrive 2 to 48 hours late (and may fall in the next month's reported windows). Rows come
 * in the aggregate table's key order: usage hour, meter, instance.
 */
export function subscriptionMonth(
  rand: () => number,
  subscriptionId: string,
  monthStart: number,
  monthHours: number,
): { instances: BenchInstance[]; rows: BenchHourly[] } {
  const instances: BenchInstance[] = [];
  const rows: BenchHourly[] = [];
  for (let k = 0; k < 7; k++) {
    instances.push({
      resourceUri: `/subscriptions/${subscriptionId}/resourceGroups/rg-${k % 3}/providers/Microsoft.Compute/virtualMachines/vm-${k}`,
      location: "local",
      tags: k % 2 === 0 ? JSON.stringify({ env: k % 4 === 0 ? "prod" : "dev", owner: `team-${k}` }) : null,
      additionalInfo:
        k < 3
          ? JSON.stringify({ ImageType: k === 1 ? "Windows" : "Linux", ServiceType: "Standard_D2", VCPUs: 2 })
          : null,
    });
    const len = 24 + Math.floor(rand() * 96);
    const first = Math.floor(rand() * (monthHours - len));
    for (let h = first; h < first + len; h++) {
      for (const meter of [(2 * k) % METERS.length, (2 * k + 1) % METERS.length]) {
        const hour = monthStart + h * HOUR_MS;
        const late = rand() < 0.03 ? (2 + Math.floor(rand() * 47)) * HOUR_MS : HOUR_MS;
        rows.push({
          hour,
          meter,
          instance: k,
          reported: hour + late,
          units: Math.floor(rand() * 16),
          frac: Math.floor(rand() * 1e10),
        });
      }
    }
  }
  return { instances, rows };
}
