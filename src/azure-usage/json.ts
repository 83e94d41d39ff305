import { type AzureGranularity, formatAzureInstant, granularityName } from "../domain/azure-query.js";
import type { AzureAggregate } from "./service.js";

/** The resource provider namespace items are typed with: the tenant's or the operator's. */
export type UsageNamespace = "Microsoft.Commerce" | "Microsoft.Commerce.Admin";

/** `20261123_1300`: the usage bucket in an item's name. */
function bucketName(t: number): string {
  const s = new Date(t).toISOString();
  return `${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}_${s.slice(11, 13)}${s.slice(14, 16)}`;
}

/**
 * A usage-API page as JSON text, written field by field rather than by a schema serializer, because
 * the exact text is the contract (reference §2.6–§2.7, §9.3: the SDKs accept malformed answers, so
 * nothing downstream would notice a mistake): `value` always present; items with `id`, `name`,
 * `type` and `properties.{subscriptionId, usageStartTime, usageEndTime, instanceData, quantity,
 * meterId}` in the documented order; dates `yyyy-MM-ddTHH:mm:ss+00:00`; `instanceData` a JSON
 * string; `quantity` a JSON number written from the exact decimal text, never through a double;
 * `nextLink` only when another page follows.
 *
 * The documented name `{subscriptionId}-{meterId}` is not unique when several resources share a
 * meter, or a query spans several buckets; the granularity, the bucket and the instance's content
 * hash are appended to it (`…-Hourly_20261123_1300_3f2a…`), keeping the documented prefix.
 */
export function pageJson(
  items: readonly AzureAggregate[],
  o: { namespace: UsageNamespace; granularity: AzureGranularity; nextLink: string | undefined },
): string {
  const type = `${o.namespace}/UsageAggregate`;
  const g = granularityName(o.granularity);
  const parts: string[] = new Array(items.length);
  for (let k = 0; k < items.length; k++) {
    const a = items[k]!;
    const name = `${a.subscriptionId}-${a.meterId}-${g}_${bucketName(a.usageStart)}_${a.instanceTag}`;
    parts[k] =
      `{"id":"/subscriptions/${a.subscriptionId}/providers/${type}/${name}","name":"${name}","type":"${type}",` +
      `"properties":{"subscriptionId":"${a.subscriptionId}","usageStartTime":"${formatAzureInstant(a.usageStart)}",` +
      `"usageEndTime":"${formatAzureInstant(a.usageEnd)}","instanceData":${JSON.stringify(a.instanceData)},` +
      `"quantity":${a.quantity},"meterId":"${a.meterId}"}}`;
  }
  const next = o.nextLink === undefined ? "" : `,"nextLink":${JSON.stringify(o.nextLink)}`;
  return `{"value":[${parts.join(",")}]${next}}`;
}
