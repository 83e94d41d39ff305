import type { FastifyRequest } from "fastify";
import type { Config } from "../config.js";

const AUTHORITY =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The absolute base URL clients reached this server at, for links they will follow: the
 * configured public URL, else the request's scheme, host and port. `X-Forwarded-Proto` and
 * `X-Forwarded-Host` count only when the connection comes from a trusted proxy
 * (`TALLY_TRUSTED_PROXIES`, applied by Fastify's `trustProxy`); from anyone else they are ignored,
 * so a client cannot make the server hand out links to another host. Undefined when the request
 * names no usable host (and no public URL is configured).
 */
export function publicBaseUrl(req: FastifyRequest, config: Pick<Config, "publicUrl">): string | undefined {
  if (config.publicUrl !== undefined) return config.publicUrl;
  const scheme = req.protocol.toLowerCase();
  const proto = scheme === "https" || scheme === "http" ? scheme : undefined;
  const host = req.host;
  if (proto === undefined || !AUTHORITY.test(host)) return undefined;
  return `${proto}://${host}`;
}
