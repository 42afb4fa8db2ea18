/**
 * The user docs held to the code. Whatever README.md and docs/**\/*.md name in backticks or in code
 * blocks must exist: falconet-agent and falconet-server commands and flags in the binaries' own
 * parsers, HTTP routes in the server's route table (or the agent's exporter), configuration keys
 * and FALCONET_* variables in the zod schemas, repository paths and relative links in the tree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { schemaLeafPaths } from '@falconet/protocol/config';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { collectorOptionKind } from '../packages/agent/src/collectors/options.ts';
import { loadCollectorDefinitions } from '../packages/agent/src/collectors/registry.ts';
import { agentConfigSchema } from '../packages/agent/src/config.ts';
import { Exporter } from '../packages/agent/src/exporter/server.ts';
import { VERIFY_FLAGS } from '../packages/agent/src/release/command.ts';
import { AGENT_NODE_FLAGS } from '../packages/agent/src/runtime/node-flags.ts';
import { COMMANDS as AGENT_COMMANDS, AGENT_FLAGS, NON_CONFIG_ENV as AGENT_NON_CONFIG_ENV } from '../packages/agent/src/runtime/options.ts';
import type { FalconetServer } from '../packages/server/src/app.ts';
import { serverConfigSchema } from '../packages/server/src/config.ts';
import { startTestServer } from '../packages/server/test/support/auth.ts';
import { ROOT, SERVER_CLI, tempDir } from '../testing/processes.ts';

/**
 * Named on purpose and not part of this repository, each with the reason. An entry nothing needs
 * any more fails the test too, so the list cannot rot.
 */
const NOT_OURS = new Map<string, string>([
  ['route /api/metricsx', 'security.md: the example of a path that the scope /api/metrics does not cover'],
  ['route /api/v1/export', "storage.md: VictoriaMetrics' route the VictoriaMetrics store reads with"],
  ['route /api/v1/admin/tsdb/delete_series', "storage.md: VictoriaMetrics' route the VictoriaMetrics store deletes with"],
  ['flag --network', "containers.md: docker run's --network host"],
  ['flag --quick', 'npm run bench -- NAME --quick: a flag of the benchmarks, not of the binaries'],
  ['flag --series', 'adr/0002: a flag of bench/ingest.ts'],
  ['flag --runs', 'testing.md: a flag of bench/fuzz.ts'],
  ['flag --seed', 'testing.md: a flag of bench/fuzz.ts'],
  ['flag --store', 'adr/0002: a flag of bench/ingest.ts'],
  ['flag --varied', 'adr/0004: a flag of bench/store-memory.ts'],
  ['flag --only', 'logs.md: a flag of bench/logs.ts'],
  ['flag --search-lines', 'logs.md: a flag of bench/logs.ts'],
  ['flag --agents', 'server.md: a flag of bench/soak.ts (and of bench/ui, bench/ingest)'],
  ['flag --interval', "server.md: bench/soak.ts's sample period, in a doc of the server (the agent's flag is another)"],
  ['flag --fast-scrape-minutes', 'server.md: a flag of bench/soak.ts'],
  ['flag --fallback-series', 'server.md: a flag of bench/soak.ts'],
  ['env FALCONET_BENCH_PROFILE', 'logs.md: read by bench/logs.ts, not by the binaries'],
  ['env FALCONET_BENCH_PROFILE_AGENT', 'logs.md: read by bench/logs.ts, not by the binaries'],
  ['env FALCONET_BENCH_SERVER_NODE_OPTIONS', 'testing.md: read by the benchmarks (bench/lib-fleet.ts), not by the binaries'],
  ['env FALCONET_TEST_VERBOSE', 'testing.md: read by the test helpers (testing/processes.ts), not by the binaries'],
  ['flag --import', "testing.md: Node's own --import, in options for a benchmark's server"],
  ['flag --trace-gc', "adr/0004: V8's flag, set in a benchmark's server to trace its collections"],
  ['flag --max-semi-space-size', "adr/0004: V8's flag, tried on a benchmark's server"],
  ['flag --heap-growing-percent', "adr/0004: V8's flag, tried on a benchmark's server"],
  ['flag --external-memory-accounted-in-global-limit', "adr/0004: V8's flag, tried on a benchmark's server"],
  ['flag --collector.disable-defaults', "collectors.md: node_exporter's flag, as bench/exporter starts it for equal work"],
  ['flag --targets', 'install.md: a flag of npm run package (scripts/package/main.ts), not of the binaries'],
  ['flag --out', 'install.md: a flag of npm run package (scripts/package/main.ts), not of the binaries'],
  ['env FALCONET_BUILD_VERSION', "install.md: npm run package's --version, read by the build, not by the binaries"],
  ['env FALCONET_RELEASE_KEY_FILE', "install.md: npm run package's signing key, read by the build, not by the binaries"],
  ['env FALCONET_DEB_MAINTAINER', "install.md: the .deb packages' Maintainer field, read by the build, not by the binaries"],
  ['key update.fetch', 'update.md: an audit action of the server, not a configuration key'],
  ['env FALCONET_UPDATE_TRIAL', 'update.md: set by the agent for a new binary on trial, not a setting'],
  ['path packages/server/public', "README.md: the dashboard's build output (npm run build), ignored by git"],
  ['flag --pid', "install.md: docker run's --pid=host"],
  ['flag --platform', "install.md: docker build's --platform"],
  ['flag --build-arg', "install.md: docker build's --build-arg"],
  ['flag --bridge', "install.md: dockerd's --bridge=none"],
  ['env FALCONET_VERSION', 'install.md: a variable of deploy/compose.yaml (the image tag), not of the binaries'],
  ['env FALCONET_AGENT_TOKEN', 'install.md: a variable of deploy/compose.yaml, passed to the agent as FALCONET_SERVER_TOKEN'],
  ['env FALCONET_AGENT_LISTEN', 'install.md: a variable of deploy/compose.yaml, passed to the agent as FALCONET_LISTEN'],
  ['env FALCONET_HOST_MOUNT_OPTIONS', "install.md: a variable of deploy/compose.yaml, the options of the agent's /host mount"],
  ['env FALCONET_POSTGRES_PORT', "install.md: a variable of deploy/compose.yaml, the postgres profile's port"],
  ['env FALCONET_POSTGRES_PASSWORD', "install.md: a variable of deploy/compose.yaml, the postgres profile's password"],
]);

