import type { ManualClock } from "../src/clock.js";
import type { TestApp } from "./helpers.js";
import { guid } from "./helpers.js";

export const VM_BASE = "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5";
export const VM_WINDOWS = "9CD92D4C-BAFD-4492-B278-BEDC2DE8232A";
export const STATIC_IP = "F271A8A388C44D93956A063E1D2FA80B";
export const BLOB_CAPACITY = "09F8879E-87E9-4305-A572-4B7BE209F857";
export const DISK_BYTES = "8a409390-1913-40ae-917b-08d0f16f3c38";

export const H = 3_600_000;
export const T0 = Date.UTC(2026, 10, 23, 0);

export interface World {
  dirA: string;
  dirB: string;
  subA: string;
  subB: string;
  subC: string;
  apiKey: string;
  sourceId: string;
}

/** Two directories, three subscriptions (C offered by a delegated provider) and a source. */
export async function makeWorld(t: TestApp): Promise<World> {
  const post = async (url: string, body: unknown) => {
    const r = await t.app.inject({ method: "POST", url, headers: t.op, payload: body as object });
    if (r.statusCode !== 201) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
    return r.json();
  };
  const w = { dirA: guid(0xa0), dirB: guid(0xb0), subA: guid(0xa1), subB: guid(0xb1), subC: guid(0xc1) };
  await post("/api/v1/directories", { id: w.dirA, displayName: "Contoso" });
  await post("/api/v1/directories", { id: w.dirB, displayName: "Fabrikam" });
  await post("/api/v1/providers", { id: "reseller", displayName: "Reseller" });
  await post("/api/v1/subscriptions", { id: w.subA, displayName: "A", directoryId: w.dirA });
  await post("/api/v1/subscriptions", { id: w.subB, displayName: "B", directoryId: w.dirB });
  await post("/api/v1/subscriptions", {
    id: w.subC,
    displayName: "C",
    directoryId: w.dirB,
    providerId: "reseller",
  });
  const src = await post("/api/v1/sources", { name: "compute" });
  return { ...w, apiKey: src.apiKey, sourceId: src.id };
}

export interface RecordInput {
  id: string;
  sub: string;
  meter?: string;
  quantity: number | string;
  start: number;
  end?: number;
  vm?: string;
  location?: string;
  tags?: Record<string, string>;
  additionalInfo?: Record<string, unknown>;
}

export function record(r: RecordInput) {
  return {
    id: r.id,
    subscriptionId: r.sub,
    meterId: r.meter ?? VM_BASE,
    quantity: r.quantity,
    usageStartTime: new Date(r.start).toISOString(),
    usageEndTime: new Date(r.end ?? r.start + H).toISOString(),
    resourceUri: `/subscriptions/${r.sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${r.vm ?? "vm1"}`,
    location: r.location ?? "local",
    ...(r.tags ? { tags: r.tags } : {}),
    ...(r.additionalInfo ? { additionalInfo: r.additionalInfo } : {}),
  };
}

export async function ingest(t: TestApp, key: string, body: unknown, contentType = "application/json") {
  return t.app.inject({
    method: "POST",
    url: "/api/v1/usage-records",
    headers: { "x-api-key": key, "content-type": contentType },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export function setClock(t: TestApp, at: number) {
  (t.clock as ManualClock).set(at);
}

export async function usage(t: TestApp, params: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  return t.app.inject({ method: "GET", url: `/api/v1/usage?${qs}`, headers: t.op });
}

/** Every item of a usage query, following cursors. */
export async function usageAll(t: TestApp, params: Record<string, string | number>) {
  const items: {
    subscriptionId: string;
    meterId: string;
    usageStartTime: string;
    quantity: string;
    instance?: { resourceUri: string };
  }[] = [];
  let cursor: string | null = null;
  do {
    const r = await usage(t, { ...params, ...(cursor ? { cursor } : {}) });
    if (r.statusCode !== 200) throw new Error(`usage: ${r.statusCode} ${r.body}`);
    const page = r.json();
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}
