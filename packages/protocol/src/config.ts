import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Document, LineCounter } from 'yaml';
import { z } from 'zod';
import { ConfigError, suggestKey } from './config-base.ts';
import { parseDuration } from './duration.ts';

export { ConfigError, parseHostPort, suggestKey } from './config-base.ts';
export { parseDuration } from './duration.ts';

// The YAML parser is loaded on first use: an agent started with flags and environment only
// (the common case under systemd or in a container) never pays for it in memory.
let yamlModule: typeof import('yaml') | undefined;
/** The `yaml` package, required on first use. */
export function yaml(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}

/**
 * Configuration from a YAML file, `FALCONET_*` environment variables and flags, validated by
 * one zod schema. Precedence: flag > env > file > default. Every error names where it came
 * from: `file:line:column` and the field path, the variable, or the flag.
 */

/** Where one value came from, for messages. */
export type Origin = { kind: 'file'; file: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string };

/** A zod type for a string or a number read by `parse`, whose error message becomes the issue's. */
const parsedBy = (parse: (input: string | number) => number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parse(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** A zod type for durations written as strings or seconds, yielding milliseconds. */
export const duration = () => parsedBy(parseDuration);

/** Bytes per unit of a size, by lower-case unit: decimal KB..TB, binary KiB..TiB, and K..T short for the binary ones. */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

/**
 * Parses a size into bytes: a bare number of bytes, or a number and a unit, case-insensitive: `B`;
 * `KB`, `MB`, `GB`, `TB` (powers of 1000); `KiB`, `MiB`, `GiB`, `TiB` and the short `K`, `M`,
 * `G`, `T` (powers of 1024). Fractions are rounded to whole bytes (`1.5KiB` is 1536).
 */
export function parseByteSize(input: string | number): number {
  if (typeof input === 'number') return input;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = m ? SIZE_UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(`"${input}" is not a size: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 512MiB, 2GB, 65536)`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** A zod type for sizes written as strings or bytes, yielding bytes (parseByteSize). */
export const byteSize = () => parsedBy(parseByteSize);

type Tree = Record<string, unknown>;

function setPath(obj: Tree, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Tree;
  }
  cur[path[path.length - 1] as string] = value;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Tree, v as Tree) : v;
  }
  return out;
}

/** Every leaf path of an object schema, so `FALCONET_DATA_DIR` maps to `data_dir`, not `data.dir`. */
export function schemaLeafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  let s: z.ZodType = schema;
  // Unwrap optional/default/pipe layers to find an object shape.
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'prefault' || def.type === 'nullable') && def.innerType) {
      s = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      s = def.in;
    } else break;
  }
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => schemaLeafPaths(v, [...prefix, k]));
  }
  return [prefix];
}

/** An env value: JSON for arrays/objects/booleans/numbers when it parses, else the string. */
function envValue(raw: string): unknown {
  const t = raw.trim();
  if (/^(true|false|null|-?\d+(\.\d+)?|\[.*\]|\{.*\})$/s.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return raw;
    }
  }
  return raw;
}

export interface LoadOptions {
  /** Path of the YAML file; a missing file is an error only when `required`. */
  file?: string | undefined;
  required?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Values from flags, by config path (`['server', 'url']`), with the flag's name for messages. */
  flags?: { path: string[]; value: unknown; flag: string }[];
  /** Environment prefix; `FALCONET_`. */
  envPrefix?: string;
  /** Env variables with the prefix that are not config keys by design (e.g. FALCONET_CONFIG). */
  ignoreEnv?: readonly string[];
}

export interface Loaded<T> {
  config: T;
  /** Where each top-level path that was set came from. */
  origins: Map<string, Origin>;
  fileText?: string | undefined;
  /** `FALCONET_*` variables that are not keys of this schema (they may be the other binary's). */
  ignoredEnv: string[];
}