/** `falconet-agent verify` parses its own flags (packages/agent/src/release/command.ts). */
const VERIFY_FLAG_NAMES = new Set(VERIFY_FLAGS.map((f) => f.name));

type Side = 'agent' | 'server';
/** Pages about one binary; the others (README.md, transport, tasks, protocol, ADRs) speak of both. */
const PAGE_SIDE: Record<string, Side> = {
  'docs/agent.md': 'agent',
  'docs/agent-config.md': 'agent',
  'docs/collectors.md': 'agent',
  'docs/plugins.md': 'agent',
  'docs/containers.md': 'agent',
  'docs/server.md': 'server',
  'docs/storage.md': 'server',
  'docs/alerts.md': 'server',
  'docs/security.md': 'server',
  'docs/api.md': 'server',
  'docs/dashboard.md': 'server',
};
const sidesOf = (file: string): Side[] => {
  const side = PAGE_SIDE[file];
  return side ? [side] : ['agent', 'server'];
};

// --- the markdown ---

interface Text {
  file: string;
  line: number;
  text: string;
}
interface Block extends Text {
  lang: string;
}
interface Cell extends Text {
  /** The column's header, lower case, without backticks. */
  header: string;
}
interface Page {
  file: string;
  blocks: Block[];
  /** Backticked spans outside code blocks, whitespace folded, `\|` unescaped. */
  spans: Text[];
  /** Backticked spans in table cells, with their column header. */
  cells: Cell[];
  /** Markdown link targets. */
  links: Text[];
  /** GitHub's anchors of the headings. */
  anchors: Set<string>;
}

function listDocs(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(`${dir}/${e.name}`) : e.name.endsWith('.md') ? [`${dir}/${e.name}`] : [],
    );
  return ['README.md', ...walk('docs')];
}

