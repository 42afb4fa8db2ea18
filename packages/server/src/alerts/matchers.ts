/**
 * Label matchers, as Prometheus writes them: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.
 * Regular expressions are anchored at both ends, as in PromQL, and run on RE2JS, a port of RE2:
 * matching takes time linear in the label value whatever the pattern, so a matcher written by
 * an operator (`(a+)+$`) cannot stall the server. RE2's syntax is PromQL's own (Go's regexp);
 * lookarounds and backreferences are not part of it.
 */
import type { MatchOp } from '@falconet/protocol/api';
import { RE2JS } from 're2js';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** A matcher ready to test label values; regexes compiled once. */
export interface CompiledMatcher extends Matcher {
  test(value: string | undefined): boolean;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The longest regular expression a matcher takes, in characters (docs/alerts.md). */
export const MAX_REGEX_LENGTH = 1024;

export class MatcherError extends Error {
  override name = 'MatcherError';
}

/** Compiles a matcher's pattern for a full match of the value; errors name the matcher. */
function compileRegex(m: Matcher): RE2JS {
  if (m.value.length > MAX_REGEX_LENGTH) {
    throw new MatcherError(
      `${m.name}${m.op}"${m.value.slice(0, 40)}…": a regular expression of ${m.value.length} characters; at most ${MAX_REGEX_LENGTH}`,
    );
  }
  try {
    return RE2JS.compile(m.value);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, '');
    throw new MatcherError(
      `${m.name}${m.op}"${m.value}": not a regular expression (${why}); RE2 syntax, as in PromQL: no lookarounds or backreferences`,
    );
  }
}

export function compileMatcher(m: Matcher): CompiledMatcher {
  if (!LABEL_NAME.test(m.name)) throw new MatcherError(`"${m.name}" is not a label name`);
  switch (m.op) {
    case '=':
      return { ...m, test: (v) => (v ?? '') === m.value };
    case '!=':
      return { ...m, test: (v) => (v ?? '') !== m.value };
    case '=~':
    case '!~': {
      const re = compileRegex(m);
      return m.op === '=~' ? { ...m, test: (v) => re.testExact(v ?? '') } : { ...m, test: (v) => !re.testExact(v ?? '') };
    }
    default:
      throw new MatcherError(`"${String(m.op)}" is not a matcher operator (=, !=, =~, !~)`);
  }
}

export function matchesAll(matchers: readonly CompiledMatcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) if (!m.test(labels[m.name])) return false;
  return true;
}

/**
 * Parses a selector `{mountpoint="/", fstype!~"tmpfs|overlay"}` (braces optional) into matchers.
 * Values are double-quoted with backslash escapes, as in PromQL.
 */
export function parseSelector(text: string): Matcher[] {
  let s = text.trim();
  if (s.startsWith('{')) {
    if (!s.endsWith('}')) throw new MatcherError(`selector ${text}: missing closing "}"`);
    s = s.slice(1, -1);
  }
  const out: Matcher[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new MatcherError(`selector ${text}: ${what} at character ${i + 1}`);
  };
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i] as string)) i++;
  };
  for (;;) {
    skipSpace();
    if (i >= s.length) break;
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!nameMatch) fail('expected a label name');
    const name = (nameMatch as RegExpExecArray)[0];
    i += name.length;
    skipSpace();
    const opMatch = /^(=~|!~|!=|=)/.exec(s.slice(i));
    if (!opMatch) fail(`expected =, !=, =~ or !~ after "${name}"`);
    const op = (opMatch as RegExpExecArray)[0] as MatchOp;
    i += op.length;
    skipSpace();
    if (s[i] !== '"') fail(`expected a double-quoted value after ${name}${op}`);
    i++;
    let value = '';
    for (;;) {
      if (i >= s.length) fail('unterminated string');
      const c = s[i] as string;
      if (c === '\\') {
        const n = s[i + 1];
        value += n === 'n' ? '\n' : n === 't' ? '\t' : (n ?? '');
        i += 2;
        continue;
      }
      i++;
      if (c === '"') break;
      value += c;
    }
    out.push({ name, op, value });
    skipSpace();
    if (i >= s.length) break;
    if (s[i] !== ',') fail('expected ","');
    i++;
  }
  for (const m of out) compileMatcher(m);
  return out;
}

/** Writes matchers back as a selector, the form the dashboard and the docs show. */
export function formatSelector(matchers: readonly Matcher[]): string {
  return `{${matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(', ')}}`;
}

/**
 * What a rule file or a REST body may give for matchers: a selector string, a map of exact
 * values, or a list of {name, op, value}.
 */
export function toMatchers(input: string | Record<string, string> | readonly Matcher[] | undefined): Matcher[] {
  if (input === undefined) return [];
  if (typeof input === 'string') return parseSelector(input);
  if (Array.isArray(input)) {
    const list = input as readonly Matcher[];
    for (const m of list) compileMatcher(m);
    return list.map((m) => ({ name: m.name, op: m.op, value: m.value }));
  }
  const out = Object.entries(input as Record<string, string>).map(([name, value]) => ({ name, op: '=' as const, value: String(value) }));
  for (const m of out) compileMatcher(m);
  return out;
}
