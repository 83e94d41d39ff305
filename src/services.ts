import pino, { type Logger } from "pino";
import { EmbeddedTokens } from "./auth/tokens.js";
import { bootstrap, readSystemIds, type SystemIds } from "./bootstrap.js";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { Metrics } from "./metrics.js";
import { openStore, type Store } from "./storage/database.js";
import { isMigrated, migrateToLatest } from "./storage/migrate.js";
import { UsageCatalog } from "./usage/catalog.js";

/**
 * Everything a request handler, a CLI command or a background job needs, built once and passed in.
 * The server, the CLI and the tests all assemble the same pieces.
 */
export interface Services {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
  tokens: EmbeddedTokens;
  system: SystemIds;
  metrics: Metrics;
  /** Id ↔ internal key resolution for the usage tables. */
  catalog: UsageCatalog;
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, "logLevel">, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: "tally" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["req.headers.authorization", "req.headers['x-api-key']", "*.apiKey", "*.token", "*.password"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}

export class NotMigratedError extends Error {
  override name = "NotMigratedError";
}

export interface OpenOptions {
  /** Apply pending migrations and bootstrap (serve, migrate); otherwise require an up-to-date database. */
  migrate: boolean;
  clock?: Clock;
  logger?: Logger;
  /** PostgreSQL schema (tests). */
  schema?: string;
}

export async function openServices(config: Config, opts: OpenOptions): Promise<Services> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config);
  const store = await openStore({ url: config.databaseUrl, ...(opts.schema ? { schema: opts.schema } : {}) });
  try {
    let system: SystemIds;
    if (opts.migrate) {
      const applied = await migrateToLatest(store);
      if (applied.length) logger.info({ applied }, "database migrated");
      system = await bootstrap(store, clock.now());
    } else {
      if (!(await isMigrated(store))) {
        throw new NotMigratedError(
          "the database schema is not up to date; run `tally migrate` (or start the server) first.",
        );
      }
      system = await readSystemIds(store.db);
    }
    const tokens = await new EmbeddedTokens({
      dataDir: config.dataDir,
      issuer: config.tokenIssuer,
      audience: config.tokenAudience,
      clockSkewSec: 60,
      now: () => clock.now(),
    }).load();
    const metrics = new Metrics();
    const catalog = new UsageCatalog(store.db, clock);
    return { config, store, clock, logger, tokens, system, metrics, catalog, close: () => store.close() };
  } catch (e) {
    await store.close();
    throw e;
  }
}
