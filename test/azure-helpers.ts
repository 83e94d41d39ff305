import { Decimal } from "decimal.js";
import { parse as parseLossless } from "lossless-json";
import type { TestApp } from "./helpers.js";

export const API = "2015-06-01-preview";
export const TENANT = "Microsoft.Commerce/UsageAggregates";
export const OPERATOR = "Microsoft.Commerce.Admin/subscriberUsageAggregates";
export const LEGACY_OPERATOR = "Microsoft.Commerce/subscriberUsageAggregates";

export interface AzureItem {
  id: string;
  name: string;
  type: string;
  properties: {
    subscriptionId: string;
    usageStartTime: string;
    usageEndTime: string;
    instanceData: string;
    /** Exact text of the JSON number (parsed losslessly). */
    quantity: string;
    meterId: string;
  };
}

export interface AzurePage {
  value: AzureItem[];
  nextLink?: string;
}

/** A body parsed without losing the digits of `quantity` (it is a JSON number). */
export function parsePage(text: string): AzurePage {
  return parseLossless(text, null, (digits) => digits) as AzurePage;
}

export const azureUrl = (sub: string, path: string, query: string) =>
  `/subscriptions/${sub}/providers/${path}?${query}`;

/** `reportedStartTime=…&reportedEndTime=…&…&api-version=…` with the dates escaped as the JS SDKs do. */
export function sdkQuery(from: number, to: number, extra: Record<string, string> = {}): string {
  const q: [string, string][] = [
    ["reportedStartTime", new Date(from).toISOString()],
    ["reportedEndTime", new Date(to).toISOString()],
    ...Object.entries(extra),
    ["api-version", API],
  ];
  return q.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
}

export async function azureGet(t: TestApp, url: string, headers: Record<string, string> = t.op) {
  return t.app.inject({ method: "GET", url, headers });
}

/** Follows nextLink (absolute) through `inject`, page by page; fails on anything but 200. */
export async function walk(
  t: TestApp,
  firstUrl: string,
  headers: Record<string, string> = t.op,
): Promise<{ pages: AzurePage[]; items: AzureItem[]; links: string[] }> {
  const pages: AzurePage[] = [];
  const links: string[] = [];
  let url: string | undefined = firstUrl;
  while (url !== undefined) {
    const r = await azureGet(t, url, headers);
    if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
    const page = parsePage(r.body);
    pages.push(page);
    if (page.nextLink !== undefined) {
      links.push(page.nextLink);
      const u = new URL(page.nextLink);
      url = u.pathname + u.search;
    } else url = undefined;
  }
  return { pages, items: pages.flatMap((p) => p.value), links };
}

/** The resource name at the end of an item's resourceUri. */
export const resourceOf = (i: AzureItem) =>
  (JSON.parse(i.properties.instanceData)["Microsoft.Resources"].resourceUri as string).split("/").pop()!;

/** Sum of quantities, exactly (decimal.js: independent of tally's own fixed-point code). */
export const sum = (qs: string[]) => qs.reduce((s, q) => s.plus(q), new Decimal(0)).toFixed();
