import type { MetricType } from '../../metrics.ts';
import { OutputError, type ParsedSample } from './types.ts';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parseValue(text: string): number {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
  }
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`"${text}" is not a number`);
  return v;
}

function typeOf(declared: string | undefined): MetricType | undefined {
  if (declared === 'counter' || declared === 'gauge' || declared === 'untyped') return declared;
  // Histogram and summary series (_bucket, _sum, _count) pass through as untyped series.
  return declared === undefined ? undefined : 'untyped';
}

/**
 * The Prometheus text format (0.0.4), as node_exporter's textfile collector reads it: HELP and
 * TYPE comments, samples with optional labels and an optional timestamp (ignored: the agent
 * stamps samples with its collection time).
 */
export function parsePrometheusText(text: string): ParsedSample[] {
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  const out: ParsedSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (m?.[1] === 'HELP') help.set(m[2] as string, (m[3] ?? '').replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
      if (m?.[1] === 'TYPE') {
        const t = (m[3] ?? '').trim();
        if (!['counter', 'gauge', 'untyped', 'histogram', 'summary'].includes(t))
          throw new OutputError(lineNo, `unknown metric type "${t}"`);
        types.set(m[2] as string, t);
      }
      continue;
    }
    const nameMatch = NAME.exec(line);
    if (!nameMatch) throw new OutputError(lineNo, `expected a metric name, got "${line.slice(0, 40)}"`);
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      for (;;) {
        while (line[pos] === ' ' || line[pos] === ',') pos++;
        if (line[pos] === '}') {
          pos++;
          break;
        }
        const ln = LABEL_NAME.exec(line.slice(pos));
        if (!ln) throw new OutputError(lineNo, `bad label name at column ${pos + 1}`);
        pos += ln[0].length;
        while (line[pos] === ' ') pos++;
        if (line[pos] !== '=' || line[pos + 1] !== '"') throw new OutputError(lineNo, `expected ="value" after label ${ln[0]}`);
        pos += 2;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new OutputError(lineNo, `unterminated value of label ${ln[0]}`);
          pos++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[pos++];
            value += e === 'n' ? '\n' : (e ?? '');
          } else value += c;
        }
        labels[ln[0]] = value;
      }
    }
    const rest = line.slice(pos).trim().split(/\s+/);
    if (!rest[0]) throw new OutputError(lineNo, `${name}: missing value`);
    let value: number;
    try {
      value = parseValue(rest[0]);
    } catch (err) {
      throw new OutputError(lineNo, `${name}: ${(err as Error).message}`);
    }
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count|total)$/, '');
    out.push({ name, labels, value, type: typeOf(types.get(name) ?? types.get(family)), help: help.get(name) ?? help.get(family) });
  }
  return out;
}
