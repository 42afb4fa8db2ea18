/**
 * Message templates: a small Mustache. `{{ labels.host }}` inserts a value, `{{ value | round(1) }}`
 * passes it through filters, `{{#alerts}}...{{/alerts}}` repeats for each item (or renders once
 * for a true value), `{{^alerts}}...{{/alerts}}` renders when empty, `{{! note }}` is a comment.
 * Names are looked up from the innermost section outwards; `.` is the current item, `@number`
 * its 1-based position. Every inserted value passes through the output's escape (HTML for
 * Telegram, JSON string content for a webhook body) unless a `json` or `raw` filter marks it as
 * already in the output's form.
 */
import { templateText } from '@falconet/protocol/api';

export class TemplateError extends Error {
  override name = 'TemplateError';
}

type Filter = { name: string; args: (string | number)[] };

type Node =
  | { t: 'text'; text: string }
  | { t: 'var'; path: string[]; filters: Filter[]; where: string }
  | { t: 'section'; path: string[]; inverted: boolean; children: Node[] };

export interface Template {
  readonly source: string;
  render(data: unknown, esc?: (s: string) => string): string;
}

/** A value a filter already put in the output's own form: inserted as is. */
class Raw {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const FILTERS: Record<string, { args: number; apply: (v: unknown, args: (string | number)[]) => unknown }> = {
  upper: { args: 0, apply: (v) => str(v).toUpperCase() },
  lower: { args: 0, apply: (v) => str(v).toLowerCase() },
  json: { args: 0, apply: (v) => new Raw(JSON.stringify(v ?? null)) },
  raw: { args: 0, apply: (v) => new Raw(str(v)) },
  round: {
    args: 1,
    apply: (v, [n = 2]) => (typeof v === 'number' && Number.isFinite(v) ? String(Number(v.toFixed(Number(n)))) : str(v)),
  },
  humanize: { args: 0, apply: (v) => (typeof v === 'number' ? humanize(v, 1000, ['', 'k', 'M', 'G', 'T', 'P']) : str(v)) },
  bytes: { args: 0, apply: (v) => (typeof v === 'number' ? `${humanize(v, 1024, ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'])}B` : str(v)) },
  duration: { args: 0, apply: (v) => (typeof v === 'number' ? formatDurationMs(v) : str(v)) },
  time: { args: 0, apply: (v) => (typeof v === 'number' && v > 0 ? new Date(v).toISOString() : str(v)) },
  default: { args: 1, apply: (v, [d = '']) => (v === undefined || v === null || v === '' ? d : v) },
  truncate: {
    args: 1,
    apply: (v, [n = 100]) => {
      const s = str(v);
      return s.length > Number(n) ? `${s.slice(0, Math.max(0, Number(n) - 1))}…` : s;
    },
  },
  join: { args: 1, apply: (v, [sep = ', ']) => (Array.isArray(v) ? v.map(str).join(String(sep)) : str(v)) },
};

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (typeof v === 'boolean') return String(v);
  if (v instanceof Raw) return v.text;
  return JSON.stringify(v);
}

function humanize(v: number, base: number, units: string[]): string {
  let i = 0;
  let x = Math.abs(v);
  while (x >= base && i < units.length - 1) {
    x /= base;
    i++;
  }
  const s = x >= 100 || i === 0 ? String(Math.round(x * 100) / 100) : x.toFixed(x >= 10 ? 1 : 2);
  return `${v < 0 ? '-' : ''}${s}${units[i]}`;
}

export function formatDurationMs(msValue: number): string {
  let s = Math.round(Math.abs(msValue) / 1000);
  if (s === 0) return `${Math.round(Math.abs(msValue))}ms`;
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}

function position(source: string, index: number): string {
  const before = source.slice(0, index);
  const line = before.split('\n').length;
  const col = index - before.lastIndexOf('\n');
  return `line ${line}, column ${col}`;
}

function parsePath(expr: string, where: string): string[] {
  if (expr === '.') return ['.'];
  if (!/^@?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/.test(expr)) throw new TemplateError(`template ${where}: "${expr}" is not a name`);
  return expr.split('.');
}

function parseFilter(text: string, where: string): Filter {
  const m = /^([a-z]+)\s*(?:\((.*)\))?$/.exec(text.trim());
  if (!m) throw new TemplateError(`template ${where}: "${text.trim()}" is not a filter`);
  const name = m[1] as string;
  const spec = FILTERS[name];
  if (!spec) throw new TemplateError(`template ${where}: unknown filter "${name}" (${Object.keys(FILTERS).join(', ')})`);
  const args: (string | number)[] = [];
  if (m[2] !== undefined && m[2].trim() !== '') {
    for (const a of m[2].split(',')) {
      const t = a.trim();
      if (/^-?\d+(\.\d+)?$/.test(t)) args.push(Number(t));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(t)) args.push(JSON.parse(t) as string);
      else throw new TemplateError(`template ${where}: filter ${name} takes numbers or "quoted" strings, not ${t}`);
    }
  }
  if (args.length > spec.args) throw new TemplateError(`template ${where}: filter ${name} takes at most ${spec.args} argument(s)`);
  return { name, args };
}

