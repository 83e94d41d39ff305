import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Clock } from "../src/clock.js";
import { formatQuantity, joinQuantity } from "../src/domain/quantity.js";
import { buildApp } from "../src/http/app.js";
import type { App } from "../src/http/types.js";
import { createLogger, openServices, type Services } from "../src/services.js";
import { dropSchema, type TestApp } from "./helpers.js";

/** Makes a test app listen on a loopback port, as a real server would. */
export async function listen(app: App, port = 0): Promise<string> {
  await app.listen({ port, host: "127.0.0.1" });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/**
 * A tally that can be stopped and started again on the same database, data dir and port: the
 * hub of the bridge tests. `stop` closes the server and the services (as a killed process would
 * leave them); `start` builds new ones, as a restarted process would.
 */
export class RestartableServer {
  svc: Services;
  app: App;
  url = "";
  private port = 0;

  constructor(private readonly t: TestApp) {
    this.svc = t.svc;
    this.app = t.app;
  }

  async listen(): Promise<string> {
    this.url = await listen(this.app, this.port);
    this.port = Number(new URL(this.url).port);
    return this.url;
  }

  async stop(): Promise<void> {
    await this.app.close();
    await this.svc.close();
  }

  async start(clock: Clock): Promise<void> {
    this.svc = await openServices(this.t.config, {
      migrate: true,
      clock,
      logger: createLogger({ logLevel: (process.env.TALLY_TEST_LOG as "error" | undefined) ?? "silent" }),
      ...(this.t.schema ? { schema: this.t.schema } : {}),
    });
    this.app = await buildApp(this.svc);
    await this.listen();
  }

  async cleanup(): Promise<void> {
    await this.app.close().catch(() => undefined);
    await this.svc.close().catch(() => undefined);
    if (this.t.schema) await dropSchema(this.t.schema);
  }
}

/** Raw records stored per subscription: count and exact sum (what "exactly once" is checked on). */
export async function storedTotals(
  svc: Services,
): Promise<Record<string, { records: number; quantity: string }>> {
  const rows = await svc.store.db
    .selectFrom("usage_records as r")
    .innerJoin("subscriptions as s", "s.seq", "r.subscription_seq")
    .select((eb) => [
      "s.id as id",
      eb.fn.countAll().as("n"),
      eb.fn.sum("r.q_units").as("u"),
      eb.fn.sum("r.q_frac").as("f"),
    ])
    .groupBy("s.id")
    .execute();
  const out: Record<string, { records: number; quantity: string }> = {};
  for (const r of rows)
    out[r.id] = { records: Number(r.n), quantity: formatQuantity(joinQuantity(String(r.u), String(r.f))) };
  return out;
}

export type ProxyMode = "pass" | "drop-response";

/**
 * A loopback HTTP proxy in front of a server. In `drop-response` mode it forwards a request,
 * lets the server answer, then cuts the client's connection without passing the answer on: the
 * sender cannot tell the batch arrived, and sends it again.
 */
export class DroppingProxy {
  mode: ProxyMode = "pass";
  requests = 0;
  dropped = 0;
  private server: Server | undefined;

  constructor(private target: () => string) {}

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests++;
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const t = new URL(this.target());
        const up = request(
          { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
          (upRes) => {
            const body: Buffer[] = [];
            upRes.on("data", (c: Buffer) => body.push(c));
            upRes.on("end", () => {
              if (this.mode === "drop-response") {
                this.dropped++;
                this.mode = "pass";
                req.socket.destroy();
                return;
              }
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        up.on("error", () => req.socket.destroy());
        up.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export interface ReceivedBatch {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  doc: {
    idempotencyKey: string;
    subscriptionId: string;
    billingModel: string;
    part: number;
    parts: number;
    records: {
      id: string;
      subscriptionId: string;
      quantity: string;
      additionalInfo: Record<string, string>;
    }[];
  };
}

/**
 * A plain HTTPS-adapter receiver on loopback (plain HTTP: loopback is allowed): keeps every
 * document, answers 200, or `failNext` times 503 first.
 */
export class Receiver {
  received: ReceivedBatch[] = [];
  /** Every request body, refused ones included. */
  attempts: string[] = [];
  failNext = 0;
  private server: Server | undefined;

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        this.attempts.push(body);
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(503, { "content-type": "application/json" }).end('{"error":{"message":"busy"}}');
          return;
        }
        this.received.push({ headers: req.headers, body, doc: JSON.parse(body) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/usage`;
  }

  /** Distinct records received, by id (what a receiver deduplicating on record ids keeps). */
  records() {
    const byId = new Map<string, ReceivedBatch["doc"]["records"][number]>();
    for (const b of this.received) for (const r of b.doc.records) byId.set(r.id, r);
    return [...byId.values()];
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