const SPAN = /`([^`]+)`/g;
const unescapeSpan = (s: string) => s.replace(/\s+/g, ' ').replaceAll('\\|', '|').trim();

function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/ /g, '-');
}

function parsePage(file: string): Page {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const page: Page = { file, blocks: [], spans: [], cells: [], links: [], anchors: new Set() };
  const prose: string[] = [];
  let open: { fence: string; lang: string; line: number; body: string[] } | undefined;
  lines.forEach((line, i) => {
    const fence = /^\s*(`{3,}|~{3,})\s*([\w-]*)\s*$/.exec(line);
    if (open) {
      if (fence && (fence[1] as string).startsWith(open.fence) && !fence[2]) {
        page.blocks.push({ file, line: open.line, lang: open.lang, text: open.body.join('\n') });
        open = undefined;
      } else open.body.push(line);
      prose.push('');
    } else if (fence) {
      open = { fence: fence[1] as string, lang: fence[2] as string, line: i + 2, body: [] };
      prose.push('');
    } else prose.push(line);
  });
  expect(open, `${file}: a code block is not closed`).toBeUndefined();

  const text = prose.join('\n');
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  for (const m of text.matchAll(SPAN)) {
    // A span never crosses a paragraph; a match that does pairs backticks of two different spans.
    if (/\n\s*\n/.test(m[1] as string)) throw new Error(`${file}:${lineAt(m.index)}: unbalanced backticks`);
    page.spans.push({ file, line: lineAt(m.index), text: unescapeSpan(m[1] as string) });
  }
  for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) page.links.push({ file, line: lineAt(m.index), text: m[1] as string });

  const counts = new Map<string, number>();
  for (const line of prose) {
    const h = /^#{1,6}\s+(.*?)\s*#*$/.exec(line);
    if (!h) continue;
    const base = githubAnchor(h[1] as string);
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    page.anchors.add(n ? `${base}-${n}` : base);
  }

  const cellsOf = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/);
  for (let i = 0; i + 1 < prose.length; i++) {
    if (!/^\s*\|/.test(prose[i] as string) || !/^\s*\|[\s:|-]+$/.test(prose[i + 1] as string)) continue;
    const headers = cellsOf(prose[i] as string).map((h) => h.replaceAll('`', '').trim().toLowerCase());
    for (let r = i + 2; r < prose.length && /^\s*\|/.test(prose[r] as string); r++) {
      cellsOf(prose[r] as string).forEach((cell, c) => {
        for (const m of cell.matchAll(SPAN)) {
          page.cells.push({ file, line: r + 1, header: headers[c] ?? '', text: unescapeSpan(m[1] as string) });
        }
      });
    }
  }
  return page;
}

// --- what the code has ---

interface Facts {
  agentCommands: Set<string>;
  agentFlags: Set<string>;
  collectors: Set<string>;
  serverCommands: Set<string>;
  /** `flags:` of the server's --help, for every command. */
  serverFlags: Set<string>;
  /** The other flag sections of --help: create-user and create-token only. */
  serverTokenFlags: Set<string>;
  routes: { method: string; url: string }[];
  /** Paths the agent's exporter answers (probed, not read from its source). */
  agentAnswers(path: string): Promise<boolean>;
  schemas: Record<Side, z.ZodType>;
  env: Record<Side, Set<string>>;
  tracked: Set<string>;
  trackedDirs: Set<string>;
  /** The first names of the tree: packages, e2e, deploy, docs, .ci, README.md, ... */
  topLevel: Set<string>;
}

function runServerCli(args: string[]) {
  return spawnSync(process.execPath, ['--conditions=source', '--disable-warning=ExperimentalWarning', SERVER_CLI, ...args], {
    encoding: 'utf8',
    cwd: tempDir(),
    // Nothing of the caller's configuration: the answers come from the parser alone.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FALCONET_'))),
  });
}

/** The flag names of each section of a --help text (`flags:`, `create-user and create-token flags:`). */
function helpFlagSections(help: string): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let section = '';
  for (const line of help.split('\n')) {
    if (/^\S.*:$/.test(line)) section = line;
    const flag = /^\s+--([a-z][\w.-]*)/.exec(line);
    if (flag && section.endsWith('flags:')) {
      if (!sections.has(section)) sections.set(section, new Set());
      sections.get(section)?.add(flag[1] as string);
    }
  }
  return sections;
}

let server: FalconetServer | undefined;
let exporter: Exporter | undefined;
let facts: Facts;
let pages: Page[];

