import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { Config } from "../config.js";
import { buildApp } from "../http/app.js";
import type { App } from "../http/types.js";
import { openServices, type Services } from "../services.js";
import { CliError } from "./errors.js";

/**
 * How CLI commands reach tally: through the HTTP API, either in-process against the local database
 * (acting as the operator) or against a remote server with a token. Both run the same validation,
 * authorization and audit code as any other client.
 */
export interface ApiClient {
  request<T = unknown>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  /** The raw response, for downloads and non-JSON answers. */
  raw(method: string, path: string, body?: string | Buffer, opts?: RequestOptions): Promise<RawResponse>;
  /** A GET whose body is read as it arrives: large downloads. */
  stream(path: string, opts?: RequestOptions): Promise<StreamResponse>;
  close(): Promise<void>;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Readable;
}

export interface RequestOptions {
  headers?: Record<string, string>;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface ErrorEnvelope {
  error?: {
    code?: string;
    message?: string;
    details?: { field: string; reason: string; index?: number; line?: number }[];
  };
}

export function describeFailure(status: number, text: string): string {
  let env: ErrorEnvelope | undefined;
  try {
    env = JSON.parse(text) as ErrorEnvelope;
  } catch {
    env = undefined;
  }
  if (!env?.error) return `HTTP ${status}: ${text.slice(0, 500)}`;
  const lines = [`${env.error.code ?? status}: ${env.error.message ?? ""}`];
  const details = env.error.details ?? [];
  const restated =
    details.length === 1 && env.error.message === `${details[0]!.field}: ${details[0]!.reason}`;
  for (const d of restated ? [] : details) {
    const where = d.line !== undefined ? `line ${d.line}: ` : d.index !== undefined ? `[${d.index}] ` : "";
    lines.push(`  ${where}${d.field}: ${d.reason}`);
  }
  return lines.join("\n");
}

function jsonOf<T>(r: RawResponse): T {
  if (r.status >= 400) throw new CliError(describeFailure(r.status, r.body));
  if (r.status === 204 || r.body === "") return undefined as T;
  return JSON.parse(r.body) as T;
}

const encode = (body: unknown) => (body === undefined ? undefined : JSON.stringify(body));

export class LocalClient implements ApiClient {
  private constructor(
    readonly svc: Services,
    private readonly app: App,
    private readonly token: string,
  ) {}

  static async open(config: Config): Promise<LocalClient> {
    const svc = await openServices(config, { migrate: false, logger: undefined, localOperator: true });
    svc.logger.level = "warn";
    const app = await buildApp(svc);
    await app.ready();
    const token = await svc.tokens.sign({ subject: svc.system.operatorPrincipalId, ttlMs: 3_600_000 });
    return new LocalClient(svc, app, token);
  }

  async raw(
    method: string,
    path: string,
    body?: string | Buffer,
    opts: RequestOptions = {},
  ): Promise<RawResponse> {
    const res = await this.app.inject({
      method: method as "GET",
      url: path,
      headers: {
        authorization: `Bearer ${this.token}`,
        "x-request-id": `cli-${randomUUID()}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...opts.headers,
      },
      ...(body !== undefined ? { payload: body } : {}),
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = String(v);
    return { status: res.statusCode, headers, body: res.body };
  }

  async request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return jsonOf<T>(await this.raw(method, path, encode(body), opts));
  }

  async stream(path: string, opts: RequestOptions = {}): Promise<StreamResponse> {
    const res = await this.app.inject({
      method: "GET",
      url: path,
      headers: {
        authorization: `Bearer ${this.token}`,
        "x-request-id": `cli-${randomUUID()}`,
        ...opts.headers,
      },
      payloadAsStream: true,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = String(v);
    return { status: res.statusCode, headers, body: res.stream() };
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.svc.close();
  }
}

export class RemoteClient implements ApiClient {
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  async raw(
    method: string,
    path: string,
    body?: string | Buffer,
    opts: RequestOptions = {},
  ): Promise<RawResponse> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...opts.headers,
        },
        ...(body !== undefined ? { body } : {}),
      });
    } catch (e) {
      throw new CliError(`cannot reach ${this.server}: ${(e as Error).cause ?? (e as Error).message}`);
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { status: res.status, headers, body: await res.text() };
  }

  async request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return jsonOf<T>(await this.raw(method, path, encode(body), opts));
  }

  async stream(path: string, opts: RequestOptions = {}): Promise<StreamResponse> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), {
        headers: { authorization: `Bearer ${this.token}`, ...opts.headers },
      });
    } catch (e) {
      throw new CliError(`cannot reach ${this.server}: ${(e as Error).cause ?? (e as Error).message}`);
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    return { status: res.status, headers, body };
  }

  async close(): Promise<void> {}
}
