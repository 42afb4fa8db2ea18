/**
 * Flag parsing shared by the two binaries: `--name value`, `--name=value`, booleans, and
 * pattern flags such as `--collector.<name>`. A wrong flag is a UsageError: the binary prints
 * one line naming it and exits with status 2.
 */

import { suggestKey } from './config-base.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  name: string;
  type: 'string' | 'boolean';
  /** Config path this flag sets, if any. */
  path?: string[];
  help: string;
}

/**
 * A family of flags under one prefix: `--collector.<key>` / `--no-collector.<key>` switches, and
 * with `option`, `--collector.<key>.<option>` settings (`--collector.filesystem.mount-points-exclude=RE`).
 */
export interface PatternFlag {
  prefix: string;
  /** What `--prefix.<key>.<option>` takes: a value, a boolean switch, or undefined when there is no such option. */
  option?: (key: string, option: string) => 'string' | 'boolean' | undefined;
}

export interface PatternOption {
  key: string;
  option: string;
  value: string | boolean;
  /** The flag as written, for messages. */
  flag: string;
}

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  values: Map<string, string | boolean>;
  /** `--collector.cpu` -> ['cpu', true]; `--no-collector.cpu` -> ['cpu', false]. */
  patterned: Map<string, Map<string, boolean>>;
  /** `--collector.textfile.directory DIR` -> { key: 'textfile', option: 'directory', value: 'DIR' }, by prefix. */
  patternedOptions: Map<string, PatternOption[]>;
}

export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  patternFlags: readonly (string | PatternFlag)[] = [],
): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const patterns = patternFlags.map((p): PatternFlag => (typeof p === 'string' ? { prefix: p } : p));
  const out: ParsedArgs = { command: undefined, positionals: [], values: new Map(), patterned: new Map(), patternedOptions: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (out.command === undefined) out.command = arg;
      else out.positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown flag ${arg}: flags are written --name`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const spec0 = patterns.find((p) => name.startsWith(`${p.prefix}.`) || name.startsWith(`no-${p.prefix}.`));
    if (spec0) {
      const pattern = spec0.prefix;
      const negated = name.startsWith('no-');
      const key = name.slice((negated ? 3 : 0) + pattern.length + 1);
      const dot = key.indexOf('.');
      if (dot > 0 && spec0.option) {
        const [k, option] = [key.slice(0, dot), key.slice(dot + 1)];
        const kind = spec0.option(k, option);
        if (!kind) throw new UsageError(`unknown flag --${name}`);
        let value: string | boolean;
        if (kind === 'boolean') {
          if (inline !== undefined && !/^(true|false)$/.test(inline)) {
            throw new UsageError(`flag --${name}: expected true or false, got "${inline}"`);
          }
          value = inline === undefined ? !negated : (inline === 'true') !== negated;
        } else {
          if (negated) throw new UsageError(`flag --${name}: --${name.slice(3)} takes a value and cannot be negated`);
          const v = inline ?? argv[++i];
          if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`flag --${name} needs a value`);
          value = v;
        }
        const list = out.patternedOptions.get(pattern) ?? [];
        list.push({ key: k, option, value, flag: `--${name}` });
        out.patternedOptions.set(pattern, list);
        continue;
      }
      if (!/^[a-z0-9_]+$/.test(key)) throw new UsageError(`flag --${name}: "${key}" is not a valid name`);
      if (inline !== undefined && !/^(true|false)$/.test(inline)) {
        throw new UsageError(`flag --${name}: expected true or false, got "${inline}"`);
      }
      const on = inline === undefined ? !negated : (inline === 'true') !== negated;
      const m = out.patterned.get(pattern) ?? new Map<string, boolean>();
      m.set(key, on);
      out.patterned.set(pattern, m);
      continue;
    }
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag --${name}${didYouMean(name, [...byName.keys()], '--')}`);
    if (spec.type === 'boolean') {
      if (inline !== undefined && !/^(true|false)$/.test(inline)) {
        throw new UsageError(`flag --${name}: expected true or false, got "${inline}"`);
      }
      out.values.set(name, inline === undefined ? true : inline === 'true');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`flag --${name} needs a value`);
    }
    out.values.set(name, value);
  }
  return out;
}

export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const width = Math.max(...specs.map((s) => s.name.length + (s.type === 'string' ? 6 : 0)));
  return specs.map((s) => `  --${(s.name + (s.type === 'string' ? ' VALUE' : '')).padEnd(width + 2)}${s.help}`).join('\n');
}

/** Runs a binary's main: usage and config errors print one line and exit 2, no stack trace. */
export async function runMain(binary: string, main: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await main();
    if (code !== undefined) process.exitCode = code;
  } catch (err) {
    const e = err as Error & { problems?: string[]; exitCode?: number };
    if (e.name === 'UsageError' || e.name === 'ConfigError' || e.name === 'StartupError') {
      for (const line of (e.message || String(err)).split('\n')) process.stderr.write(`${binary}: ${line}\n`);
      process.exit(e.exitCode ?? 2);
    }
    process.stderr.write(`${binary}: ${e.stack ?? String(err)}\n`);
    process.exit(1);
  }
}

/** A failure at start-up that the user can act on (port in use, unreadable directory). */
export class StartupError extends Error {
  override name = 'StartupError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Turns a listen() failure into a StartupError that names the address and what to do. */
export function listenError(err: unknown, what: string, address: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new StartupError(`${what} ${address}: address already in use; stop what holds it or pick another port`);
  if (code === 'EACCES')
    return new StartupError(`${what} ${address}: permission denied; pick a port above 1023 or run with the right privileges`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new StartupError(`${what} ${address}: this machine has no such address`);
  return err as Error;
}

/** ` (did you mean "--config"?)` when a known name is near enough to be a likely typo, else ''. */
export function didYouMean(name: string, known: readonly string[], prefix = ''): string {
  const hint = suggestKey(name, known);
  return hint ? ` (did you mean "${prefix}${hint}"?)` : '';
}
