import { decodeCursor, type Page, toPage } from "../domain/cursor.js";
import type { Store } from "../storage/database.js";
import { type AuditFilter, type AuditRecord, listAudit } from "./repository.js";

/**
 * Reading the audit log, newest first. There is deliberately no service (and no route) that
 * changes or removes entries: the log is append-only for everyone, which the database enforces
 * too.
 */
export async function listAuditLog(
  deps: { store: Store },
  q: Omit<AuditFilter, "afterSeq"> & { cursor?: string },
): Promise<Page<AuditRecord>> {
  const { cursor, ...filter } = q;
  const afterSeq = cursor === undefined ? undefined : decodeCursor(cursor, ["number"])[0];
  const rows = await listAudit(deps.store.db, { ...filter, ...(afterSeq === undefined ? {} : { afterSeq }) });
  return toPage(
    rows,
    q.limit,
    (r) => r,
    (r) => [r.seq],
  );
}
