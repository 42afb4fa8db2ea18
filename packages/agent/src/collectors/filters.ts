/**
 * Device and pattern filters the collectors apply. Without zod: the running agent gets its
 * configuration already validated (see runtime/config-child.ts) and does not load the schema.
 */

/** Compiles an optional pattern; the empty string means "not set". */
export function optionalRegExp(source: string): RegExp | undefined {
  return source === '' ? undefined : new RegExp(source);
}

/** A device filter from include/exclude patterns, as node_exporter's deviceFilter. */
export function deviceFilter(include: string, exclude: string): (name: string) => boolean {
  const inc = optionalRegExp(include);
  const exc = optionalRegExp(exclude);
  return (name) => (inc ? inc.test(name) : true) && !(exc?.test(name) ?? false);
}
