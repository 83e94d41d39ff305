import type { Command } from "commander";
import { type Config, loadConfig } from "../config.js";
import { type ApiClient, LocalClient, RemoteClient } from "./client.js";
import { CliError } from "./errors.js";

export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

let config: Config | undefined;

/** The configuration, parsed once per CLI run. */
export function cliConfig(): Config {
  config ??= loadConfig();
  return config;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Runs `fn` with a client for the server named by --server (or TALLY_SERVER), else the local database. */
export async function withClient<T>(
  cmd: Command,
  fn: (client: ApiClient, opts: GlobalOptions) => Promise<T>,
): Promise<T> {
  const g = globals(cmd);
  const cfg = cliConfig();
  const server = g.server ?? cfg.server;
  let client: ApiClient;
  if (server !== undefined) {
    const token = g.token ?? cfg.token;
    if (token === undefined) throw new CliError("--server needs --token (or TALLY_TOKEN).", 2);
    client = new RemoteClient(server, token);
  } else {
    client = await LocalClient.open(cfg);
  }
  try {
    return await fn(client, g);
  } finally {
    await client.close();
  }
}

/** Builds a query string from defined values. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface ListOptions {
  limit?: string;
  cursor?: string;
  all?: boolean;
}

export function addListOptions(cmd: Command): Command {
  return cmd
    .option("--limit <n>", "items per page (1-1000)", "100")
    .option("--cursor <cursor>", "continue after a previous page")
    .option("--all", "follow every page");
}

/** Fetches one page, or every page with --all; returns the items and the cursor that follows. */
export async function fetchList<T>(
  client: ApiClient,
  path: string,
  params: Record<string, string | number | boolean | undefined>,
  opts: ListOptions,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const items: T[] = [];
  let cursor = opts.cursor;
  for (;;) {
    const page = await client.request<{ items: T[]; nextCursor: string | null }>(
      "GET",
      path + query({ ...params, limit: opts.limit, cursor }),
    );
    items.push(...page.items);
    if (!opts.all || page.nextCursor === null) return { items, nextCursor: page.nextCursor };
    cursor = page.nextCursor;
  }
}
