import type { Command } from "commander";
import { openServices } from "../../services.js";
import { cliConfig } from "../context.js";

export function migrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations and create the operator's first-start data")
    .action(async () => {
      const config = cliConfig();
      const svc = await openServices(config, { migrate: true });
      await svc.close();
      process.stderr.write(
        `database ${svc.store.dialect === "sqlite" ? config.databaseUrl : "(PostgreSQL)"} is up to date\n`,
      );
    });
}
