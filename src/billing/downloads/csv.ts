import type { Readable } from "node:stream";
import { stringify } from "csv-stringify";

export type CsvRecord = readonly (string | null)[];

/**
 * A CSV body written from chunks of records as the reader takes them: the next chunk is asked for
 * only when the stringifier has drained, so a slow client slows the database reads instead of
 * filling memory. A client that goes away ends the source (its `finally` blocks release database
 * connections). UTF-8 with a byte-order mark, so that spreadsheets read names correctly.
 */
export function csvBody(
  chunks: AsyncIterable<readonly CsvRecord[]> | Iterable<readonly CsvRecord[]>,
): Readable {
  const out = stringify({ bom: true });
  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        out.off("drain", done);
        out.off("close", done);
        resolve();
      };
      out.on("drain", done);
      out.on("close", done);
    });
  void (async () => {
    try {
      for await (const chunk of chunks) {
        for (const rec of chunk) {
          if (out.destroyed) return;
          if (!out.write(rec)) await writable();
        }
        if (out.destroyed) return;
      }
      out.end();
    } catch (e) {
      out.destroy(e as Error);
    }
  })();
  return out;
}
