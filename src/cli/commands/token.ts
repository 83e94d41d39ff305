import type { Command } from "commander";
import { canonicalGuid } from "../../domain/ids.js";
import { parseDuration } from "../../domain/time.js";
import { openServices } from "../../services.js";
import { cliConfig } from "../context.js";
import { CliError } from "../errors.js";

interface TokenOptions {
  operator?: boolean;
  subject?: string;
  tenant?: string;
  name?: string;
  expires: string;
}

/** `tally token create`: signs a bearer token with the key in the data dir (embedded mode). */
export function tokenCommand(program: Command): void {
  const token = program.command("token").description("bearer tokens signed by this tally (embedded mode)");
  token
    .command("create")
    .description("print a bearer token")
    .option("--operator", "for the operator principal")
    .option("--subject <id>", "for this principal id")
    .option("--tenant <guid>", "the directory (tenant id) the principal signs in from")
    .option("--name <name>", "display name carried in the token")
    .option("--expires <duration>", "lifetime, e.g. 15m, 8h, 7d", "8h")
    .action(async (o: TokenOptions) => {
      if (!o.operator === !o.subject)
        throw new CliError("give exactly one of --operator or --subject <id>.", 2);
      const ttlMs = parseDuration(o.expires);
      if (ttlMs === undefined || ttlMs <= 0)
        throw new CliError(`--expires: '${o.expires}' is not a duration such as 8h.`, 2);
      const tenant = o.tenant === undefined ? undefined : canonicalGuid(o.tenant);
      if (o.tenant !== undefined && tenant === undefined) throw new CliError("--tenant must be a GUID.", 2);
      const svc = await openServices(cliConfig(), { migrate: false });
      try {
        const subject = o.operator ? svc.system.operatorPrincipalId : o.subject!;
        const jwt = await svc.tokens.sign({
          subject,
          ttlMs,
          ...(tenant !== undefined ? { directoryId: tenant } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
        });
        process.stdout.write(`${jwt}\n`);
      } finally {
        await svc.close();
      }
    });
}
