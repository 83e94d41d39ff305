import { DAY, HOUR } from "../domain/time.js";

/**
 * A deterministic, realistic cloud for demos and benchmarks: tenants with VMs (vCPU-hour meters,
 * Windows surcharge), managed disks, storage accounts, public IPs, SQL databases and App Service
 * plans, reporting hourly with realistic reported times — most within the hour after, some hours
 * late, a few sent twice. The same seed gives the same cloud, ids included.
 */
export interface DemoOptions {
  seed: number;
  subscriptions: number;
  /** Usage hours [start, end). */
  start: number;
  end: number;
  /** Records reported at or after this are left out: they have not "arrived" yet. */
  reportedBefore: number;
  defaultProviderSubscriptionId: string;
}

export interface DemoDirectory {
  id: string;
  displayName: string;
}

export interface DemoSubscription {
  id: string;
  displayName: string;
  directoryId: string;
  reseller: boolean;
}

export interface DemoRecord {
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
  reportedTime: string;
  sourceId: string;
}

export const DEMO_SOURCES = ["compute-rp", "storage-rp", "network-rp", "sql-rp", "appservice-rp"] as const;
export const DEMO_RESELLER = "demo-reseller";

const M = {
  vmBase: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
  vmWindows: "9CD92D4C-BAFD-4492-B278-BEDC2DE8232A",
  vmHours: "6DAB500F-A4FD-49C4-956D-229BB9C8C793",
  diskP10: "e554b6bc-96cd-4938-a5b5-0da990278519",
  diskS10: "d5f7731b-f639-404a-89d0-e46186e22c8d",
  actualPremium: "daef389a-06e5-4684-a7f7-8813d9f792d5",
  actualStandard: "7ba084ec-ef9c-4d64-a179-7732c6cb5e28",
  blockBlob: "09F8879E-87E9-4305-A572-4B7BE209F857",
  blobTx: "43DAF82B-4618-444A-B994-40C23F7CD438",
  blobOut: "3023FEF4-ECA5-4D7B-87B3-CFBC061931E8",
  staticIp: "F271A8A388C44D93956A063E1D2FA80B",
  dynamicIp: "9E2739BA86744796B465F64674B822BA",
  sql: "CBCFEF9A-B91F-4597-A4D3-01FE334BED82",
  appStandardSmall: "88039D51-A206-3A89-E9DE-C5117E2D10A6",
  appServiceVcore: "190C935E-9ADA-48FF-9AB8-56EA1CF9ADAA",
} as const;

