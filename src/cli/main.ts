import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config.js";
import { DomainError } from "../domain/errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { NotMigratedError } from "../services.js";
import { auditCommand } from "./commands/audit.js";
import { billingCommand } from "./commands/billing.js";
import { bridgeCommand } from "./commands/bridge.js";
import { demoCommand } from "./commands/demo.js";
import { directoryCommand } from "./commands/directory.js";
import { enrollmentPolicyCommand } from "./commands/enrollment-policy.js";
import { markupCommand } from "./commands/markup.js";
import { meterCommand } from "./commands/meter.js";
import { migrateCommand } from "./commands/migrate.js";
import { offerCommand } from "./commands/offer.js";
import { pricesCommand } from "./commands/prices.js";
import { providerCommand } from "./commands/provider.js";
import { rateCommand } from "./commands/rate.js";
import { registrationCommand } from "./commands/registration.js";
import { roleCommand } from "./commands/role.js";
import { serveCommand } from "./commands/serve.js";
import { sourceCommand } from "./commands/source.js";
import { subscriptionCommand } from "./commands/subscription.js";
import { tokenCommand } from "./commands/token.js";
import { usageCommand } from "./commands/usage.js";
import { usageAggregatesCommand } from "./commands/usage-aggregates.js";
import { CliError } from "./errors.js";

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string })
  .version;

export function buildProgram(): Command {
  const program = new Command("tally")
    .description("tally: usage metering, rating and chargeback for private and hybrid clouds")
    .version(version)
    .option("--server <url>", "talk to this tally server instead of the local database (or TALLY_SERVER)")
    .option("--token <token>", "bearer token for --server (or TALLY_TOKEN)")
    .option("--json", "print JSON")
    .showHelpAfterError()
    .exitOverride();
  serveCommand(program);
  migrateCommand(program);
  tokenCommand(program);
  directoryCommand(program);
  providerCommand(program);
  subscriptionCommand(program);
  sourceCommand(program);
  meterCommand(program);
  usageCommand(program);
  demoCommand(program);
  roleCommand(program);
  enrollmentPolicyCommand(program);
  auditCommand(program);
  offerCommand(program);
  pricesCommand(program);
  markupCommand(program);
  billingCommand(program);
  rateCommand(program);
  registrationCommand(program);
  bridgeCommand(program);
  // `usage` may already exist with its other verbs (ingest, list, import); aggregates joins it.
  const usage =
    program.commands.find((c) => c.name() === "usage") ??
    program.command("usage").description("usage data: aggregates through the Azure Stack usage APIs");
  usageAggregatesCommand(usage);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Runs the CLI; exit codes are 0 success, 1 failure, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.version" ||
        e.code === "commander.help"
      )
        return 0;
      return 2;
    }
    if (e instanceof CliError) {
      process.stderr.write(`error: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof DomainError || e instanceof NotMigratedError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