beforeAll(async () => {
  pages = listDocs().map(parsePage);

  const help = runServerCli(['--help']);
  expect(help.status, help.stderr).toBe(0);
  const sections = helpFlagSections(help.stdout);
  const serverFlags = sections.get('flags:') ?? new Set();
  const serverTokenFlags = new Set([...sections].filter(([name]) => name !== 'flags:').flatMap(([, flags]) => [...flags]));
  // The parser's own list of commands, from the answer to one it does not know.
  const unknown = runServerCli(['no-such-command']);
  const serverCommands = new Set(/\(commands: ([^)]*)\)/.exec(unknown.stderr)?.[1]?.split(', ') ?? []);

  const collectors = new Set<string>();
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    for (const def of await loadCollectorDefinitions(platform)) collectors.add(def.name);
  }

  server = (await startTestServer({ users: false })).server;
  exporter = new Exporter({ host: '127.0.0.1', port: 0, log: pino({ level: 'silent' }), collect: async () => [] });
  const { port } = await exporter.listen();

  const envNames = (schema: z.ZodType, extra: readonly string[]) =>
    new Set([...schemaLeafPaths(schema).map((p) => `FALCONET_${p.join('_').toUpperCase()}`), ...extra]);
  const tracked = new Set(
    execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean),
  );
  const trackedDirs = new Set(
    [...tracked].flatMap((f) =>
      f
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );

  facts = {
    agentCommands: new Set(AGENT_COMMANDS),
    agentFlags: new Set(AGENT_FLAGS.map((f) => f.name)),
    collectors,
    serverCommands,
    serverFlags,
    serverTokenFlags,
    routes: server.routes.map((r) => ({ method: r.method, url: r.url })),
    agentAnswers: async (path) => (await fetch(`http://127.0.0.1:${port}${path}`)).status !== 404,
    schemas: { agent: agentConfigSchema, server: serverConfigSchema },
    // FALCONET_CONFIG names the server's file too (packages/server/src/cli.ts).
    env: { agent: envNames(agentConfigSchema, AGENT_NON_CONFIG_ENV), server: envNames(serverConfigSchema, ['FALCONET_CONFIG']) },
    tracked,
    trackedDirs,
    topLevel: new Set([...tracked].map((f) => f.split('/')[0] as string)),
  };
}, 60_000);

afterAll(async () => {
  await exporter?.close();
  await server?.stop();
});

// --- checks ---

/** A failure, by kind and name (the key of NOT_OURS), with where the docs say it. */
interface Miss {
  key: string;
  where: string;
  why: string;
}
/** What one check found: its failures, and what it looked at (so a test can tell it is not vacuous). */
interface Checked {
  misses: Miss[];
  seen: string[];
}

/** The failures that are not known exceptions, one line each. */
const unexpected = (misses: Miss[]) => [
  ...new Set(misses.filter((m) => !NOT_OURS.has(m.key)).map((m) => `${m.where}: ${m.key}: ${m.why}`)),
];
const at = (t: Text) => `${t.file}:${t.line}`;
const isPlaceholder = (s: string) => /^<[^>]+>$|^[A-Z][A-Z_]*$/.test(s);

// Commands and flags.

interface Invocation extends Text {
  side: Side;
  command: string | undefined;
  flags: string[];
}

