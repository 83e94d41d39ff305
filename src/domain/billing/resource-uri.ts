/**
 * The parts of an ARM resource id the usage files show in their own columns:
 * `/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{subtype}/{name}…]`.
 * Anything that is not such an id (a bare name, a custom source's uri) gives empty parts and keeps
 * the whole text as the instance id.
 */
export interface ResourceParts {
  resourceGroup: string;
  /** The resource provider namespace, e.g. `Microsoft.Compute`: Azure's "consumed service". */
  consumedService: string;
  /** The last name segment: `vm1` of `…/virtualMachines/vm1`. */
  resourceName: string;
}

const EMPTY: ResourceParts = { resourceGroup: "", consumedService: "", resourceName: "" };

export function resourceParts(uri: string): ResourceParts {
  const seg = uri.split("/");
  let resourceGroup = "";
  let consumedService = "";
  let providersAt = -1;
  for (let i = 1; i + 1 < seg.length; i++) {
    const k = seg[i]!.toLowerCase();
    if (k === "resourcegroups" && resourceGroup === "") resourceGroup = seg[i + 1]!;
    else if (k === "providers") {
      providersAt = i;
      consumedService = seg[i + 1]!;
    }
  }
  if (providersAt < 0 && resourceGroup === "") return EMPTY;
  // After the namespace, segments alternate type/name; the name is the last one of an even tail.
  const tail = providersAt < 0 ? [] : seg.slice(providersAt + 2);
  const resourceName = tail.length >= 2 && tail.length % 2 === 0 ? tail[tail.length - 1]! : "";
  return { resourceGroup, consumedService, resourceName };
}

/**
 * `resourceParts` with a memory of recent uris: a usage file repeats each instance on every day
 * and meter. The memory is forgotten whenever it reaches `size` entries, so it stays bounded.
 */
export function resourcePartsCache(size = 50_000): (uri: string) => ResourceParts {
  let seen = new Map<string, ResourceParts>();
  return (uri) => {
    let p = seen.get(uri);
    if (p === undefined) {
      if (seen.size >= size) seen = new Map();
      p = resourceParts(uri);
      seen.set(uri, p);
    }
    return p;
  };
}
