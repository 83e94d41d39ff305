import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

const BIN = join(import.meta.dirname, "..", "..", "bin", "tally.js");
const exec = promisify(execFile);

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 20_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /tally is running at (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${err}`)));
  });
}

describe("the tally binary", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tally-bin-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TALLY_DATA_DIR: dataDir,
    TALLY_PORT: "0",
    TALLY_HOST: "127.0.0.1",
    TALLY_LOG_LEVEL: "warn",
  };
  delete env.TALLY_DATABASE_URL;
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("serves on the embedded database, answers a token holder, and stops cleanly on SIGTERM", async () => {
    const server = spawn(process.execPath, [BIN, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await waitForUrl(server);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await fetch(`${url}/api/v1/subscriptions`)).status).toBe(401);
      const { stdout: token } = await exec(process.execPath, [BIN, "token", "create", "--operator"], { env });
      const res = await fetch(`${url}/api/v1/subscriptions`, {
        headers: { authorization: `Bearer ${token.trim()}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: { displayName: string }[] };
      expect(body.items.map((s) => s.displayName)).toContain("Default Provider Subscription");
      // The CLI, run as a separate process against the same SQLite file while the server runs.
      const { stdout } = await exec(process.execPath, [BIN, "--json", "source", "create", "network-rp"], {
        env,
      });
      expect(JSON.parse(stdout).apiKey).toMatch(/^tsk_/);
      // A key rotated by the CLI is picked up by the running server without a restart.
      await exec(process.execPath, [BIN, "token", "rotate-key"], { env });
      const { stdout: rotated } = await exec(process.execPath, [BIN, "token", "create", "--operator"], {
        env,
      });
      const after = await fetch(`${url}/api/v1/subscriptions`, {
        headers: { authorization: `Bearer ${rotated.trim()}` },
      });
      expect(after.status).toBe(200);
      const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      expect(jwks.keys).toHaveLength(2);
    } finally {
      const exited = new Promise<number | null>((r) => server.on("exit", (c) => r(c)));
      server.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });

  it("refuses a bad TALLY_PORT with a message naming the variable", async () => {
    const r = await exec(process.execPath, [BIN, "serve"], { env: { ...env, TALLY_PORT: "eighty" } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(
      /TALLY_PORT: expected a port number from 0 to 65535, got "eighty"/,
    );
  });
});

describe("configuration", () => {
  it("applies the documented defaults", () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.databaseUrl).toBe(join(c.dataDir, "tally.db"));
    expect(c.logLevel).toBe("info");
  });

  it("names every invalid variable", () => {
    expect(() =>
      loadConfig({ TALLY_PORT: "70000", TALLY_LOG_LEVEL: "loud", TALLY_PUBLIC_URL: "not a url" }),
    ).toThrow(
      /TALLY_PORT: .*70000[\s\S]*TALLY_PUBLIC_URL: expected an absolute URL[\s\S]*TALLY_LOG_LEVEL: expected one of/,
    );
  });
});
