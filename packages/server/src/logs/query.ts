/**
 * The log query language (docs/logs.md), parsed by hand so an error can name its position:
 *   timeout "connection reset" host:web-1 level>=warn /5\d\d/ -debug NOT source:cron (a OR b)
 * Terms and phrases match words of the message (case-insensitive); field:value matches host,
 * source, stream, level, agent, else a label, else a field. Juxtaposition is AND; OR binds tighter.
 */
import type { pb } from '@falconet/protocol';
import { LEVEL_NAMES, levelFromName } from './levels.ts';
import { type WordFilter, words } from './terms.ts';

export class QueryError extends Error {
  /** 1-based character position in the query. */
  readonly position: number;
  constructor(position: number, message: string) {
    super(`position ${position}: ${message}`);
    this.position = position;
  }
}

type Op = ':' | '=' | '>=' | '>' | '<=' | '<';

export type QueryNode =
  | { k: 'and'; items: QueryNode[] }
  | { k: 'or'; items: QueryNode[] }
  | { k: 'not'; item: QueryNode }
  | { k: 'words'; words: string[]; phrase: boolean }
  | { k: 'regex'; re: RegExp }
  | { k: 'field'; name: string; op: Op; value: string; level?: number };

const MAX_QUERY = 4096;
const MAX_REGEX = 512;
const NESTED_QUANTIFIER = /\([^()]*(?:[+*]|\{\d+,\d*\})[^()]*\)(?:[+*]|\{\d+,\d*\})/;
const FIELD = /^([A-Za-z_][A-Za-z0-9_.-]*)(>=|<=|:|=|>|<)/;

interface Token {
  pos: number;
  t: 'word' | 'phrase' | 'regex' | 'field' | '(' | ')' | 'OR' | 'AND' | 'NOT' | '-';
  text: string;
  name?: string;
  op?: Op;
  flags?: string;
}

