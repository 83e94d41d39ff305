import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  type DeliveryFailure,
  deliver,
  type OutgoingBatch,
  SIGNATURE_HEADER,
  tallyIngestUrl,
  type UpstreamTarget,
  verifySignature,
} from "../../src/bridge/upstream.js";

const H = 3_600_000;
const W = Date.UTC(2026, 10, 23, 5);
const RECORDS = '[{"id":"tb-1","quantity":"1.5"},{"id":"tb-2","quantity":"0.0000000001"}]';
const batch: OutgoingBatch = {
  idempotencyKey: "tally-bridge:cloud:2026112305:0",
  windowStart: W,
  windowEnd: W + H,
  part: 0,
  parts: 2,
  upstreamSubscriptionId: "00000000-0000-4000-8000-000000000de1",
  records: 2,
  recordsJson: RECORDS,
  attempt: 1,
};
const target = (over: Partial<UpstreamTarget>): UpstreamTarget => ({
  type: "Https",
  url: "http://127.0.0.1:1/",
  credential: "s3cret",
  cloudId: "cloud",
  registrationName: "AzureStack-cloud",
  billingModel: "PayAsYouUse",
  ...over,
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
const servers: Server[] = [];
async function serve(handler: Handler, server: Server = createServer(), scheme = "http"): Promise<string> {
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => handler(req, body, res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe("upstream adapters", () => {
  it("Https: posts one signed JSON document per batch, records byte for byte as frozen", async () => {
    let seen: { headers: IncomingMessage["headers"]; body: string } | undefined;
    const url = await serve((req, body, res) => {
      seen = { headers: req.headers, body };
      res.writeHead(202).end();
    });
    const ack = await deliver(target({ url: `${url}/usage` }), batch, {
      timeoutMs: 5000,
      now: W + H + 60_000,
    });
    expect(ack.status).toBe(202);
    expect(seen!.headers["idempotency-key"]).toBe(batch.idempotencyKey);
    expect(seen!.headers["content-type"]).toBe("application/json");
    expect(verifySignature(seen!.body, seen!.headers[SIGNATURE_HEADER] as string, "s3cret")).toBe(true);
    expect(verifySignature(seen!.body, seen!.headers[SIGNATURE_HEADER] as string, "other")).toBe(false);
    expect(verifySignature(`${seen!.body} `, seen!.headers[SIGNATURE_HEADER] as string, "s3cret")).toBe(
      false,
    );
    expect(seen!.body.endsWith(`"records":${RECORDS}}`)).toBe(true);
    expect(JSON.parse(seen!.body)).toEqual({
      type: "tally.usage.batch",
      version: 1,
      idempotencyKey: batch.idempotencyKey,
      cloudId: "cloud",
      registration: "AzureStack-cloud",
      billingModel: "PayAsYouUse",
      subscriptionId: batch.upstreamSubscriptionId,
      reportedStartTime: "2026-11-23T05:00:00.000Z",
      reportedEndTime: "2026-11-23T06:00:00.000Z",
      part: 0,
      parts: 2,
      sentAt: "2026-11-23T06:01:00.000Z",
      records: JSON.parse(RECORDS),
    });
  });

  it("classifies failures: answers, refused connections, timeouts", async () => {
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => {
          throw new Error("expected a failure");
        },
        (e: DeliveryFailure) => [e.category, e.message] as const,
      );
    const url = await serve((req, _body, res) => {
      const status = Number(new URL(req.url!, "http://x").searchParams.get("status"));
      if (status === 0) return; // never answers
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "Nope", message: `answered ${status}` } }));
    });
    const at = (status: number) => target({ url: `${url}/?status=${status}` });
    const opts = { timeoutMs: 5000, now: W };
    expect(await fail(deliver(at(500), batch, opts))).toEqual([
      "UpstreamUnavailable",
      "the upstream answered 500: Nope: answered 500",
    ]);
    expect((await fail(deliver(at(401), batch, opts)))[0]).toBe("LoginError");
    expect((await fail(deliver(at(403), batch, opts)))[0]).toBe("Unauthorized");
    expect((await fail(deliver(at(400), batch, opts)))[0]).toBe("UpstreamRejected");
    expect((await fail(deliver(at(0), batch, { timeoutMs: 300, now: W })))[0]).toBe("RequestTimedOut");
    const closed = await serve(() => undefined);
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 50));
    const refused = await fail(deliver(target({ url: closed }), batch, opts));
    expect(refused[0]).toBe("NetworkError");
    expect(refused[1]).toMatch(/ECONNREFUSED/);
  });

  it("Tally: only a tally ingest answer acknowledging every record counts as delivered", async () => {
    let answer = '{"inserted":1,"duplicates":1}';
    let path = "";
    let apiKey: string | undefined;
    const url = await serve((req, _body, res) => {
      path = req.url!;
      apiKey = req.headers["x-api-key"] as string;
      res.writeHead(200, { "content-type": "application/json" }).end(answer);
    });
    const hub = target({ type: "Tally", url: `${url}/` });
    expect(await deliver(hub, batch, { timeoutMs: 5000, now: W })).toEqual({
      status: 200,
      inserted: 1,
      duplicates: 1,
    });
    expect(path).toBe("/api/v1/usage-records");
    expect(apiKey).toBe("s3cret");
    answer = "<html>welcome</html>";
    await expect(deliver(hub, batch, { timeoutMs: 5000, now: W })).rejects.toMatchObject({
      category: "UpstreamRejected",
    });
    answer = '{"inserted":1,"duplicates":0}';
    await expect(deliver(hub, batch, { timeoutMs: 5000, now: W })).rejects.toThrow(/acknowledging 2 record/);
  });

  it("finds a hub's ingest endpoint under a path prefix", () => {
    expect(tallyIngestUrl("https://hub.example.com")).toBe("https://hub.example.com/api/v1/usage-records");
    expect(tallyIngestUrl("https://hub.example.com/tally/")).toBe(
      "https://hub.example.com/tally/api/v1/usage-records",
    );
    expect(tallyIngestUrl("https://hub.example.com/api/v1/usage-records")).toBe(
      "https://hub.example.com/api/v1/usage-records",
    );
  });

  describe("TLS", () => {
    const dir = mkdtempSync(join(tmpdir(), "tally-tls-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    let hasOpenssl = true;
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" });
    } catch {
      hasOpenssl = false;
    }

    it.skipIf(!hasOpenssl)("reports an untrusted certificate as CertificateValidationError", async () => {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=127.0.0.1",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      const server = createHttpsServer({
        key: readFileSync(join(dir, "key.pem")),
        cert: readFileSync(join(dir, "cert.pem")),
      });
      const url = await serve((_req, _body, res) => res.writeHead(200).end("{}"), server, "https");
      expect(url.startsWith("https://")).toBe(true);
      await expect(deliver(target({ url }), batch, { timeoutMs: 5000, now: W })).rejects.toMatchObject({
        category: "CertificateValidationError",
      });
    });
  });
});