export function loadConfig<S extends z.ZodType>(schema: S, opts: LoadOptions): Loaded<z.output<S>> {
  const problems: string[] = [];
  const origins = new Map<string, Origin>();
  let tree: Tree = {};
  let doc: Document | undefined;
  let lines: LineCounter | undefined;
  let fileText: string | undefined;
  const file = opts.file;

  if (file) {
    try {
      fileText = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || opts.required) problems.push(`${file}: cannot read config file (${code ?? String(err)})`);
    }
    if (fileText !== undefined) {
      const { LineCounter, parseDocument } = yaml();
      lines = new LineCounter();
      doc = parseDocument(fileText, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0]);
        problems.push(`${file}:${pos.line}:${pos.col}: invalid YAML: ${e.message.split('\n')[0]}`);
      }
      if (doc.errors.length === 0) {
        const js = documentValue(doc, file, lines, problems);
        if (js !== null && js !== undefined && (typeof js !== 'object' || Array.isArray(js))) {
          problems.push(`${file}:1:1: the config file must be a mapping of keys to values`);
        } else if (js) tree = js as Tree;
      }
    }
  }
  if (problems.length) throw new ConfigError(problems);
  for (const path of schemaLeafPaths(schema)) {
    if (file && fileText !== undefined) origins.set(path.join('.'), { kind: 'file', file });
  }

  const prefix = opts.envPrefix ?? 'FALCONET_';
  const env = opts.env ?? process.env;
  const leafByEnv = new Map(schemaLeafPaths(schema).map((p) => [prefix + p.join('_').toUpperCase(), p]));
  const envTree: Tree = {};
  const ignoredEnv: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(prefix) || raw === undefined || opts.ignoreEnv?.includes(name)) continue;
    const path = leafByEnv.get(name);
    // The agent and the server share the prefix; a variable meant for the other is not an error.
    if (!path) {
      ignoredEnv.push(name);
      continue;
    }
    setPath(envTree, path, envValue(raw));
    origins.set(path.join('.'), { kind: 'env', name });
  }
  const flagTree: Tree = {};
  for (const f of opts.flags ?? []) {
    setPath(flagTree, f.path, f.value);
    origins.set(f.path.join('.'), { kind: 'flag', name: f.flag });
  }
  if (problems.length) throw new ConfigError(problems);

  const merged = merge(merge(tree, envTree), flagTree);
  const result = schema.safeParse(merged);
  if (result.success) return { config: result.data, origins, fileText, ignoredEnv };

  // Reported in the order a reader meets them: file problems by line and column, then the rest.
  const located: { at: Position | undefined; text: string }[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.map(String);
    const dotted = path.join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as unknown as { keys: string[] }).keys;
      for (const key of keys) {
        const hint = suggestKey(key, knownKeys(schema, path));
        const w = where([...path, key], origins, doc, lines, true);
        located.push({ at: w.at, text: `${w.text}: unknown key "${[...path, key].join('.')}"${hint ? ` (did you mean "${hint}"?)` : ''}` });
      }
      continue;
    }
    const w = where(path, origins, doc, lines, false);
    located.push({ at: w.at, text: `${w.text}: ${dotted}: ${plainIssue(issue, valueAt(merged, path))}` });
  }
  located.sort((a, b) => (a.at && b.at ? a.at.line - b.at.line || a.at.col - b.at.col : a.at ? -1 : b.at ? 1 : 0));
  throw new ConfigError(located.map((p) => p.text));
}

type Position = { line: number; col: number };

/**
 * The document as plain values. Some problems surface only here, not in `doc.errors` (an alias of
 * an anchor never set, an alias bomb): they become a problem naming the file and, where it can, the
 * alias's line and column, instead of an exception from the YAML library.
 */
