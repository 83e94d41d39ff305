import { type Kysely, sql } from "kysely";
import type { DB } from "../storage/schema.js";

/** Who did something and under which request: every service write carries one. */
export interface Actor {
  principalId: string;
  requestId: string;
}

export interface AuditEntry {
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  seq: number;
  at: string;
  principalId: string;
  action: string;
  target: string;
  requestId: string;
  details: Record<string, unknown> | null;
}

/** Appends to the audit log inside the caller's transaction, so the change and its record commit together. */
export async function appendAudit(
  db: Kysely<DB>,
  actor: Actor,
  at: number,
  entry: AuditEntry,
): Promise<void> {
  await db
    .insertInto("audit_log")
    .values({
      at,
      principal_id: actor.principalId,
      action: entry.action,
      target: entry.target,
      request_id: actor.requestId,
      details: entry.details === undefined ? null : JSON.stringify(entry.details),
    })
    .execute();
}

export interface AuditFilter {
  afterSeq?: number;
  limit: number;
  principalId?: string;
  action?: string;
  targetPrefix?: string;
  from?: number;
  to?: number;
}

export async function listAudit(db: Kysely<DB>, f: AuditFilter): Promise<AuditRecord[]> {
  let q = db
    .selectFrom("audit_log")
    .selectAll()
    .orderBy("seq", "desc")
    .limit(f.limit + 1);
  if (f.afterSeq !== undefined) q = q.where("seq", "<", f.afterSeq);
  if (f.principalId !== undefined) q = q.where("principal_id", "=", f.principalId);
  if (f.action !== undefined) q = q.where("action", "=", f.action);
  if (f.targetPrefix !== undefined) {
    const pattern = `${f.targetPrefix.replace(/[\\%_]/g, "\\$&")}%`;
    q = q.where(sql<boolean>`target like ${pattern} escape '\\'`);
  }
  if (f.from !== undefined) q = q.where("at", ">=", f.from);
  if (f.to !== undefined) q = q.where("at", "<", f.to);
  const rows = await q.execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    at: new Date(r.at).toISOString(),
    principalId: r.principal_id,
    action: r.action,
    target: r.target,
    requestId: r.request_id,
    details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
  }));
}
