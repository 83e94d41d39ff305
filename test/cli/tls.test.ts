import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const BIN = join(import.meta.dirname, "..", "..", "bin", "tally.js");
const TLS = join(import.meta.dirname, "..", "fixtures", "tls");
const CA = readFileSync(join(TLS, "cert.pem"));
const exec = promisify(execFile);

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: CA, headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("tally serve over TLS", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tally-tls-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TALLY_DATA_DIR: dataDir,
    TALLY_PORT: "0",
    TALLY_HOST: "127.0.0.1",
    TALLY_LOG_LEVEL: "warn",
    TALLY_TLS_CERT: join(TLS, "cert.pem"),
    TALLY_TLS_KEY: join(TLS, "key.pem"),
  };
  delete env.TALLY_DATABASE_URL;
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("serves HTTPS with TALLY_TLS_CERT and TALLY_TLS_KEY, the usage APIs included", async () => {
    const server = spawn(process.execPath, [BIN, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = "";
        const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 20_000);
        server.stderr!.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /tally is running at (https:\/\/\S+)/.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!.replace("localhost", "127.0.0.1"));
          }
        });
        server.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${err}`)));
      });
      expect((await get(`${url}/healthz`)).status).toBe(200);
      const { stdout } = await exec(process.execPath, [BIN, "token", "create", "--operator"], { env });
      const auth = { authorization: `Bearer ${stdout.trim()}` };
      const subs = JSON.parse((await get(`${url}/api/v1/subscriptions`, auth)).body) as {
        items: { id: string }[];
      };
      const dps = subs.items[0]!.id;
      const day = Math.floor(Date.now() / 86_400_000) * 86_400_000;
      const q = `reportedStartTime=${new Date(day - 2 * 86_400_000).toISOString()}&reportedEndTime=${new Date(day - 86_400_000).toISOString()}&api-version=2015-06-01-preview`;
      const r = await get(
        `${url}/subscriptions/${dps}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?${q}`,
        auth,
      );
      expect(r).toEqual({ status: 200, body: '{"value":[]}' });
    } finally {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
  });

  it("refuses to start with only one of the two, naming the missing variable", async () => {
    const { TALLY_TLS_KEY: _k, ...half } = env;
    const r = await exec(process.execPath, [BIN, "serve"], { env: half }).catch(
      (e) => e as { code: number; stderr: string },
    );
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toContain(
      "TALLY_TLS_KEY: required together with TALLY_TLS_CERT",
    );
    const missing = await exec(process.execPath, [BIN, "serve"], {
      env: { ...env, TALLY_TLS_CERT: join(dataDir, "nope.pem") },
    }).catch((e) => e as { code: number; stderr: string });
    expect((missing as { code: number }).code).toBe(2);
    expect((missing as { stderr: string }).stderr).toMatch(/TALLY_TLS_CERT: cannot read/);
  });
});
