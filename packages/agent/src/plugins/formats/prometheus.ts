import { parseExposition } from '@falconet/protocol/exposition';
import type { ParsedSample } from './types.ts';

/**
 * The Prometheus text format (0.0.4), read by the same parser as the textfile collector: HELP and
 * TYPE comments, samples with optional labels and an optional timestamp (ignored: the agent
 * stamps samples with its collection time). Histogram and summary series pass through as untyped
 * series under their own names (`_bucket`, `_sum`, `_count`). A malformed line fails the whole
 * output, naming the line (ExpositionParseError).
 */
export function parsePrometheusText(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const f of parseExposition(text).families) {
    const type = f.type === 'histogram' || f.type === 'summary' ? 'untyped' : f.type;
    for (const m of f.metrics)
      out.push({ name: f.name + (m.suffix ?? ''), labels: m.labels, value: m.value, type, help: f.help || undefined });
  }
  return out;
}
