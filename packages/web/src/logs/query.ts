/** Building log queries (docs/logs.md) from clicks, and reading the position out of the server's refusals. */

/** A value as the query language reads it: bare when it is one plain run, else quoted. */
export function quoteValue(value: string): string {
  return /^[\w.\-/@]+$/.test(value) ? value : `"${value.replaceAll('"', ' ')}"`;
}

/** `field:value`, added to the query unless it is there already. */
export function addTerm(query: string, field: string, value: string): string {
  const term = `${field}:${quoteValue(value)}`;
  const q = query.trim();
  if (q.split(/\s+/).includes(term)) return q;
  return q ? `${q} ${term}` : term;
}

/**
 * The query sent for `typed`, fixed to one agent when given and narrowed by the page's host and
 * source filters: those terms go first, so a refusal's position moves by the prefix's length
 * (`queryRefusal` takes it off again). Juxtaposition is AND and OR binds tighter, so the typed
 * query keeps its meaning.
 */
export function scopedQuery(
  typed: string,
  agentId: string | undefined,
  filters: { host?: string; source?: string } = {},
): { q: string; offset: number } {
  const terms: string[] = [];
  if (agentId !== undefined) terms.push(`agent:${quoteValue(agentId)}`);
  if (filters.host) terms.push(`host:${quoteValue(filters.host)}`);
  if (filters.source) terms.push(`source:${quoteValue(filters.source)}`);
  if (!terms.length) return { q: typed, offset: 0 };
  const prefix = `${terms.join(' ')} `;
  return { q: typed.trim() ? prefix + typed : prefix.trim(), offset: prefix.length };
}

/** A refusal of the query ("querystring q: position 7: unclosed quote...") told in the typed query's positions. */
export function queryRefusal(message: string, offset: number): { message: string; position?: number } {
  const m = /position (\d+): (.*)$/s.exec(message);
  if (!m) return { message };
  const position = Math.max(1, Number(m[1]) - offset);
  return { message: `position ${position}: ${m[2]}`, position };
}
