import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { DB } from "../storage/schema.js";

const KEY = "usage_token_secret";

/**
 * The key continuation tokens are signed with. It lives in the database (`meta`), created once
 * by whichever node needs it first, so that every node sharing the database accepts every other
 * node's tokens. A concurrent first creation is settled by the primary key: the loser re-reads.
 */
export async function usageTokenSecret(db: Kysely<DB>): Promise<Buffer> {
  const read = async () =>
    (await db.selectFrom("meta").select("value").where("key", "=", KEY).executeTakeFirst())?.value;
  let value = await read();
  if (value === undefined) {
    await db
      .insertInto("meta")
      .values({ key: KEY, value: randomBytes(32).toString("base64url") })
      .onConflict((oc) => oc.column("key").doNothing())
      .execute();
    value = await read();
  }
  return Buffer.from(value!, "base64url");
}
