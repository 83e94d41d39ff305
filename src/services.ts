import pino, { type Logger } from "pino";
import { Access } from "./auth/access.js";
import { OidcTokens } from "./auth/oidc.js";
import { EmbeddedTokens, type TokenVerifier, VerifiedTokens } from "./auth/tokens.js";
import { Gate } from "./azure-usage/gate.js";
import { bootstrap, readSystemIds, type SystemIds } from "./bootstrap.js";
import { SecretBox } from "./bridge/secrets.js";
import { type Clock, systemClock } from "./clock.js";
import type { Config } from "./config.js";
import { IngestWriter } from "./ingest/ingest-writer.js";
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
  /** Signs (and verifies) tally's own tokens: embedded mode, and the local CLI in any mode. */
  tokens: EmbeddedTokens;
  /** Verifies bearer tokens as `TALLY_AUTH_MODE` says. */
  verifier: TokenVerifier;
  /** Role assignments and the authorization decision. */
  access: Access;
  system: SystemIds;
  metrics: Metrics;
  /** Id ↔ internal key resolution for the usage tables. */
  catalog: UsageCatalog;
  /** Seals secrets tally uses but never shows (the bridge's upstream credential). */
  secrets: SecretBox;
  /** Live ingest's batch writer: a writer thread on SQLite files, the shared pool otherwise. */
  ingestWriter: IngestWriter;
  /** Bounds the usage-API queries running at once (load shedding: 503 beyond the queue). */
  usageGate: Gate;
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, "logLevel">, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: "tally" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers['x-api-key']",
          "*.apiKey",
          "*.token",
          "*.password",
          "*.credential",
          "*.upstreamCredential",
        ],
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
  /**
   * The local CLI: trust tally's own tokens whatever the auth mode. Whoever runs it can read the
   * database and the data dir already, so this grants nothing new.
   */
  localOperator?: boolean;
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
    const clockSkewSec = Math.floor(config.tokenClockSkewMs / 1000);
    const tokens = await new EmbeddedTokens({
      dataDir: config.dataDir,
      issuer: config.tokenIssuer,
      audience: config.tokenAudience,
      clockSkewSec,
      maxTokenAgeSec: Math.floor(config.tokenMaxTtlMs / 1000),
      now: () => clock.now(),
    }).load();
    const verifier = new VerifiedTokens(
      config.oidc === undefined || opts.localOperator
        ? tokens
        : new OidcTokens({ ...config.oidc, clockSkewSec, now: () => clock.now() }),
      () => clock.now(),
    );
    const access = new Access({ store, clock });
    const metrics = new Metrics();
    const catalog = new UsageCatalog(store.db, clock);
    const ingestWriter = new IngestWriter(store);
    const secrets = new SecretBox(config.dataDir);
    return {
      config,
      store,
      clock,
      logger,
      tokens,
      verifier,
      access,
      system,
      metrics,
      catalog,
      ingestWriter,
      secrets,
      usageGate: new Gate(config.usageApiConcurrency, config.usageApiQueue),
      close: async () => {
        await ingestWriter.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