function readQuoted(src: string, start: number): { text: string; end: number } {
  let out = '';
  for (let i = start + 1; i < src.length; i++) {
    const c = src[i] as string;
    if (c === '\\' && i + 1 < src.length) {
      out += src[++i];
      continue;
    }
    if (c === '"') return { text: out, end: i + 1 };
    out += c;
  }
  throw new QueryError(start + 1, 'unclosed quote: a phrase ends with "');
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const boundary = (c: string | undefined) => c === undefined || /[\s()]/.test(c);
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const pos = i + 1;
    if (c === '(' || c === ')') {
      out.push({ pos, t: c, text: c });
      i++;
      continue;
    }
    if (c === '-' && !boundary(src[i + 1]) && (out.length === 0 || boundary(src[i - 1]))) {
      out.push({ pos, t: '-', text: c });
      i++;
      continue;
    }
    if (c === '"') {
      const q = readQuoted(src, i);
      out.push({ pos, t: 'phrase', text: q.text });
      i = q.end;
      continue;
    }
    if (c === '/') {
      let body = '';
      let j = i + 1;
      for (; j < src.length && src[j] !== '/'; j++) {
        if (src[j] === '\\' && j + 1 < src.length) body += src[j++];
        body += src[j];
      }
      if (j >= src.length) throw new QueryError(pos, 'unclosed regex: a regex ends with /');
      j++;
      let flags = '';
      while (src[j] === 'i') flags += src[j++];
      if (!boundary(src[j])) throw new QueryError(j + 1, `unexpected "${src[j]}" after a regex (the only flag is i)`);
      out.push({ pos, t: 'regex', text: body, flags });
      i = j;
      continue;
    }
    const f = FIELD.exec(src.slice(i));
    if (f) {
      const name = f[1] as string;
      const op = f[2] as Op;
      let j = i + f[0].length;
      let value: string;
      if (src[j] === '"') {
        const q = readQuoted(src, j);
        value = q.text;
        j = q.end;
      } else {
        const s = j;
        while (j < src.length && !/[\s()]/.test(src[j] as string)) j++;
        value = src.slice(s, j);
      }
      if (value === '') throw new QueryError(pos, `${name}${op} has no value (write ${name}${op}VALUE, or quote it: ${name}${op}"a b")`);
      out.push({ pos, t: 'field', text: value, name, op });
      i = j;
      continue;
    }
    let j = i;
    while (j < src.length && !/[\s()"]/.test(src[j] as string)) j++;
    const w = src.slice(i, j);
    out.push({ pos, t: w === 'OR' || w === 'AND' || w === 'NOT' ? w : 'word', text: w });
    i = j;
  }
  return out;
}

class Parser {
  readonly #toks: Token[];
  readonly #len: number;
  #i = 0;
  constructor(toks: Token[], len: number) {
    this.#toks = toks;
    this.#len = len;
  }

  #peek(): Token | undefined {
    return this.#toks[this.#i];
  }

  parse(): QueryNode {
    const n = this.#and();
    const t = this.#peek();
    if (t) throw new QueryError(t.pos, `unexpected "${t.text}"${t.t === ')' ? ' (no ( to close)' : ''}`);
    return n;
  }

  #and(): QueryNode {
    const items: QueryNode[] = [];
    for (;;) {
      const t = this.#peek();
      if (!t || t.t === ')') break;
      if (t.t === 'AND') {
        if (items.length === 0) throw new QueryError(t.pos, 'AND needs something before it');
        this.#i++;
        continue;
      }
      items.push(this.#or());
    }
    return items.length === 1 ? (items[0] as QueryNode) : { k: 'and', items };
  }

  #or(): QueryNode {
    const items = [this.#unary()];
    while (this.#peek()?.t === 'OR') {
      const t = this.#toks[this.#i++] as Token;
      if (!this.#peek() || this.#peek()?.t === ')' || this.#peek()?.t === 'OR') throw new QueryError(t.pos, 'OR needs something after it');
      items.push(this.#unary());
    }
    return items.length === 1 ? (items[0] as QueryNode) : { k: 'or', items };
  }

  #unary(): QueryNode {
    const t = this.#toks[this.#i++];
    if (!t) throw new QueryError(this.#len + 1, 'the query ends too early');
    switch (t.t) {
      case 'NOT':
      case '-': {
        const next = this.#peek();
        if (!next || next.t === ')' || next.t === 'OR') throw new QueryError(t.pos, `${t.text} needs something after it`);
        return { k: 'not', item: this.#unary() };
      }
      case '(': {
        const inner = this.#and();
        const close = this.#toks[this.#i++];
        if (close?.t !== ')') throw new QueryError(t.pos, 'unclosed (');
        if (inner.k === 'and' && inner.items.length === 0) throw new QueryError(t.pos, 'empty ()');
        return inner;
      }
      case ')':
        throw new QueryError(t.pos, 'unexpected ) (no ( to close)');
      case 'OR':
      case 'AND':
        throw new QueryError(t.pos, `${t.t} needs something before it`);
      case 'phrase': {
        const ws = words(t.text);
        if (ws.length === 0) throw new QueryError(t.pos, 'a phrase needs at least one word');
        return { k: 'words', words: ws, phrase: true };
      }
      case 'regex': {
        if (t.text.length > MAX_REGEX) throw new QueryError(t.pos, `regex longer than ${MAX_REGEX} characters`);
        // A quantified group that itself repeats ((a+)+, (\w*)*) can backtrack for ever on one line.
        if (NESTED_QUANTIFIER.test(t.text)) {
          throw new QueryError(
            t.pos,
            'regex repeats a group that repeats inside ((a+)+): that can take exponential time; rewrite it without the outer repeat',
          );
        }
        try {
          return { k: 'regex', re: new RegExp(t.text, t.flags) };
        } catch (err) {
          throw new QueryError(t.pos, `invalid regex: ${(err as Error).message}`);
        }
      }
      case 'field':
        return fieldNode(t);
      default: {
        const ws = words(t.text);
        // A word of punctuation only ("=>", "--") has nothing to search for.
        if (ws.length === 0)
          throw new QueryError(t.pos, `"${t.text}" has no letters or digits to search for; quote it as a phrase or use /regex/`);
        return { k: 'words', words: ws, phrase: ws.length > 1 };
      }
    }
  }
}

function fieldNode(t: Token): QueryNode {
  const name = (t.name as string).toLowerCase() === 'level' ? 'level' : (t.name as string);
  const op = t.op as Op;
  if (name === 'level') {
    const level = levelFromName(t.text);
    if (level === undefined) {
      throw new QueryError(t.pos, `unknown level "${t.text}" (${LEVEL_NAMES.slice(1).join(', ')})`);
    }
    return { k: 'field', name, op, value: t.text, level };
  }
  if (op !== ':' && op !== '=') throw new QueryError(t.pos, `only level can be compared with ${op}; use ${name}:VALUE`);
  return { k: 'field', name, op, value: t.text };
}

export function parseQuery(q: string): QueryNode {
  if (q.length > MAX_QUERY) throw new QueryError(MAX_QUERY + 1, `query longer than ${MAX_QUERY} characters`);
  return new Parser(tokenize(q), q.length).parse();
}

/** What a block must hold for any line in it to match: what the index can rule out. */
export interface BlockNeeds {
  words: string[];
  host?: string;
  source?: string;
  stream?: string;
  agent?: string;
  labels: [string, string][];
  /** Bit n set: level n may match. */
  levels: number;
}

const ALL_LEVELS = (1 << LEVEL_NAMES.length) - 1;

function levelMask(op: Op, level: number): number {
  let m = 0;
  for (let l = 0; l < LEVEL_NAMES.length; l++) {
    const ok =
      op === ':' || op === '=' ? l === level : op === '>=' ? l >= level : op === '>' ? l > level : op === '<=' ? l <= level : l < level;
    if (ok) m |= 1 << l;
  }
  return m;
}

/** The needs of a node: only its positive conjuncts constrain blocks; OR and NOT constrain nothing. */
function needsOf(n: QueryNode, out: BlockNeeds): void {
  if (n.k === 'and') for (const c of n.items) needsOf(c, out);
  else if (n.k === 'words') out.words.push(...n.words);
  else if (n.k === 'field' && !n.value.endsWith('*')) {
    if (n.level !== undefined) out.levels &= levelMask(n.op, n.level);
    else if (n.name === 'host') out.host = n.value;
    else if (n.name === 'source') out.source = n.value;
    else if (n.name === 'stream') out.stream = n.value;
    else if (n.name === 'agent') out.agent = n.value;
    else out.labels.push([n.name, n.value]);
  }
}

/** One line as the matcher sees it. */
export interface MatchLine {
  agentId: string;
  host: string;
  record: pb.LogRecord;
}

function valueMatches(pattern: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  return pattern.endsWith('*') ? v.startsWith(pattern.slice(0, -1)) : v === pattern;
}

function containsRun(hay: string[], needle: string[]): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function evalNode(n: QueryNode, l: MatchLine, cache: { words?: string[]; set?: Set<string> }): boolean {
  switch (n.k) {
    case 'and':
      return n.items.every((c) => evalNode(c, l, cache));
    case 'or':
      return n.items.some((c) => evalNode(c, l, cache));
    case 'not':
      return !evalNode(n.item, l, cache);
    case 'regex':
      return n.re.test(l.record.message);
    case 'words': {
      cache.words ??= words(l.record.message);
      if (n.phrase) return containsRun(cache.words, n.words);
      cache.set ??= new Set(cache.words);
      const set = cache.set;
      return n.words.every((w) => set.has(w));
    }
    case 'field': {
      if (n.level !== undefined) return ((levelMask(n.op, n.level) >> l.record.level) & 1) === 1;
      const r = l.record;
      const v =
        n.name === 'host'
          ? l.host
          : n.name === 'source'
            ? r.source
            : n.name === 'stream'
              ? r.stream
              : n.name === 'agent'
                ? l.agentId
                : (r.labels[n.name] ?? r.fields[n.name]);
      return valueMatches(n.value, v);
    }
  }
}

/** A parsed query ready to test lines and rule out blocks. */
export class LogFilter {
  readonly text: string;
  readonly root: QueryNode;
  readonly needs: BlockNeeds;

  constructor(text: string) {
    this.text = text;
    this.root = parseQuery(text);
    this.needs = { words: [], labels: [], levels: ALL_LEVELS };
    needsOf(this.root, this.needs);
  }

  matches(l: MatchLine): boolean {
    return evalNode(this.root, l, {});
  }
}

/** What an index entry of one block says of it, for ruling it out. */
export interface BlockSummary {
  agentId: string;
  host: string;
  source: string;
  /** Every stream of the block; absent when there were too many to list. */
  streams?: string[];
  /** Label values per name, for names every record of the block carries (others are not indexed). */
  labels: Record<string, string[]>;
  levels: number;
  filter: WordFilter;
}

export function blockMayMatch(needs: BlockNeeds, b: BlockSummary): boolean {
  if ((needs.levels & b.levels) === 0) return false;
  if (needs.host !== undefined && needs.host !== b.host) return false;
  if (needs.agent !== undefined && needs.agent !== b.agentId) return false;
  if (needs.source !== undefined && needs.source !== b.source) return false;
  if (needs.stream !== undefined && b.streams && !b.streams.includes(needs.stream)) return false;
  // Only names every record carries as a label are indexed: field:value may otherwise match a field.
  for (const [k, v] of needs.labels) if (b.labels[k] && !b.labels[k].includes(v)) return false;
  for (const w of needs.words) if (!b.filter.mayHave(w)) return false;
  return true;
}
