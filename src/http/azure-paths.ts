/**
 * ARM matches resource provider namespaces and resource types case-insensitively, and the usage
 * APIs' own documentation spells them both ways (`usageAggregates` / `UsageAggregates`); Fastify's
 * router is case-sensitive. Before routing, the paths of the usage APIs are rewritten to the one
 * spelling their routes are registered with; so are the registration paths' keywords
 * (`resourceGroups`, `Microsoft.AzureStack`, `registrations`, `customerSubscriptions`). Nothing else
 * is touched: ids and names, the query string (which the usage routes read raw) and every other
 * path stay as sent.
 */
const CANONICAL = new Map([
  ["microsoft.commerce/usageaggregates", "Microsoft.Commerce/UsageAggregates"],
  [
    "microsoft.commerce.admin/subscriberusageaggregates",
    "Microsoft.Commerce.Admin/subscriberUsageAggregates",
  ],
  ["microsoft.commerce/subscriberusageaggregates", "Microsoft.Commerce/subscriberUsageAggregates"],
  ["microsoft.commerce/ratecard", "Microsoft.Commerce/RateCard"],
]);

// `/subscriptions/{id}/providers/{namespace}[/locations/..]/{type}[/]`, then the query or the end.
// The `locations/..` form is what the App Service billing script builds with Get-AzResource
// (reference §2.1); .NET collapses the dot segment, other clients may not.
const PATH =
  /^\/subscriptions\/([^/?#]*)\/providers\/([^/?#]+)\/(?:locations\/(?:\.\.|%2e%2e)\/)?([^/?#]+)\/?(?=[?#]|$)/i;

// `/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.AzureStack/registrations[/{name}[/customerSubscriptions]]`.
const REGISTRATIONS =
  /^\/subscriptions\/([^/?#]*)\/resourcegroups\/([^/?#]*)\/providers\/microsoft\.azurestack\/registrations(?=[/?#]|$)(?:(\/[^/?#]+)(\/customersubscriptions(?=[/?#]|$))?)?/i;

function canonicalRegistrationPath(url: string): string {
  const m = REGISTRATIONS.exec(url);
  if (!m) return url;
  const name = m[3] ?? "";
  const customer = m[4] === undefined ? "" : "/customerSubscriptions";
  return `/subscriptions/${m[1]}/resourceGroups/${m[2]}/providers/Microsoft.AzureStack/registrations${name}${customer}${url.slice(m[0].length)}`;
}

export function canonicalAzurePath(url: string): string {
  const c = url.charCodeAt(1);
  if (c !== 115 && c !== 83) return url; // not /s… or /S…: the hot paths pay one comparison
  const m = PATH.exec(url);
  if (!m) return canonicalRegistrationPath(url);
  const canonical = CANONICAL.get(`${m[2]!.toLowerCase()}/${m[3]!.toLowerCase()}`);
  if (canonical === undefined) return url;
  return `/subscriptions/${m[1]}/providers/${canonical}${url.slice(m[0].length)}`;
}