function documentValue(doc: Document, file: string, lines: LineCounter, problems: string[]): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    let at = '';
    yaml().visit(doc, {
      Alias(_, node) {
        if (!at && node.range && (node.resolve(doc) === undefined || /alias count/i.test((err as Error).message))) {
          const pos = lines.linePos(node.range[0]);
          at = `:${pos.line}:${pos.col}`;
        }
      },
    });
    problems.push(`${file}${at}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

function valueAt(tree: unknown, path: readonly string[]): unknown {
  let v = tree;
  for (const part of path) v = v && typeof v === 'object' ? (v as Tree)[part] : undefined;
  return v;
}

/** A value as a message quotes it: strings in quotes, the rest as YAML would write it. */
function quoted(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value && typeof value === 'object') return 'a mapping';
  return String(value);
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of keys to values',
};

/**
 * zod's default wording ("Invalid input: expected number, received string") as a sentence a
 * user reads: what the field must be and what it was. Messages written in a schema are kept.
 */
export function plainIssue(issue: z.core.$ZodIssue, value: unknown): string {
  const own = !/^(Invalid input|Invalid option|Too small|Too big|Invalid [A-Za-z]+$)/.test(issue.message);
  if (own) return issue.message;
  const not = value === undefined ? '' : `, not ${quoted(value)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required';
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}${not}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${quoted(issue.values[0])}${not}`
        : `must be one of ${issue.values.map(String).join(', ')}${not}`;
    case 'too_small':
    case 'too_big': {
      const limit = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const bound = issue.code === 'too_small' ? (issue.inclusive ? 'at least' : 'more than') : issue.inclusive ? 'at most' : 'less than';
      if (issue.origin === 'string') return `must be ${bound} ${limit} characters long${not}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must list ${bound} ${limit} items`;
      return `must be ${bound} ${limit}${not}`;
    }
    case 'invalid_format':
      return `must be a valid ${issue.format === 'url' ? 'URL' : issue.format}${not}`;
    default:
      return issue.message === 'Invalid input' ? `is not valid${not}` : issue.message.replace(/^Invalid input: /, '');
  }
}

function where(
  path: string[],
  origins: Map<string, Origin>,
  doc: Document | undefined,
  lines: LineCounter | undefined,
  key: boolean,
): { text: string; at?: Position } {
  for (let i = path.length; i > 0; i--) {
    const o = origins.get(path.slice(0, i).join('.'));
    if (o?.kind === 'env') return { text: `environment variable ${o.name}` };
    if (o?.kind === 'flag') return { text: `flag ${o.name}` };
  }
  if (doc && lines) {
    const pos = nodePosition(doc, path, key, lines);
    const file = [...origins.values()].find((o) => o.kind === 'file');
    if (pos && file?.kind === 'file') return { text: `${file.file}:${pos.line}:${pos.col}`, at: pos };
    if (file?.kind === 'file') return { text: file.file };
  }
  return { text: 'configuration' };
}

function nodePosition(doc: Document, path: string[], key: boolean, lines: LineCounter): { line: number; col: number } | undefined {
  const { isDocument, isMap, isNode, isScalar, isSeq } = yaml();
  let node: unknown = isDocument(doc) ? doc.contents : undefined;
  let best: { line: number; col: number } | undefined;
  for (let i = 0; i < path.length; i++) {
    if (isSeq(node)) {
      // A list element: `plugins.exec.0.command` walks into the first item.
      const item = node.items[Number(path[i])];
      if (!isNode(item)) break;
      if (item.range) best = lines.linePos(item.range[0]);
      node = item;
      continue;
    }
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === path[i]);
    if (!pair) break;
    const target = key && i === path.length - 1 ? pair.key : pair.value;
    if (isNode(target) && target.range) best = lines.linePos(target.range[0]);
    else if (isNode(pair.key) && pair.key.range) best = lines.linePos(pair.key.range[0]);
    node = pair.value;
  }
  return best;
}

/** Replaces the values of keys that hold secrets, for printing an effective configuration. */
export function maskSecrets(value: unknown, secretKey = /(token|password|secret|key)$/i): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secretKey));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, secretKey.test(k) && typeof v === 'string' && v ? '********' : maskSecrets(v, secretKey)]),
    );
  }
  return value;
}

/** The keys an object schema accepts at `path` (array indices skipped), for "did you mean" hints. */
function knownKeys(schema: z.ZodType, path: readonly string[]): string[] {
  let s: z.ZodType | undefined = schema;
  for (const part of [...path, '']) {
    for (;;) {
      const def: { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType } = (
        s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType } } }
      )._zod.def;
      if (['optional', 'default', 'prefault', 'nullable'].includes(def.type) && def.innerType) s = def.innerType;
      else if (def.type === 'pipe' && def.in) s = def.in;
      else if (def.type === 'array' && def.element && /^\d+$/.test(part)) {
        s = def.element;
        break;
      } else break;
    }
    if (!(s instanceof z.ZodObject)) return [];
    if (part === '') return Object.keys(s.shape);
    if (/^\d+$/.test(part)) continue;
    s = (s.shape as Record<string, z.ZodType>)[part];
    if (!s) return [];
  }
  return [];
}
