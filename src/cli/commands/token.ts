import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { appendAudit } from "../../audit/repository.js";
import { rotateKeys } from "../../auth/signing-keys.js";
import { canonicalGuid } from "../../domain/ids.js";
import { parseDuration } from "../../domain/time.js";
import { openServices } from "../../services.js";
import { cliConfig, globals } from "../context.js";
import { CliError } from "../errors.js";
import { printObject } from "../output.js";

interface TokenOptions {
  operator?: boolean;
  subject?: string;
  tenant?: string;
  name?: string;
  service?: boolean;
  expires: string;
}

function embeddedOnly(what: string): void {
  const cfg = cliConfig();
  if (cfg.authMode !== "embedded") {
    throw new CliError(
      `TALLY_AUTH_MODE is ${cfg.authMode}: the server accepts only tokens from ${cfg.oidc?.issuer ?? "the identity provider"}, so ${what} would be of no use.`,
    );
  }
}

/** `tally token …`: tokens signed by this tally's own keys, and those keys (embedded mode). */
export function tokenCommand(program: Command): void {
  const token = program.command("token").description("bearer tokens signed by this tally (embedded mode)");
  token
    .command("create")
    .description("print a bearer token")
    .option("--operator", "for the operator principal")
    .option("--subject <id>", "for this principal id")
    .option("--tenant <guid>", "the directory (tenant id) the principal signs in from")
    .option("--name <name>", "display name carried in the token")
    .option("--service", "a service principal (app-only token) rather than a user")
    .option("--expires <duration>", "lifetime, e.g. 15m, 8h, 7d", "8h")
    .action(async (o: TokenOptions) => {
      if (!o.operator === !o.subject)
        throw new CliError("give exactly one of --operator or --subject <id>.", 2);
      const cfg = cliConfig();
      const ttlMs = parseDuration(o.expires);
      if (ttlMs === undefined || ttlMs <= 0)
        throw new CliError(`--expires: '${o.expires}' is not a duration such as 8h.`, 2);
      if (ttlMs > cfg.tokenMaxTtlMs)
        throw new CliError(`--expires: at most TALLY_TOKEN_MAX_TTL (${cfg.tokenMaxTtlMs / 86_400_000}d).`, 2);
      const tenant = o.tenant === undefined ? undefined : canonicalGuid(o.tenant);
      if (o.tenant !== undefined && tenant === undefined) throw new CliError("--tenant must be a GUID.", 2);
      embeddedOnly("a token signed here");
      const svc = await openServices(cfg, { migrate: false });
      try {
        const subject = o.operator ? svc.system.operatorPrincipalId : o.subject!;
        const jwt = await svc.tokens.sign({
          subject,
          ttlMs,
          ...(tenant !== undefined ? { directoryId: tenant } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.service ? { service: true } : {}),
        });
        process.stdout.write(`${jwt}\n`);
      } finally {
        await svc.close();
      }
    });

  token
    .command("rotate-key")
    .description(
      "start signing with a new key; earlier keys keep verifying until tokens they signed can have expired",
    )
    .action(async (_o: unknown, cmd: Command) => {
      embeddedOnly("a new signing key");
      const cfg = cliConfig();
      const svc = await openServices(cfg, { migrate: false });
      try {
        const now = svc.clock.now();
        const key = await rotateKeys(cfg.dataDir, now, cfg.tokenMaxTtlMs + cfg.tokenClockSkewMs);
        await svc.store.db.transaction().execute((trx) =>
          appendAudit(
            trx,
            { principalId: svc.system.operatorPrincipalId, requestId: `cli-${randomUUID()}` },
            now,
            {
              action: "signingKeys/write",
              target: `/signingKeys/${key.kid}`,
              details: { op: "rotate" },
            },
          ),
        );
        printObject({ kid: key.kid, createdAt: key.createdAt }, globals(cmd));
        if (!globals(cmd).json)
          process.stderr.write(
            "New tokens are signed with this key; servers pick it up within seconds, without a restart.\n",
          );
      } finally {
        await svc.close();
      }
    });
}