const BINARY = /(?:^|[\s/|;&(])(?:falconet-(agent|server)(?:\.js)?|packages\/(agent|server)\/src\/cli\.ts)(?=\s|$)(.*)$/;

/** `falconet-agent once --config FILE`, `node packages/server/bin/falconet-server.js run [--listen ADDR]`, ... */
function invocations(t: Text): Invocation[] {
  const out: Invocation[] = [];
  t.text.split('\n').forEach((line, i) => {
    const m = BINARY.exec(line);
    if (!m) return;
    // Up to a shell comment, pipe or list operator.
    const rest = (m[3] as string).split(/\s(?:#|\||;|&&)/)[0] as string;
    const words = rest
      .split(/\s+/)
      .map((w) => w.replace(/^\[+|\]+$/g, ''))
      .filter(Boolean);
    const first = words[0];
    out.push({
      file: t.file,
      line: t.line + i,
      text: line.trim(),
      side: (m[1] ?? m[2]) as Side,
      command: first && /^[a-z][a-z-]*$/.test(first) ? first : undefined,
      flags: words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=')[0] as string),
    });
  });
  return out;
}

function agentFlagKnown(name: string): boolean {
  if (facts.agentFlags.has(name)) return true;
  const m = /^(?:no-)?collector\.([^.]+)(?:\.(.+))?$/.exec(name);
  if (!m) return false;
  const [collector, option] = [m[1] as string, m[2]];
  if (option === undefined) return isPlaceholder(collector) || facts.collectors.has(collector);
  if (isPlaceholder(collector) && isPlaceholder(option)) return true;
  return collectorOptionKind(collector, option) !== undefined;
}

/** The V8 settings `run` re-executes itself with (`--no-opt`, `--max-semi-space-size=1`): a value, when written, must be the one it uses. */
function isAgentNodeFlag(word: string): boolean {
  return AGENT_NODE_FLAGS.some((f) => (word.includes('=') ? f === word : f.split('=')[0] === word));
}

function flagKnown(side: Side, name: string, command?: string): boolean {
  if (side === 'agent') return agentFlagKnown(name) || ((command === undefined || command === 'verify') && VERIFY_FLAG_NAMES.has(name));
  if (facts.serverFlags.has(name)) return true;
  return (
    (command === undefined || command === 'create-user' || command === 'create-token' || command === 'release') &&
    facts.serverTokenFlags.has(name)
  );
}

function commandKnown(side: Side, command: string): boolean {
  return (side === 'agent' ? facts.agentCommands : facts.serverCommands).has(command);
}

// Routes.

const METHODS = 'GET|HEAD|POST|PUT|PATCH|DELETE';
/** Paths that are routes when a span or code names them without a method; /proc/... and /etc/... are not. */
const ROUTE_ROOTS = ['api', 'metrics', 'healthz'];

interface RouteMention extends Text {
  methods: string[];
  path: string;
}

function routeMentions(t: Text, inCode: boolean): RouteMention[] {
  const out: RouteMention[] = [];
  const add = (methods: string[], raw: string, line: number) => {
    const path = raw.replace(/[?#].*$/, '').replace(/[.,;:]+$/, '');
    out.push({ file: t.file, line, text: raw, methods, path });
  };
  if (!inCode) {
    const withMethod = new RegExp(`^((?:${METHODS})(?:\\s*,\\s*(?:${METHODS}))*)\\s+(/\\S*)`).exec(t.text);
    if (withMethod) add((withMethod[1] as string).split(/\s*,\s*/), withMethod[2] as string, t.line);
    else if (new RegExp(`^/(${ROUTE_ROOTS.join('|')})(?=[/?#]|$)`).test(t.text)) add([], t.text.split(' ')[0] as string, t.line);
    return out;
  }
  t.text.split('\n').forEach((line, i) => {
    // In code: after a host:port, a space, a quote or a comma (`--scope /api/metrics,/api/agents`).
    for (const m of line.matchAll(new RegExp(`(?:^|[\\s'"(,=]|:\\d+)(/(?:${ROUTE_ROOTS.join('|')})(?=[/?#\\s'",)]|$)[^\\s'",)]*)`, 'g'))) {
      add([], m[1] as string, t.line + i);
    }
  });
  return out;
}

/** Whether a documented path names a route: `:param` and UPPER placeholders stand for a route's parameter, `a|b` for either, `...` or a trailing slash for anything below. */
function routeMatches(doc: string, route: string): boolean {
  const prefix = doc.endsWith('/...') || doc.endsWith('/') || doc === '/api';
  const d = doc
    .replace(/\/\.\.\.$|\/$/, '')
    .split('/')
    .slice(1);
  const r = route.split('/').slice(1);
  if (prefix ? r.length < d.length : r.length !== d.length) return false;
  return d.every((seg, i) => {
    const rs = r[i] as string;
    if (rs.startsWith(':')) return true;
    if (seg.startsWith(':') || isPlaceholder(seg)) return false;
    return seg.split('|').includes(rs);
  });
}

// Configuration keys.

type Def = {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
};
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Whether a key path (`plugins.exec[].name`, `collectors.<name>.interval`, `tasks.*`) exists in a schema. */
function keyInSchema(schema: z.ZodType, path: string[]): boolean {
  let def = defOf(schema);
  for (;;) {
    if (['optional', 'default', 'prefault', 'nullable'].includes(def.type) && def.innerType) def = defOf(def.innerType);
    else if (def.type === 'pipe' && def.in) def = defOf(def.in);
    else break;
  }
  if (path.length === 0) return true;
  const [head, ...rest] = path as [string, ...string[]];
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      if (head === '*') return rest.length === 0;
      if (isPlaceholder(head)) return Object.values(shape).some((s) => keyInSchema(s, rest));
      return Object.hasOwn(shape, head) && keyInSchema(shape[head] as z.ZodType, rest);
    }
    case 'record':
      return head === '*' ? rest.length === 0 : keyInSchema(def.valueType as z.ZodType, rest);
    case 'array':
      return head === '[]' && keyInSchema(def.element as z.ZodType, rest);
    case 'union':
      return (def.options ?? []).some((o) => keyInSchema(o, path));
    default:
      return false;
  }
}

const keyPath = (key: string) => key.split('.').flatMap((seg) => (seg.endsWith('[]') ? [seg.slice(0, -2), '[]'] : [seg]));
const KEY = /^[a-z][a-z0-9_]*(?:\[\])?(?:\.(?:[a-z0-9_]+(?:\[\])?|<[a-z_]+>|[A-Z][A-Z_]*|\*))*$/;
const FILE_EXTENSION = /\.(md|ya?ml|json|jsonl|ts|tsx|js|mjs|c|proto|db|pem|crt|log|pid|sh|py|prom|tmp|html|png)$/;

function topKeys(schema: z.ZodType): Set<string> {
  return new Set(schemaLeafPaths(schema).map((p) => p[0] as string));
}

function keyMiss(sides: Side[], key: string): string | undefined {
  const path = keyPath(key);
  if (!sides.some((s) => keyInSchema(facts.schemas[s], path))) return `not a key of the ${sides.join(' or ')} configuration`;
  if (path[0] === 'collectors' && path[1] && path[1] !== '*' && !isPlaceholder(path[1]) && sides.includes('agent')) {
    if (!facts.collectors.has(path[1])) return `no collector "${path[1]}"`;
  }
  return undefined;
}

/** Every key path a YAML value sets, arrays of mappings as `[]`. */
function yamlKeys(value: unknown, prefix: string[] = []): string[][] {
  if (Array.isArray(value)) return value.flatMap((v) => (v && typeof v === 'object' ? yamlKeys(v, [...prefix, '[]']) : []));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...yamlKeys(v, [...prefix, k])]);
  }
  return [];
}

