import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCli, runTally } from "../cli-helpers.js";
import { guid, POSTGRES_URL } from "../helpers.js";

/** `tally usage …` and `tally demo load`, in-process, as a user runs them. */
const cli = localCli("ucli");
const { dataDir } = cli;
const run = runTally;

const H = 3_600_000;
const hourAgo = (n: number) => Math.floor(Date.now() / H) * H - n * H;
const SUB = guid(0x5ab);
const rec = (id: string, quantity: string | number, hoursAgo = 2) => ({
  id,
  subscriptionId: SUB,
  meterId: "FAB6EB84-500B-4A09-A8CA-7358F8BBAEA5",
  quantity,
  usageStartTime: new Date(hourAgo(hoursAgo)).toISOString(),
  usageEndTime: new Date(hourAgo(hoursAgo - 1)).toISOString(),
  resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
  location: "local",
});

describe(`tally usage and demo CLI (${POSTGRES_URL ? "PostgreSQL" : "SQLite"})`, () => {
  let key: string;
  beforeAll(async () => {
    await cli.setUp();
    expect((await run("migrate")).code).toBe(0);
    await run("directory", "create", "--id", guid(0xd1), "--display-name", "Contoso");
    await run("subscription", "create", "--id", SUB, "--display-name", "Prod", "--directory", guid(0xd1));
    key = JSON.parse((await run("--json", "source", "create", "cli-rp")).out).apiKey;
  });
  afterAll(async () => {
    await cli.tearDown();
  });

  it("loads a deterministic demo month through the history import, and again without double counting", async () => {
    const first = await run("--json", "demo", "load", "--days", "2", "--subscriptions", "3", "--seed", "11");
    expect(first.code).toBe(0);
    const a = JSON.parse(first.out);
    expect(a).toMatchObject({ directories: 1, subscriptions: 3 });
    expect(a.records).toBeGreaterThan(300);
    expect(a.duplicatesCollapsed).toBeGreaterThanOrEqual(0);
    const second = JSON.parse(
      (await run("--json", "demo", "load", "--days", "2", "--subscriptions", "3", "--seed", "11")).out,
    );
    expect(second.records).toBe(0);
    const subs = JSON.parse((await run("--json", "subscription", "list", "--all")).out);
    expect(
      subs.filter((s: { providerId: string }) => s.providerId === "demo-reseller").length + subs.length,
    ).toBeGreaterThan(3);
  });

  it("ingests NDJSON in batches, counts duplicates, and names the file lines of a rejected batch", async () => {
    const file = join(dataDir, "usage.ndjson");
    const lines = [
      JSON.stringify(rec("n-1", "1.5")),
      JSON.stringify(rec("n-2", 2)),
      "",
      JSON.stringify(rec("n-3", "0.25")),
      JSON.stringify({ ...rec("n-4", 1), quantity: -3 }),
      // A JSON number with more digits than a double holds goes to the server untouched.
      JSON.stringify(rec("n-5", "0")).replace('"quantity":"0"', '"quantity":123456789.1234567891'),
    ];
    writeFileSync(file, `${lines.join("\n")}\n`);
    const r = await run("usage", "ingest", file, "--key", key, "--batch-size", "2");
    expect(r.code).toBe(1);
    expect(r.out).toBe("new 3, duplicate 0, rejected 2 (in 1 batch)\n");
    expect(r.err).toMatch(/usage\.ndjson line 5: quantity: must not be negative/);
    const again = await run("--json", "usage", "ingest", file, "--key", key, "--batch-size", "10");
    expect(again.code).toBe(1); // the bad line still spoils its batch
    expect(JSON.parse(again.out)).toEqual({ inserted: 0, duplicates: 0, rejected: 5, rejectedBatches: 1 });
    const good = join(dataDir, "good.ndjson");
    writeFileSync(good, [lines[0], lines[1], lines[3], lines[5]].join("\n"));
    expect(JSON.parse((await run("--json", "usage", "ingest", good, "--key", key)).out)).toEqual({
      inserted: 1,
      duplicates: 3,
      rejected: 0,
      rejectedBatches: 0,
    });
    expect((await run("usage", "ingest", good)).code).toBe(2);
  });

  it("ingests CSV with JSON tags", async () => {
    const file = join(dataDir, "usage.csv");
    const r = rec("c-1", "3");
    writeFileSync(
      file,
      `id,subscriptionId,meterId,quantity,usageStartTime,usageEndTime,resourceUri,location,tags\n` +
        `${r.id},${r.subscriptionId},${r.meterId},${r.quantity},${r.usageStartTime},${r.usageEndTime},${r.resourceUri},local,"{""env"":""prod""}"\n`,
    );
    expect(JSON.parse((await run("--json", "usage", "ingest", file, "--key", key)).out)).toMatchObject({
      inserted: 1,
    });
  });

  it("lists usage once the window is closed, as a table, JSON or CSV", async () => {
    const from = new Date(hourAgo(30)).toISOString();
    const to = new Date(hourAgo(0)).toISOString();
    // The records were reported in the current hour, which is not closed: ask on usage time.
    const j = await run(
      "--json",
      "usage",
      "list",
      "--from",
      from,
      "--to",
      to,
      "--time-basis",
      "usage",
      "--all",
    );
    expect(j.code).toBe(0);
    // Usage time answers from closed reported hours only: this hour's records are not in yet.
    const items = JSON.parse(j.out) as { subscriptionId: string; quantity: string }[];
    expect(items.filter((i) => i.subscriptionId === SUB)).toEqual([]);
    expect((await run("usage", "list", "--from", from, "--to", to, "--time-basis", "usage")).err).toMatch(
      /closed until/,
    );
    const open1 = await run("usage", "list", "--from", from, "--to", new Date(hourAgo(-1)).toISOString());
    expect(open1.code).toBe(1);
    expect(open1.err).toMatch(/WindowNotClosed/);
  });

  it("imports history and lists it", async () => {
    const file = join(dataDir, "history.ndjson");
    const t = hourAgo(48);
    const recs = [1, 2, 3].map((i) => ({
      ...rec(`h-${i}`, "0.1"),
      usageStartTime: new Date(t).toISOString(),
      usageEndTime: new Date(t + H).toISOString(),
      reportedTime: new Date(t + H + 10 * 60_000).toISOString(),
      resourceUri: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/old${i}`,
    }));
    writeFileSync(file, recs.map((r) => JSON.stringify(r)).join("\n"));
    expect(JSON.parse((await run("--json", "usage", "import", file)).out)).toMatchObject({
      inserted: 3,
      duplicates: 0,
    });
    const list = await run(
      "--json",
      "usage",
      "list",
      "--from",
      new Date(t + H).toISOString(),
      "--to",
      new Date(t + 2 * H).toISOString(),
      "--group-by",
      "subscription",
      "--subscription",
      SUB,
    );
    expect(JSON.parse(list.out)).toEqual([expect.objectContaining({ subscriptionId: SUB, quantity: "0.3" })]);
    const csv = await run(
      "usage",
      "list",
      "--from",
      new Date(t + H).toISOString(),
      "--to",
      new Date(t + 2 * H).toISOString(),
      "--subscription",
      SUB,
      "--csv",
    );
    expect(csv.out.split("\n")[0]).toBe(
      "subscriptionId,meterId,usageStartTime,usageEndTime,quantity,resourceUri,location",
    );
    expect(csv.out.split("\n")).toHaveLength(5);
  });
});
