import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { stringify as csv } from "csv-stringify/sync";
import { type LosslessNumber, stringify as losslessJson, parse as parseLossless } from "lossless-json";
import { type ApiClient, describeFailure } from "../client.js";
import { withClient } from "../context.js";
import { CliError } from "../errors.js";
import { type Column, printRows } from "../output.js";

/** One aggregate as the usage APIs answer it; the quantity keeps its exact digits. */
interface Aggregate {
  id: string;
  name: string;
  type: string;
  properties: {
    subscriptionId: string;
    usageStartTime: string;
    usageEndTime: string;
    instanceData: string;
    quantity: LosslessNumber;
    meterId: string;
  };
}

interface Page {
  value: Aggregate[];
  nextLink?: string;
}

interface Options {
  reportedStart: string;
  reportedEnd: string;
  granularity: string;
  subscription?: string;
  providerSubscription?: string;
  subscriber?: string;
  continuationToken?: string;
  all?: boolean;
  csv?: boolean;
}

interface Instance {
  resourceUri?: string;
  location?: string | null;
  tags?: unknown;
  additionalInfo?: unknown;
}

function instanceOf(a: Aggregate): Instance {
  try {
    return (
      (JSON.parse(a.properties.instanceData) as { "Microsoft.Resources"?: Instance })[
        "Microsoft.Resources"
      ] ?? {}
    );
  } catch {
    return {};
  }
}

const columns: Column<Aggregate>[] = [
  ["SUBSCRIPTION", (a) => a.properties.subscriptionId],
  ["METER", (a) => a.properties.meterId],
  ["USAGE START", (a) => a.properties.usageStartTime],
  ["USAGE END", (a) => a.properties.usageEndTime],
  ["QUANTITY", (a) => a.properties.quantity.toString()],
  ["RESOURCE", (a) => instanceOf(a).resourceUri?.split("/").slice(-2).join("/")],
  ["LOCATION", (a) => instanceOf(a).location],
];

const CSV_HEADER = [
  "subscriptionId",
  "meterId",
  "usageStartTime",
  "usageEndTime",
  "quantity",
  "resourceUri",
  "location",
  "tags",
  "additionalInfo",
];

function csvRows(items: Aggregate[]): string[][] {
  return items.map((a) => {
    const i = instanceOf(a);
    const json = (v: unknown) => (v === null || v === undefined ? "" : JSON.stringify(v));
    return [
      a.properties.subscriptionId,
      a.properties.meterId,
      a.properties.usageStartTime,
      a.properties.usageEndTime,
      a.properties.quantity.toString(),
      i.resourceUri ?? "",
      i.location ?? "",
      json(i.tags),
      json(i.additionalInfo),
    ];
  });
}

async function getPage(client: ApiClient, path: string): Promise<Page> {
  const r = await client.raw("GET", path);
  if (r.status >= 400) throw new CliError(describeFailure(r.status, r.body));
  return parseLossless(r.body) as Page;
}

/** The path and query of a nextLink, to follow it on whatever server this CLI talks to. */
function pathOf(link: string): string {
  const u = new URL(link);
  return `${u.pathname}${u.search}`;
}

/** Which API and subscription: the tenant API on --subscription, else the operator API (default: the operator's own). */
async function firstPath(client: ApiClient, o: Options): Promise<string> {
  if (o.subscription !== undefined && (o.providerSubscription !== undefined || o.subscriber !== undefined))
    throw new CliError(
      "--subscription (tenant API) cannot be combined with --provider-subscription or --subscriber.",
      2,
    );
  if (o.continuationToken !== undefined && o.all)
    throw new CliError(
      "--continuation-token and --all cannot be combined: --all starts from the first page.",
      2,
    );
  let path: string;
  if (o.subscription !== undefined) {
    path = `/subscriptions/${encodeURIComponent(o.subscription)}/providers/Microsoft.Commerce/UsageAggregates`;
  } else {
    let ps = o.providerSubscription;
    if (ps === undefined) {
      const r = await client.raw("GET", "/api/v1/providers/operator");
      if (r.status !== 200)
        throw new CliError("give --subscription (tenant API) or --provider-subscription (operator API).", 2);
      ps = (JSON.parse(r.body) as { subscriptionId: string }).subscriptionId;
    }
    path = `/subscriptions/${encodeURIComponent(ps)}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates`;
  }
  const q: [string, string | undefined][] = [
    ["reportedStartTime", o.reportedStart],
    ["reportedEndTime", o.reportedEnd],
    ["aggregationGranularity", o.granularity],
    ["subscriberId", o.subscriber],
    ["continuationToken", o.continuationToken],
    ["api-version", "2015-06-01-preview"],
  ];
  const qs = q
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("&");
  return `${path}?${qs}`;
}

/**
 * `tally usage aggregates`: tally's Get-UsageAggregates (tenant API, `--subscription`) and
 * Get-AzsSubscriberUsage (operator API, `--provider-subscription`, default the operator's own,
 * `--subscriber` for one direct tenant). One page of up to 1,000 aggregates, or every page with
 * `--all`; quantities are printed with every digit the server sent.
 */
export function usageAggregatesCommand(usage: Command): void {
  usage
    .command("aggregates")
    .description(
      "usage aggregates through the Azure Stack usage APIs (reported-time window, grouped by usage hour or day)",
    )
    .requiredOption(
      "--reported-start <time>",
      "start of the reported-time window (inclusive), e.g. 2026-11-01T00:00:00Z",
    )
    .requiredOption("--reported-end <time>", "end of the reported-time window (exclusive)")
    .option("--granularity <granularity>", "Daily or Hourly", "Daily")
    .option("--subscription <id>", "tenant API: the usage of this subscription")
    .option("--provider-subscription <id>", "operator API: the direct tenants of this provider subscription")
    .option("--subscriber <id>", "operator API: only this direct tenant")
    .option("--continuation-token <token>", "continue after a previous page")
    .option("--all", "follow every page")
    .option("--csv", "print CSV")
    .action(async (o: Options, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        let path: string | undefined = await firstPath(client, o);
        const items: Aggregate[] = [];
        const bar = o.all
          ? new SingleBar({
              format: "usage aggregates | {value} aggregates | {pages} pages",
              stream: process.stderr,
              hideCursor: true,
            })
          : undefined;
        bar?.start(0, 0, { pages: 0 });
        let next: string | undefined;
        let pages = 0;
        try {
          do {
            const page = await getPage(client, path);
            items.push(...page.value);
            pages++;
            bar?.update(items.length, { pages });
            next = page.nextLink;
            path = o.all && next !== undefined ? pathOf(next) : undefined;
          } while (path !== undefined);
        } finally {
          bar?.stop();
        }
        if (o.csv) process.stdout.write(csv([CSV_HEADER, ...csvRows(items)]));
        else if (g.json) process.stdout.write(`${losslessJson(items, null, 2)}\n`);
        else printRows(items, columns, g);
        if (!o.all && next !== undefined) {
          const token = new URL(next).searchParams.get("continuationToken");
          process.stderr.write(`more: --continuation-token ${token}\n`);
        }
      }),
    );
}
