/**
 * How a Falconet series (agent id, metric name, labels) becomes a VictoriaMetrics series and back.
 * The agent id is the label `falconet_agent`; the report-sequence markers carry `falconet_kind`.
 * A sample label whose name starts with `falconet_` is written as `falconet_label_<name>`, so no
 * sample label can pose as either, and every other label is written as it is: the mapping is
 * one-to-one (a name starting `falconet_label_` is only ever an escaped one).
 */
import type { Labels } from '@falconet/protocol';

export const AGENT_LABEL = 'falconet_agent';
/** Set only on the store's own series (the sequence markers): a sample's series never carries it. */
export const KIND_LABEL = 'falconet_kind';
const RESERVED = 'falconet_';
const ESCAPED = 'falconet_label_';

export function toVictoriaName(label: string): string {
  return label.startsWith(RESERVED) ? ESCAPED + label : label;
}

/** The Falconet label of a VictoriaMetrics label name; undefined for the store's own labels. */
export function fromVictoriaName(label: string): string | undefined {
  if (label.startsWith(ESCAPED)) return label.slice(ESCAPED.length);
  if (label.startsWith(RESERVED) || label === '__name__') return undefined;
  return label;
}

/** The labels of a remote_write series, sorted by name as the protocol asks. */
export function seriesLabels(agentId: string, name: string, labels: Labels): { name: string; value: string }[] {
  const out = [
    { name: '__name__', value: name },
    { name: AGENT_LABEL, value: agentId },
  ];
  for (const k in labels) out.push({ name: toVictoriaName(k), value: labels[k] as string });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface FalconetSeries {
  agentId: string;
  name: string;
  labels: Record<string, string>;
}

/** A VictoriaMetrics series as Falconet names it; undefined for series not written by a Falconet agent's report. */
export function fromVictoria(metric: Readonly<Record<string, string>>): FalconetSeries | undefined {
  const agentId = metric[AGENT_LABEL];
  const name = metric.__name__;
  if (agentId === undefined || name === undefined || metric[KIND_LABEL] !== undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const k of Object.keys(metric).sort()) {
    const own = fromVictoriaName(k);
    if (own !== undefined) labels[own] = metric[k] as string;
  }
  return { agentId, name, labels };
}

/** A label name MetricsQL takes unquoted in a selector; other names are matched after reading. */
const SELECTOR_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/**
 * A series selector over Falconet's own series (never the markers), with these matchers on
 * VictoriaMetrics label names. Matchers on names a selector cannot spell are left out: every
 * reader checks what it gets, so the selector only has to pick a superset.
 */
export function selector(matchers: readonly Matcher[]): string {
  const parts = [`${AGENT_LABEL}!=""`, `${KIND_LABEL}=""`];
  for (const m of matchers) if (SELECTOR_NAME.test(m.name)) parts.push(`${m.name}${m.op}${quote(m.value)}`);
  return `{${parts.join(',')}}`;
}

/** A MetricsQL string literal. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** A regex that matches exactly one of `values` (RE2 syntax, anchored as selectors are). */
export function anyOf(values: readonly string[]): string {
  return values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/** The matchers of one agent's (or some agents') series of a metric with these sample labels. */
export function seriesMatchers(name: string, agentIds: readonly string[] | undefined, labels: Labels | undefined): Matcher[] {
  const out: Matcher[] = [{ name: '__name__', op: '=', value: name }];
  if (agentIds?.length === 1) out.push({ name: AGENT_LABEL, op: '=', value: agentIds[0] as string });
  else if (agentIds) out.push({ name: AGENT_LABEL, op: '=~', value: anyOf(agentIds) });
  for (const k in labels ?? {}) out.push({ name: toVictoriaName(k), op: '=', value: (labels as Labels)[k] as string });
  return out;
}