// Paths.

const SOURCE_FILE = /\.(ts|tsx|mjs|js|c|proto)$/;

function pathTokens(t: Text): Text[] {
  return t.text.split('\n').flatMap((line, i) =>
    line
      .split(/[\s'"()[\],]+/)
      .filter(Boolean)
      .map((w) => ({ file: t.file, line: t.line + i, text: w.replace(/[.:;]+$/, '').replace(/:\d+$/, '') })),
  );
}

function pathPattern(path: string): RegExp {
  const escaped = path.replace(/[.+?^${}()|\\]/g, '\\$&').replace(/<[^>]+>|\*/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}

function inTree(path: string, suffix: boolean): boolean {
  const p = path.replace(/\/$/, '');
  if (!suffix && !/[<*]/.test(p)) return facts.tracked.has(p) || facts.trackedDirs.has(p);
  const re = suffix ? new RegExp(`(^|/)${pathPattern(p).source.slice(1)}`) : pathPattern(p);
  return [...facts.tracked, ...facts.trackedDirs].some((f) => re.test(f));
}

/**
 * A path from the top of the tree (`deploy/k8s/falconet-agent.yaml`, `docs/adr/`) must be there; a
 * source file named from inside its package (`src/collection.ts`, `store.test.ts`) must end a
 * path that is. Anything else (`/proc/stat`, `data_dir/spool`, `falconet-agent.yaml`) is no
 * path of the repository.
 */
function pathCheck(token: string): { checked: boolean; why?: string } {
  if (token.startsWith('/') || /^[a-z]+:/.test(token)) return { checked: false };
  const top = token.split('/')[0] as string;
  if (token.includes('/') && facts.topLevel.has(top))
    return inTree(token, false) ? { checked: true } : { checked: true, why: 'not in the tree' };
  if ((token.includes('/') && SOURCE_FILE.test(token)) || /^[\w.-]+\.test\.tsx?$/.test(token)) {
    return inTree(token, true) ? { checked: true } : { checked: true, why: 'no file in the tree ends with this path' };
  }
  return { checked: false };
}

// --- the checks ---

function checkCommands(): Checked {
  const misses: Miss[] = [];
  const seen: string[] = [];
  for (const page of pages) {
    const sides = sidesOf(page.file);
    for (const inv of [...page.blocks, ...page.spans].flatMap(invocations)) {
      seen.push(`${inv.side} ${inv.command ?? ''}`);
      if (inv.command && !commandKnown(inv.side, inv.command)) {
        misses.push({ key: `command falconet-${inv.side} ${inv.command}`, where: at(inv), why: 'no such command' });
      }
      for (const flag of inv.flags) {
        if (!flagKnown(inv.side, flag, inv.command)) {
          misses.push({ key: `flag --${flag}`, where: at(inv), why: `falconet-${inv.side} ${inv.command ?? ''} has no such flag` });
        }
      }
    }
    // The first column of a command table: `run` (default), `start`, ...
    for (const cell of page.cells.filter((c) => c.header === 'command')) {
      const command = cell.text.split(' ')[0] as string;
      seen.push(`table ${command}`);
      if (!sides.some((s) => commandKnown(s, command))) misses.push({ key: `command ${command}`, where: at(cell), why: 'no such command' });
    }
    // A span of flags alone: `--config FILE`, `--collector.<name>.<option>`, `--tls-cert FILE --tls-key FILE`.
    for (const span of page.spans.filter((s) => s.text.startsWith('--'))) {
      for (const word of span.text.split(' ').map((w) => w.replace(/^\[/, ''))) {
        if (!word.startsWith('--')) continue;
        const flag = word.slice(2).split('=')[0] as string;
        seen.push(`flag ${flag}`);
        if (sides.includes('agent') && isAgentNodeFlag(word)) continue;
        if (!sides.some((s) => flagKnown(s, flag)))
          misses.push({ key: `flag --${flag}`, where: at(span), why: `no ${sides.join(' or ')} flag` });
      }
    }
  }
  return { misses, seen };
}

async function checkRoutes(): Promise<Checked> {
  const misses: Miss[] = [];
  const seen: string[] = [];
  for (const page of pages) {
    const mentions = [...page.spans.flatMap((s) => routeMentions(s, false)), ...page.blocks.flatMap((b) => routeMentions(b, true))];
    for (const m of mentions) {
      for (const method of m.methods.length ? m.methods : [undefined]) {
        seen.push(`${method ?? '*'} ${m.path}`);
        if (facts.routes.some((r) => (method === undefined || r.method === method) && routeMatches(m.path, r.url))) continue;
        // Not the server's: the agent's exporter, asked for the plain path.
        if ((method === undefined || method === 'GET') && !/[:<|]|\/$/.test(m.path) && (await facts.agentAnswers(m.path))) continue;
        misses.push({ key: `route ${m.path}`, where: at(m), why: method ? `no ${method} route` : 'no route' });
      }
    }
  }
  return { misses, seen };
}

function checkKeys(): Checked {
  const misses: Miss[] = [];
  const seen: string[] = [];
  const check = (sides: Side[], key: string, where: string) => {
    seen.push(key);
    const why = keyMiss(sides, key);
    if (why) misses.push({ key: `key ${key}`, where, why });
  };
  for (const page of pages) {
    const sides = sidesOf(page.file);
    const tops = new Set(sides.flatMap((s) => [...topKeys(facts.schemas[s])]));
    // A dotted span under a top-level key (`report.busy.cpu_percent`, `collectors.<name>`, `tasks.*`).
    for (const span of page.spans) {
      if (KEY.test(span.text) && span.text.includes('.') && !FILE_EXTENSION.test(span.text) && tops.has(keyPath(span.text)[0] as string)) {
        check(sides, span.text, at(span));
      }
    }
    // Every span of a `key` column, and of the `option` column of collectors.md (written without `collector_options.`).
    for (const cell of page.cells) {
      if (cell.header === 'key' && KEY.test(cell.text)) check(sides, cell.text, at(cell));
      else if (cell.header === 'key' && !/^\/|^FALCONET_/.test(cell.text)) {
        misses.push({ key: `key ${cell.text}`, where: at(cell), why: 'not written as a key' });
      }
      if (cell.header === 'option' && page.file === 'docs/collectors.md') check(sides, `collector_options.${cell.text}`, at(cell));
    }
    // YAML blocks of configuration (every top-level key is one of the schema's): every key they set.
    for (const block of page.blocks.filter((b) => b.lang === 'yaml' || b.lang === 'yml')) {
      let value: unknown;
      try {
        value = parseYaml(block.text);
      } catch {
        continue; // not one document (alerts.md shows two silences in one block)
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
      const keys = Object.keys(value);
      const side = sides.find((s) => keys.every((k) => topKeys(facts.schemas[s]).has(k)));
      if (!side) continue;
      for (const path of yamlKeys(value)) check([side], path.join('.').replaceAll('.[]', '[]'), `${at(block)} (YAML block)`);
    }
    // FALCONET_* names, placeholders included (`FALCONET_<KEY>`, `FALCONET_COLLECTOR_OPTIONS_<NAME>_<OPTION>`).
    for (const t of [...page.spans, ...page.blocks]) {
      for (const m of t.text.matchAll(/FALCONET_(?:[A-Z0-9_]|<[A-Z_]+>)*/g)) {
        const name = m[0].replace(/_$/, '');
        seen.push(name);
        const re = new RegExp(`^${name.replace(/<[A-Z_]+>/g, '[A-Z0-9_]+')}$`);
        if (!sides.some((s) => [...facts.env[s]].some((e) => re.test(e)))) {
          misses.push({ key: `env ${name}`, where: at(t), why: `no ${sides.join(' or ')} variable` });
        }
      }
    }
  }
  return { misses, seen };
}

function checkPaths(): Checked {
  const misses: Miss[] = [];
  const seen: string[] = [];
  for (const page of pages) {
    for (const t of [...page.spans, ...page.blocks].flatMap(pathTokens)) {
      const { checked, why } = pathCheck(t.text);
      if (checked) seen.push(t.text);
      if (why) misses.push({ key: `path ${t.text}`, where: at(t), why });
    }
    for (const link of page.links) {
      if (/^[a-z]+:/.test(link.text)) continue;
      seen.push(`${page.file} -> ${link.text}`);
      const [target = '', anchor] = link.text.split('#');
      const file = target ? normalize(join(dirname(page.file), target)).replace(/\/$/, '') : page.file;
      if (target && !inTree(file, false)) {
        misses.push({ key: `path ${file}`, where: at(link), why: 'the link leads nowhere' });
      } else if (anchor && file.endsWith('.md') && !pages.find((p) => p.file === file)?.anchors.has(anchor)) {
        misses.push({ key: `link ${link.text}`, where: at(link), why: `${file} has no heading #${anchor}` });
      }
    }
  }
  return { misses, seen };
}

// --- the tests ---

describe('README.md and docs/ hold to the code', () => {
  it('finds the docs and what the code offers', () => {
    expect(pages.map((p) => p.file)).toEqual(expect.arrayContaining(['README.md', 'docs/agent.md', 'docs/adr/0002-storage-engine.md']));
    expect(facts.serverCommands).toContain('create-user');
    expect(facts.serverFlags).toContain('grpc-listen');
    expect(facts.serverTokenFlags).toContain('enroll');
    expect(facts.collectors).toContain('loadavg');
    expect(facts.routes.length).toBeGreaterThan(50);
  });

  it('names only commands and flags the binaries take', () => {
    const { misses, seen } = checkCommands();
    expect(seen).toEqual(
      expect.arrayContaining(['agent run', 'agent check-config', 'server create-user', 'table restart', 'flag collector.<name>']),
    );
    expect(unexpected(misses)).toEqual([]);
  });

  it('names only routes the server or the agent answers', async () => {
    const { misses, seen } = await checkRoutes();
    expect(seen).toEqual(expect.arrayContaining(['GET /api/agents/:id', '* /api/live', '* /metrics', 'POST /api/v1/push']));
    expect(unexpected(misses)).toEqual([]);
  });

  it('names only configuration keys and FALCONET_* variables the schemas have', () => {
    const { misses, seen } = checkKeys();
    expect(seen).toEqual(
      expect.arrayContaining([
        'report.busy.cpu_percent',
        'plugins.exec[].name',
        'collector_options.filesystem.mount_timeout',
        'store.retention.1m',
        'FALCONET_SERVER_URL',
      ]),
    );
    expect(unexpected(misses)).toEqual([]);
  });

  it('names only paths that are in the tree, and links that lead somewhere', () => {
    const { misses, seen } = checkPaths();
    expect(seen).toEqual(
      expect.arrayContaining(['deploy/k8s/falconet-agent.yaml', 'e2e/containers.test.ts', 'docs/agent.md -> collectors.md#native-helpers']),
    );
    expect(unexpected(misses)).toEqual([]);
  });

  it('needs every entry of its list of exceptions', async () => {
    const found = new Set(
      [...checkCommands().misses, ...(await checkRoutes()).misses, ...checkKeys().misses, ...checkPaths().misses].map((m) => m.key),
    );
    expect([...NOT_OURS.keys()].filter((k) => !found.has(k))).toEqual([]);
  });
});
