import { type Actor, appendAudit } from "../audit/repository.js";
import type { ProviderTree } from "../auth/scoping.js";
import type { Clock } from "../clock.js";
import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import { DomainError, invalid, notFound } from "../domain/errors.js";
import { newGuid } from "../domain/ids.js";
import { type Dec, decimalText, parseDecimal } from "../domain/rating/decimal.js";
import type { Markup as EngineMarkup } from "../domain/rating/engine.js";
import { formatScope, parseScope, type ScopeRef } from "../domain/scope.js";
import { toIso } from "../domain/time.js";
import { findProvider } from "../providers/repository.js";
import type { Store } from "../storage/database.js";
import { isUniqueViolation } from "../storage/errors.js";
import { findMarkup, listMarkupRows, type MarkupRow, markupsByScope } from "./repository.js";

export interface Deps {
  store: Store;
  clock: Clock;
}

export interface Markup {
  id: string;
  scope: string;
  /** Percentage on the price sheets' prices: `20` marks up by 20 %, `-15` is a 15 % discount. */
  percent: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export const toMarkup = (r: MarkupRow): Markup => ({
  id: r.id,
  scope: r.scope,
  percent: r.percent,
  description: r.description,
  createdAt: toIso(r.created_at),
  updatedAt: toIso(r.updated_at),
});

/** From a 100 % discount (free) to a 1000 % markup, with up to 6 decimals. */
export function parsePercent(raw: unknown): Dec | string {
  const d = parseDecimal(raw, { integerDigits: 4, fractionDigits: 6, negative: true });
  if (typeof d === "string") return d;
  if (d.lt(-100)) return "must be at least -100 (a 100 % discount)";
  if (d.gt(1000)) return "must be at most 1000";
  return d;
}

/**
 * A markup's target: a delegated provider (its tenants' charges on offers it resells) or a
 * billing account (everything invoiced to it). The root provider's prices are the price sheets.
 */
export function parseMarkupScope(
  text: string,
): Extract<ScopeRef, { kind: "provider" | "billingAccount" }> | string {
  const s = parseScope(text);
  if (typeof s === "string") return s;
  if (s.kind !== "provider" && s.kind !== "billingAccount")
    return "must be a delegated provider (/providers/{id}) or a billing account (/billingAccounts/{id})";
  return s;
}

export async function createMarkup(
  deps: Deps,
  actor: Actor,
  input: { scope: ScopeRef; percent: Dec; description?: string | undefined },
): Promise<Markup> {
  const now = deps.clock.now();
  const scope = formatScope(input.scope);
  if (input.scope.kind === "provider") {
    const p = await findProvider(deps.store.db, input.scope.providerId);
    if (!p || p.deleted_at !== null)
      throw invalid("scope", `provider '${input.scope.providerId}' does not exist`);
    if (p.parent_id === null)
      throw invalid(
        "scope",
        "the root provider's prices are the price sheets themselves; mark up a delegated provider",
      );
  }
  const id = newGuid();
  try {
    return await deps.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("markups")
        .values({
          id,
          scope,
          percent: decimalText(input.percent),
          description: input.description ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await appendAudit(trx, actor, now, {
        action: "prices/write",
        target: `/markups/${id}`,
        details: {
          op: "create",
          scope,
          percent: decimalText(input.percent),
          description: input.description ?? null,
        },
      });
      return toMarkup((await findMarkup(trx, id))!);
    });
  } catch (e) {
    if (isUniqueViolation(e))
      throw new DomainError("AlreadyExists", `${scope} already has a markup; change it instead.`);
    throw e;
  }
}

export async function getMarkupRow(deps: Deps, id: string): Promise<MarkupRow> {
  const row = await findMarkup(deps.store.db, id);
  if (!row) throw notFound("markup", id);
  return row;
}

export async function listMarkups(
  deps: Deps,
  opts: { cursor?: string; limit: number },
  scopes: "all" | readonly string[],
): Promise<Page<Markup>> {
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, ["string"])[0];
  const rows = await listMarkupRows(deps.store.db, {
    limit: opts.limit,
    ...(after === undefined ? {} : { after }),
    ...(scopes === "all" ? {} : { scopes }),
  });
  return toPage(rows, opts.limit, toMarkup, (r) => [r.scope]);
}

export async function updateMarkup(
  deps: Deps,
  actor: Actor,
  id: string,
  input: { percent?: Dec; description?: string | null },
): Promise<Markup> {
  const now = deps.clock.now();
  return deps.store.db.transaction().execute(async (trx) => {
    const row = await findMarkup(trx, id);
    if (!row) throw notFound("markup", id);
    const percent = input.percent === undefined ? undefined : decimalText(input.percent);
    await trx
      .updateTable("markups")
      .set({
        ...(percent !== undefined ? { percent } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        updated_at: now,
      })
      .where("id", "=", id)
      .execute();
    await appendAudit(trx, actor, now, {
      action: "prices/write",
      target: `/markups/${id}`,
      details: {
        op: "update",
        scope: row.scope,
        before: row.percent,
        ...(percent !== undefined ? { percent } : {}),
      },
    });
    return toMarkup((await findMarkup(trx, id))!);
  });
}

export async function deleteMarkup(deps: Deps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.store.db.transaction().execute(async (trx) => {
    const row = await findMarkup(trx, id);
    if (!row) throw notFound("markup", id);
    await trx.deleteFrom("markups").where("id", "=", id).execute();
    await appendAudit(trx, actor, now, {
      action: "prices/write",
      target: `/markups/${id}`,
      details: { op: "delete", scope: row.scope, percent: row.percent },
    });
  });
}

/**
 * The markup on a subscription's charges: that of the nearest delegated provider on the way from
 * the provider offering the subscription up to (not including) the provider owning its offer. A
 * reseller marks up the offers it resells from above; an offer it owns is priced by it already.
 */
export async function markupFor(
  deps: Pick<Deps, "store">,
  tree: ProviderTree,
  subscriptionProviderId: string,
  offerProviderId: string,
): Promise<EngineMarkup | undefined> {
  const path: string[] = [];
  for (const id of tree.ancestors(subscriptionProviderId)) {
    if (id === offerProviderId) break;
    path.push(`/providers/${id}`);
  }
  const rows = await markupsByScope(deps.store.db, path);
  for (const scope of path) {
    const r = rows.find((m) => m.scope === scope);
    if (r) return { scope, percent: parsePercent(r.percent) as Dec };
  }
  return undefined;
}

/** The markup set at one scope (billing uses it for `/billingAccounts/{id}`, which takes precedence). */
export async function markupAt(deps: Pick<Deps, "store">, scope: string): Promise<EngineMarkup | undefined> {
  const [r] = await markupsByScope(deps.store.db, [scope]);
  return r ? { scope, percent: parsePercent(r.percent) as Dec } : undefined;
}
