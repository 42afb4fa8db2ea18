/**
 * A draft rule evaluated once, now, against the store: what the editor shows while a rule is
 * written. The rule is compiled as the evaluator compiles it and each series is reduced with the
 * evaluator's own window code (SeriesWindow.aggregate, linearFit, compare), so the preview and
 * the alert agree. Bounded: a capped number of hosts is read, a capped number of series answered.
 */
import { PREVIEW_MAX_HOSTS, PREVIEW_MAX_ITEMS, type RulePreview, type RulePreviewItem } from '@falconet/protocol/api';
import { countLines } from '../logs/count.ts';
import type { LogStore } from '../logs/types.ts';
import type { Store } from '../store/types.ts';
import type { AgentFacts } from './evaluator.ts';
import { formatSelector } from './matchers.ts';
import { CompiledRule, compare } from './rule.ts';
import type { RuleSpec } from './spec.ts';
import { linearFit, PointRing, SeriesWindow, seriesKey } from './windows.ts';

export interface PreviewDeps {
  store: Store;
  /** For log_lines rules; without it they preview as no lines. */
  logs?: LogStore | undefined;
  agents: () => readonly AgentFacts[];
  now: () => number;
  maxHosts?: number;
  maxItems?: number;
}

const NO_DEFAULTS = { groupWaitMs: 0, groupIntervalMs: 0, repeatIntervalMs: 0 };

export async function previewRule(spec: RuleSpec, deps: PreviewDeps): Promise<RulePreview> {
  const maxHosts = deps.maxHosts ?? PREVIEW_MAX_HOSTS;
  const maxItems = deps.maxItems ?? PREVIEW_MAX_ITEMS;
  const rule = new CompiledRule('preview', { ...spec, enabled: true }, 'preview', NO_DEFAULTS);
  const now = deps.now();
  // The series selector's exact matchers narrow the store's read; all of them are tested on what it returns.
  const labels = Object.fromEntries(rule.seriesMatchers.filter((m) => m.op === '=' && m.value !== '').map((m) => [m.name, m.value]));
  const narrowed = Object.keys(labels).length ? { labels } : {};
  const taken = deps
    .agents()
    .filter((a) => rule.takesAgent(a.id, a.hostname, a.labels))
    .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
  const read = taken.slice(0, maxHosts);
  const items: RulePreviewItem[] = [];
  let truncated = taken.length > read.length;
  const push = (item: RulePreviewItem) => {
    if (items.length < maxItems) items.push(item);
    else truncated = true;
  };

  if (rule.kind === 'log_lines' && rule.logFilter) {
    // One count over the window for every host, as the evaluator does.
    const counts = deps.logs ? await countLines(deps.logs, rule.logFilter, now - rule.windowMs, now) : new Map();
    if (rule.fleet) {
      let total = 0;
      // With no host selection the fleet is every sender, syslog ones too, as in evaluation.
      if (!rule.hosts && rule.hostMatchers.length === 0) for (const c of counts.values()) total += c.count;
      else for (const a of taken) total += counts.get(a.id)?.count ?? 0;
      push({ agent: '', host: '', series: '', value: total, breach: compare(total, rule.op, rule.threshold) });
    } else {
      for (const a of read) {
        const n = counts.get(a.id)?.count ?? 0;
        push({ agent: a.id, host: a.hostname, series: '', value: n, breach: compare(n, rule.op, rule.threshold) });
      }
    }
  }

  for (const a of rule.kind === 'log_lines' ? [] : read) {
    if (items.length >= maxItems) {
      truncated = true;
      break;
    }
    if (rule.kind === 'agent_offline') {
      const silentS = Math.max(0, (now - a.lastSeenMs) / 1000);
      push({ agent: a.id, host: a.hostname, series: '', value: a.status === 'offline' ? silentS : 0, breach: a.status === 'offline' });
      continue;
    }
    const name = rule.metric as string;
    if (rule.kind === 'no_data') {
      const found = await deps.store.querySeries({ agentId: a.id, name, ...narrowed, fromMs: now - rule.windowMs, toMs: now });
      const last = Math.max(0, ...found.filter((s) => rule.takesSeries(s.labels)).map((s) => s.points.at(-1)?.[0] ?? 0));
      const missing = last === 0;
      push({ agent: a.id, host: a.hostname, series: '', value: missing ? rule.windowMs / 1000 : (now - last) / 1000, breach: missing });
      continue;
    }
    if (rule.kind === 'disk_full') {
      const bucketMs = Math.max(1000, Math.floor(rule.lookbackMs / 120));
      const found = await deps.store.querySeries({
        agentId: a.id,
        name,
        ...narrowed,
        fromMs: now - rule.lookbackMs,
        toMs: now,
        stepMs: bucketMs,
        agg: 'last',
      });
      for (const s of found) {
        if (!rule.takesSeries(s.labels)) continue;
        const ring = new PointRing();
        for (const [t, v] of s.points) if (Number.isFinite(v)) ring.push(t, v);
        const fit = linearFit(ring, rule.lookbackMs);
        const predicted = fit ? fit.at + fit.slope * rule.withinMs : null;
        push({
          agent: a.id,
          host: a.hostname,
          series: seriesText(s.labels),
          value: predicted,
          breach: fit !== undefined && fit.slope < 0 && (predicted as number) <= rule.threshold,
        });
      }
      continue;
    }
    const found = await deps.store.querySeries({ agentId: a.id, name, ...narrowed, fromMs: now - rule.windowMs, toMs: now });
    for (const s of found) {
      if (!rule.takesSeries(s.labels)) continue;
      const sw = new SeriesWindow(seriesKey(a.id, s.labels), a.id, name, s.labels);
      for (const [t, v] of s.points) if (Number.isFinite(v)) sw.add(t, v, rule.windowMs, 0, 0);
      const v = sw.aggregate(rule.aggregation, rule.windowMs);
      const known = Number.isFinite(v);
      push({
        agent: a.id,
        host: a.hostname,
        series: seriesText(s.labels),
        value: known ? v : null,
        breach: known && compare(v, rule.op, rule.threshold),
      });
    }
  }
  return {
    atMs: now,
    condition: rule.describeCondition(),
    metric: rule.metric ?? null,
    hosts: taken.length,
    hostsRead: read.length,
    truncated,
    items,
  };
}

function seriesText(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  return names.length ? formatSelector(names.map((name) => ({ name, op: '=' as const, value: labels[name] as string }))) : '';
}
