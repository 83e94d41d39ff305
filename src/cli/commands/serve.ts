import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { startBillingLoop } from "../../billing/run.js";
import { startBridgeLoop } from "../../bridge/worker.js";
import { type Config, ConfigError } from "../../config.js";
import { buildApp } from "../../http/app.js";
import { openServices } from "../../services.js";
import { startRollupLoop } from "../../usage/rollup.js";
import { cliConfig } from "../context.js";

/** The certificate and key `TALLY_TLS_CERT` / `TALLY_TLS_KEY` name, read before anything starts. */
function readTls(config: Config): { cert: Buffer; key: Buffer } | undefined {
  if (config.tls === undefined) return undefined;
  const read = (variable: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ConfigError(
        `Invalid configuration:\n  ${variable}: cannot read ${file}: ${(e as Error).message}`,
      );
    }
  };
  return {
    cert: read("TALLY_TLS_CERT", config.tls.certFile),
    key: read("TALLY_TLS_KEY", config.tls.keyFile),
  };
}

/** Starts the server: migrates, bootstraps, listens, and shuts down gracefully on SIGTERM/SIGINT. */
export async function serve(config: Config): Promise<void> {
  const https = readTls(config);
  const svc = await openServices(config, { migrate: true });
  const app = await buildApp(svc, https ? { https } : {});
  await app.listen({ port: config.port, host: config.host });
  const rollup = startRollupLoop(svc);
  const bridge = startBridgeLoop(svc);
  const billing = startBillingLoop(svc);
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const base = config.publicUrl ?? `${https ? "https" : "http"}://localhost:${port}`;
  svc.logger.info({ url: base, database: svc.store.dialect }, "tally is listening");
  process.stderr.write(
    [
      "",
      `tally is running at ${base} (database: ${svc.store.dialect === "sqlite" ? config.databaseUrl : "PostgreSQL"})`,
      "Get an operator token in another terminal with:",
      "  npx tally token create --operator",
      `then call the API, e.g.: curl -H "Authorization: Bearer $TOKEN" ${base}/api/v1/subscriptions`,
      `API description: ${base}/openapi.json`,
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    svc.logger.info({ signal }, "shutting down: finishing in-flight requests");
    const force = setTimeout(() => {
      svc.logger.error("shutdown grace period over; exiting");
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    try {
      await app.close();
      await rollup.stop();
      await bridge.stop();
      await billing.stop();
      await svc.close();
      svc.logger.info("stopped");
      process.exit(0);
    } catch (err) {
      svc.logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

export function serveCommand(program: Command): void {
  program
    .command("serve")
    .description("run the tally server (migrates the database first)")
    .action(async () => serve(cliConfig()));
}