/** Disk meters count disk-months; an hour is 1/730 of one, to 10 decimals. */
const DISK_MONTH_PER_HOUR = "0.0013698630";

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function guidFrom(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${"89ab"[Math.floor(rand() * 4)]}${hex.slice(17, 20)}-${hex.slice(20)}`;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const fixed = (n: number, digits: number) => n.toFixed(digits).replace(/\.?0+$/, "") || "0";

interface Resource {
  uri: string;
  source: (typeof DEMO_SOURCES)[number];
  tags?: Record<string, string>;
  additionalInfo?: Record<string, unknown>;
  /** Hours of the window the resource exists (created, deleted). */
  from: number;
  to: number;
  /** Meter and quantity for one usage hour, or nothing that hour. */
  meters: (hour: number, rand: () => number) => [meterId: string, quantity: string][];
  subscriptionId: string;
}

const COMPANIES = [
  "Contoso",
  "Fabrikam",
  "Northwind",
  "Tailwind",
  "Woodgrove",
  "Adatum",
  "Litware",
  "Proseware",
  "Wingtip",
  "Relecloud",
];
const TEAMS = ["web", "data", "erp", "ml", "ops", "crm"];

export function demoTenants(o: Pick<DemoOptions, "seed" | "subscriptions">): {
  directories: DemoDirectory[];
  subscriptions: DemoSubscription[];
} {
  const rand = rng(o.seed * 7919 + 1);
  const directories: DemoDirectory[] = [];
  const subscriptions: DemoSubscription[] = [];
  const dirCount = Math.max(1, Math.ceil(o.subscriptions / 3));
  for (let d = 0; d < dirCount; d++) {
    directories.push({
      id: guidFrom(rand),
      displayName: `${COMPANIES[d % COMPANIES.length]}${d >= COMPANIES.length ? ` ${Math.floor(d / COMPANIES.length) + 1}` : ""}`,
    });
  }
  for (let s = 0; s < o.subscriptions; s++) {
    const dir = directories[s % dirCount]!;
    subscriptions.push({
      id: guidFrom(rand),
      displayName: `${dir.displayName} ${pick(rand, ["Production", "Development", "Test", "Analytics"])} ${s + 1}`,
      directoryId: dir.id,
      reseller: rand() < 0.25,
    });
  }
  return { directories, subscriptions };
}

function resourcesOf(sub: DemoSubscription, o: DemoOptions, rand: () => number): Resource[] {
  const out: Resource[] = [];
  const rg = (name: string) => `/subscriptions/${sub.id}/resourceGroups/${name}/providers`;
  const hours = (o.end - o.start) / HOUR;
  const lifetime = () => {
    const from = rand() < 0.8 ? 0 : Math.floor(rand() * hours * 0.7);
    const to = rand() < 0.9 ? hours : from + Math.floor(rand() * (hours - from));
    return { from, to };
  };
  const team = pick(rand, TEAMS);
  const tags = {
    env: rand() < 0.6 ? "prod" : "dev",
    costCenter: `CC-${1000 + Math.floor(rand() * 40)}`,
    team,
  };
  const vmCount = 1 + Math.floor(rand() * 5);
  for (let v = 0; v < vmCount; v++) {
    const vcpus = pick(rand, [1, 2, 2, 4, 4, 8, 16]);
    const windows = rand() < 0.35;
    const size =
      {
        1: "Standard_A1_v2",
        2: "Standard_D2_v2",
        4: "Standard_D4_v2",
        8: "Standard_D8_v3",
        16: "Standard_D16_v3",
      }[vcpus] ?? "Standard_D2_v2";
    const name = `${team}-vm-${v + 1}`;
    const life = lifetime();
    const stoppedHours = rand() < 0.3; // dev boxes deallocated at night
    out.push({
      uri: `${rg(`rg-${team}`)}/Microsoft.Compute/virtualMachines/${name}`,
      source: "compute-rp",
      tags,
      additionalInfo: {
        ServiceType: size,
        ImageType: windows ? "Windows Server 2022 Datacenter" : "Ubuntu Server 22.04 LTS",
        VCPUs: vcpus,
      },
      ...life,
      subscriptionId: sub.id,
      meters: (h) => {
        const hourOfDay = new Date(o.start + h * HOUR).getUTCHours();
        if (stoppedHours && (hourOfDay < 6 || hourOfDay >= 20)) return [];
        const m: [string, string][] = [
          [M.vmBase, String(vcpus)],
          [M.vmHours, "1"],
        ];
        if (windows) m.push([M.vmWindows, String(vcpus)]);
        return m;
      },
    });
    const premium = rand() < 0.4;
    out.push({
      uri: `${rg(`rg-${team}`)}/Microsoft.Compute/disks/${name}-osdisk`,
      source: "compute-rp",
      tags,
      ...life,
      subscriptionId: sub.id,
      meters: (_h, r) => [
        [premium ? M.diskP10 : M.diskS10, DISK_MONTH_PER_HOUR],
        [premium ? M.actualPremium : M.actualStandard, fixed((40 + r() * 60) / 730, 10)],
      ],
    });
    out.push({
      uri: `${rg(`rg-${team}`)}/Microsoft.Network/publicIPAddresses/${name}-ip`,
      source: "network-rp",
      ...life,
      subscriptionId: sub.id,
      meters: () => [[v === 0 ? M.staticIp : M.dynamicIp, "1"]],
    });
  }
  const storage = `${team}${Math.floor(rand() * 1e6).toString(36)}`;
  let gb = 50 + rand() * 2000;
  out.push({
    uri: `${rg(`rg-${team}`)}/Microsoft.Storage/storageAccounts/${storage}`,
    source: "storage-rp",
    tags,
    from: 0,
    to: hours,
    subscriptionId: sub.id,
    meters: (_h, r) => {
      gb *= 1 + r() * 0.002;
      return [
        [M.blockBlob, fixed(gb, 6)],
        [M.blobTx, fixed(r() * 3, 4)],
        [M.blobOut, fixed(r() * 0.5, 6)],
      ];
    },
  });
  if (rand() < 0.35) {
    const mb = pick(rand, [1024, 5120, 10240, 51200]);
    out.push({
      uri: `${rg(`rg-${team}-data`)}/Microsoft.SQLAdapter/servers/sql-${team}/databases/${team}db`,
      source: "sql-rp",
      tags,
      ...lifetime(),
      subscriptionId: sub.id,
      meters: () => [[M.sql, String(mb)]],
    });
  }
  if (rand() < 0.2) {
    const instances = 1 + Math.floor(rand() * 3);
    out.push({
      uri: `${rg(`rg-${team}-web`)}/Microsoft.Web/serverFarms/${team}-plan`,
      source: "appservice-rp",
      tags,
      from: 0,
      to: hours,
      subscriptionId: sub.id,
      meters: () => [[M.appStandardSmall, String(instances)]],
    });
    // The App Service workers' vCPUs are what the operator pays for: metered to the Default
    // Provider Subscription.
    out.push({
      uri: `/subscriptions/${o.defaultProviderSubscriptionId}/resourceGroups/AppService.local/providers/Microsoft.Web.Admin/workerPools/small-${sub.id.slice(0, 8)}`,
      source: "appservice-rp",
      from: 0,
      to: hours,
      subscriptionId: o.defaultProviderSubscriptionId,
      meters: () => [[M.appServiceVcore, String(instances)]],
    });
  }
  return out;
}

/**
 * The records of the window, hour by hour. Each usage hour is reported 5–40 minutes after it
 * ends; about 4% arrive 2–30 hours late; about 1.5% are sent twice (same id, same content).
 */
export function* demoRecords(o: DemoOptions, subscriptions: DemoSubscription[]): Generator<DemoRecord> {
  const resources = subscriptions.flatMap((s, i) => resourcesOf(s, o, rng(o.seed * 104_729 + i)));
  const rand = rng(o.seed * 15_485_863 + 7);
  const hours = (o.end - o.start) / HOUR;
  let n = 0;
  for (let h = 0; h < hours; h++) {
    const start = o.start + h * HOUR;
    for (const r of resources) {
      if (h < r.from || h >= r.to) continue;
      for (const [meterId, quantity] of r.meters(h, rand)) {
        n++;
        const late = rand() < 0.04 ? (2 + Math.floor(rand() * 29)) * HOUR : 0;
        const reported = start + HOUR + 5 * 60_000 + Math.floor(rand() * 35 * 60_000) + late;
        if (reported >= o.reportedBefore) continue;
        const rec: DemoRecord = {
          id: `${r.source}-${o.seed}-${n.toString(36)}`,
          subscriptionId: r.subscriptionId,
          meterId,
          quantity,
          usageStartTime: new Date(start).toISOString(),
          usageEndTime: new Date(start + HOUR).toISOString(),
          resourceUri: r.uri,
          location: "local",
          ...(r.tags ? { tags: r.tags } : {}),
          ...(r.additionalInfo ? { additionalInfo: r.additionalInfo } : {}),
          reportedTime: new Date(reported).toISOString(),
          sourceId: r.source,
        };
        yield rec;
        if (rand() < 0.015) yield rec;
      }
    }
  }
}

/** The usage window of a demo of `days` days, ending an hour before `reportedBefore` (rounded down to the hour). */
export function demoWindow(reportedBefore: number, days: number): { start: number; end: number } {
  const end = reportedBefore - (reportedBefore % HOUR) - HOUR;
  return { start: end - days * DAY, end };
}
