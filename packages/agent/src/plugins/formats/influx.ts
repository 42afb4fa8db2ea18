import { OutputError, type ParsedSample, sanitizeLabelName, sanitizeMetricName } from './types.ts';

/** Splits at `sep` outside double quotes, honouring backslash escapes. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] as string);
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

const unescapeInflux = (s: string) => s.replace(/\\([ ,="\\])/g, '$1');

function fieldValue(raw: string): number | undefined {
  if (raw.startsWith('"')) return undefined; // string fields carry no number
  if (/^(t|T|true|True|TRUE)$/.test(raw)) return 1;
  if (/^(f|F|false|False|FALSE)$/.test(raw)) return 0;
  const m = /^(-?\d+)[iu]$/.exec(raw);
  if (m) return Number(m[1]);
  const v = Number(raw);
  if (raw === '' || Number.isNaN(v)) throw new Error(`"${raw}" is not a field value`);
  return v;
}

/**
 * InfluxDB line protocol, `measurement,tag=v field=1.5,count=3i [timestamp]`. Each numeric
 * field becomes `<measurement>_<field>` (just `<measurement>` for a field named `value`), tags
 * become labels, booleans 1/0; string fields and timestamps are skipped.
 */
export function parseInfluxLines(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = splitUnescaped(line, ' ').filter((p) => p !== '');
    if (parts.length < 2) throw new OutputError(i + 1, 'expected "measurement[,tags] fields [timestamp]"');
    const [series, fields] = parts as [string, string];
    const [measurement, ...tags] = splitUnescaped(series, ',');
    if (!measurement) throw new OutputError(i + 1, 'missing measurement');
    const labels: Record<string, string> = {};
    for (const tag of tags) {
      const kv = splitUnescaped(tag, '=');
      if (kv.length !== 2 || !kv[0]) throw new OutputError(i + 1, `tag "${tag}" is not key=value`);
      labels[sanitizeLabelName(unescapeInflux(kv[0]))] = unescapeInflux(kv[1] as string);
    }
    const base = sanitizeMetricName(unescapeInflux(measurement));
    for (const field of splitUnescaped(fields, ',')) {
      const kv = splitUnescaped(field, '=');
      if (kv.length !== 2 || !kv[0]) throw new OutputError(i + 1, `field "${field}" is not key=value`);
      let value: number | undefined;
      try {
        value = fieldValue(kv[1] as string);
      } catch (err) {
        throw new OutputError(i + 1, `${(err as Error).message} in field ${kv[0]}`);
      }
      if (value === undefined) continue;
      const key = unescapeInflux(kv[0]);
      out.push({ name: key === 'value' ? base : `${base}_${sanitizeMetricName(key)}`, labels: { ...labels }, value });
    }
  }
  return out;
}