/** What is wrong with a template as written in a rule or channel (it does not compile), or undefined. */
export function templateProblem(source: string): string | undefined {
  try {
    compileTemplate(source);
    return undefined;
  } catch (err) {
    return err instanceof TemplateError ? err.message : String(err);
  }
}

/** A template as written in a channel's own settings (a webhook's body), checked by compiling it. */
export const templateSpec = templateText(templateProblem);

/** Parses a template once; rendering never throws on missing values (they render empty). */
export function compileTemplate(source: string): Template {
  const root: Node[] = [];
  const stack: { node: Extract<Node, { t: 'section' }>; name: string; where: string }[] = [];
  const out = () => stack.at(-1)?.node.children ?? root;
  const tag = /\{\{(.*?)\}\}/gs;
  let last = 0;
  for (let m = tag.exec(source); m; m = tag.exec(source)) {
    if (m.index > last) out().push({ t: 'text', text: source.slice(last, m.index) });
    last = m.index + m[0].length;
    const where = `at ${position(source, m.index)}`;
    const body = (m[1] as string).trim();
    const sigil = body[0];
    if (sigil === '!') continue;
    if (sigil === '#' || sigil === '^') {
      const name = body.slice(1).trim();
      const node = { t: 'section' as const, path: parsePath(name, where), inverted: sigil === '^', children: [] };
      out().push(node);
      stack.push({ node, name, where });
      continue;
    }
    if (sigil === '/') {
      const name = body.slice(1).trim();
      const open = stack.pop();
      if (!open) throw new TemplateError(`template ${where}: {{/${name}}} closes nothing`);
      if (open.name !== name) throw new TemplateError(`template ${where}: {{/${name}}} closes {{#${open.name}}} opened ${open.where}`);
      continue;
    }
    const [expr = '', ...filters] = body.split('|');
    out().push({ t: 'var', path: parsePath(expr.trim(), where), filters: filters.map((f) => parseFilter(f, where)), where });
  }
  const rest = source.slice(last);
  if (rest.includes('{{')) throw new TemplateError(`template at ${position(source, last + rest.indexOf('{{'))}: "{{" is not closed`);
  if (rest) out().push({ t: 'text', text: rest });
  const open = stack.pop();
  if (open) throw new TemplateError(`template ${open.where}: {{#${open.name}}} is not closed`);
  return {
    source,
    render: (data, esc = (s) => s) => renderNodes(root, [data], esc),
  };
}

function lookup(path: string[], scopes: unknown[]): unknown {
  const [head, ...rest] = path;
  if (head === '.') return scopes.at(-1);
  let v: unknown;
  let found = false;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i];
    if (s !== null && typeof s === 'object' && (head as string) in (s as object)) {
      v = (s as Record<string, unknown>)[head as string];
      found = true;
      break;
    }
  }
  if (!found) return undefined;
  for (const p of rest) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== undefined && v !== null && v !== false && v !== '' && v !== 0;
}

function renderNodes(nodes: Node[], scopes: unknown[], esc: (s: string) => string): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'text') out += n.text;
    else if (n.t === 'var') {
      let v = lookup(n.path, scopes);
      for (const f of n.filters) v = (FILTERS[f.name] as (typeof FILTERS)[string]).apply(v, f.args);
      out += v instanceof Raw ? v.text : esc(str(v));
    } else {
      const v = lookup(n.path, scopes);
      if (n.inverted) {
        if (!truthy(v)) out += renderNodes(n.children, scopes, esc);
      } else if (Array.isArray(v)) {
        v.forEach((item, i) => {
          const frame = { '@index': i, '@number': i + 1, '@first': i === 0, '@last': i === v.length - 1 };
          out += renderNodes(n.children, [...scopes, frame, item], esc);
        });
      } else if (truthy(v)) {
        out += renderNodes(n.children, typeof v === 'object' ? [...scopes, v] : scopes, esc);
      }
    }
  }
  return out;
}

/** Escapes for HTML text (Telegram's HTML parse mode, email HTML). */
export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Escapes for the inside of a JSON string literal. */
export const escapeJsonString = (s: string): string => JSON.stringify(s).slice(1, -1);
