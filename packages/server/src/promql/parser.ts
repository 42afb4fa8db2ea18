/**
 * PromQL text to the syntax tree of ast.ts. The grammar is `@prometheus-io/lezer-promql`, the one
 * Prometheus' own UI uses; this file only walks its tree, and checks types as Prometheus' parser
 * does, so a wrong query is refused with a message before anything is read.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { RE2JS } from 're2js';
import type { AggregateOp, AtModifier, BinaryOp, Expr, LabelMatcher, MatchOp, ValueType, VectorMatching, VectorSelector } from './ast.ts';
import { COMPARISON_OPS, SET_OPS } from './ast.ts';
import { FUNCTIONS } from './signatures.ts';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** A query that does not parse or does not type-check; Prometheus answers these as `bad_data`. */
export class PromQLParseError extends Error {}

const AGGREGATE_OPS: ReadonlySet<string> = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
]);

const BINARY_OPS: Record<string, BinaryOp> = {
  Add: '+',
  Sub: '-',
  Mul: '*',
  Div: '/',
  Mod: '%',
  Pow: '^',
  Eql: '==',
  Neq: '!=',
  Gtr: '>',
  Lss: '<',
  Gte: '>=',
  Lte: '<=',
  And: 'and',
  Or: 'or',
  Unless: 'unless',
  Atan2: 'atan2',
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** A Prometheus duration (`5m`, `1h30m`, `500ms`) or a plain number of seconds, in milliseconds. */
export function parseDuration(text: string, where = 'duration'): number {
  const t = text.trim();
  if (/^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /([0-9]+)(ms|s|m|h|d|w|y)/gy;
  let ms = 0;
  let pos = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    ms += Number(m[1]) * (UNITS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== t.length) throw new PromQLParseError(`${where}: "${text}" is not a duration (like 5m, 1h30m, 500ms)`);
  return ms;
}

/** A PromQL number literal: decimal, hex, Inf, NaN, or a duration read as seconds. */
function parseNumber(text: string): number {
  const t = text.toLowerCase();
  if (t === 'inf' || t === '+inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  if (t === 'nan') return Number.NaN;
  if (/^0x[0-9a-f]+$/.test(t)) return Number.parseInt(t.slice(2), 16);
  const n = Number(text);
  if (!Number.isNaN(n)) return n;
  return parseDuration(text, 'number') / 1000;
}

/** A Go-style string literal: "..." or '...' with escapes, or `raw`. */
export function unquote(text: string): string {
  const q = text[0];
  if (q === '`') return text.slice(1, -1);
  const body = text.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
      case '"':
      case "'":
        out += e;
        break;
      case 'x':
        out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      case 'u':
        out += String.fromCodePoint(Number.parseInt(body.slice(i + 1, i + 5), 16));
        i += 4;
        break;
      case 'U':
        out += String.fromCodePoint(Number.parseInt(body.slice(i + 1, i + 9), 16));
        i += 8;
        break;
      default:
        if (e !== undefined && /[0-7]/.test(e)) {
          out += String.fromCharCode(Number.parseInt(body.slice(i, i + 3), 8));
          i += 2;
        } else throw new PromQLParseError(`unknown escape sequence \\${e ?? ''} in string ${text}`);
    }
  }
  return out;
}

function kids(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/** Parses and type-checks a query. */
export function parsePromQL(query: string): Expr {
  if (query.trim() === '') throw new PromQLParseError('empty query');
  const tree = parser.parse(query);
  let bad: number | undefined;
  tree.iterate({
    enter: (n) => {
      if (bad === undefined && n.type.isError) bad = n.from;
      return bad === undefined;
    },
  });
  if (bad !== undefined) {
    const line = query.slice(0, bad).split('\n').length;
    const col = bad - query.lastIndexOf('\n', bad - 1);
    const near = query.slice(bad, bad + 20);
    throw new PromQLParseError(
      `1:${bad + 1}: parse error at line ${line}, column ${col}${near ? ` near "${near}"` : ': unexpected end of input'}`,
    );
  }
  const top = tree.topNode;
  const body = top.firstChild;
  if (!body) throw new PromQLParseError('empty query');
  const expr = new Builder(query).expr(body);
  typeOf(expr);
  return expr;
}

class Builder {
  readonly #q: string;
  constructor(q: string) {
    this.#q = q;
  }

  text(n: SyntaxNode): string {
    return this.#q.slice(n.from, n.to);
  }

  expr(n: SyntaxNode): Expr {
    switch (n.type.name) {
      case 'ParenExpr': {
        const inner = kids(n)[0];
        if (!inner) throw new PromQLParseError(`empty parentheses at ${n.from + 1}`);
        return this.expr(inner);
      }
      case 'NumberDurationLiteral':
        return { type: 'number', value: parseNumber(this.text(n)) };
      case 'StringLiteral':
        return { type: 'string', value: unquote(this.text(n)) };
      case 'VectorSelector':
        return this.vector(n);
      case 'MatrixSelector': {
        const [v, d] = kids(n);
        if (!v || !d) throw new PromQLParseError(`incomplete range selector at ${n.from + 1}`);
        const vec = this.expr(v);
        if (vec.type !== 'vector') throw new PromQLParseError(`ranges only allowed for vector selectors, at ${n.from + 1}`);
        if (vec.offsetMs || vec.at) throw new PromQLParseError(`offset and @ go after the range [..], at ${n.from + 1}`);
        return { type: 'matrix', vector: vec, rangeMs: this.duration(d) };
      }
      case 'SubqueryExpr': {
        const [e, r, s] = kids(n);
        if (!e || !r) throw new PromQLParseError(`incomplete subquery at ${n.from + 1}`);
        return {
          type: 'subquery',
          expr: this.expr(e),
          rangeMs: this.duration(r),
          stepMs: s ? this.duration(s) : 0,
          offsetMs: 0,
          at: undefined,
        };
      }
      case 'OffsetExpr': {
        const [e, , d] = kids(n);
        if (!e || !d) throw new PromQLParseError(`incomplete offset at ${n.from + 1}`);
        const inner = this.expr(e);
        const text = this.text(d).trim();
        const ms = text.startsWith('-') ? -parseDuration(text.slice(1)) : parseDuration(text.replace(/^\+/, ''));
        return this.modify(inner, e, n, (t) => {
          if (t.offsetMs) throw new PromQLParseError(`offset may not be set multiple times, at ${n.from + 1}`);
          t.offsetMs = ms;
        });
      }
      case 'StepInvariantExpr': {
        const parts = kids(n);
        const e = parts[0];
        const at = parts.at(-1);
        if (!e || !at) throw new PromQLParseError(`incomplete @ modifier at ${n.from + 1}`);
        let mod: AtModifier;
        const t = this.text(at).trim();
        if (at.type.name === 'AtModifierPreprocessors') mod = { kind: t.startsWith('start') ? 'start' : 'end' };
        else {
          const sign = parts.length > 3 && this.text(parts[parts.length - 2] as SyntaxNode) === '-' ? -1 : 1;
          const v = parseNumber(t) * sign;
          if (!Number.isFinite(v)) throw new PromQLParseError(`@ timestamp must be a finite number, at ${at.from + 1}`);
          mod = { kind: 'time', ms: Math.round(v * 1000) };
        }
        const inner = this.expr(e);
        return this.modify(inner, e, n, (x) => {
          if (x.at) throw new PromQLParseError(`@ may not be set multiple times, at ${n.from + 1}`);
          x.at = mod;
        });
      }
      case 'UnaryExpr': {
        const [op, e] = kids(n);
        if (!op || !e) throw new PromQLParseError(`incomplete unary expression at ${n.from + 1}`);
        const inner = this.expr(e);
        const sign = this.text(op) === '-' ? '-' : '+';
        if (inner.type === 'number') return sign === '-' ? { type: 'number', value: -inner.value } : inner;
        return { type: 'unary', op: sign, expr: inner };
      }
      case 'BinaryExpr':
        return this.binary(n);
      case 'FunctionCall':
        return this.call(n);
      case 'AggregateExpr':
        return this.aggregate(n);
      default:
        throw new PromQLParseError(`unsupported expression "${this.text(n).slice(0, 40)}" (${n.type.name}) at ${n.from + 1}`);
    }
  }

  /**
   * Applies offset or @ (node n) to the selector or subquery that takes it (through a range selector).
   * lezer-promql parses `a + b offset 1m` and `-a offset 1m` as the modifier of the whole operation;
   * Prometheus gives it to the operand just before it, and so does this (not through parentheses).
   */
  modify(e: Expr, node: SyntaxNode, n: SyntaxNode, set: (t: VectorSelector | Extract<Expr, { type: 'subquery' }>) => void): Expr {
    const last = node.lastChild;
    if (e.type === 'binary' && node.type.name === 'BinaryExpr' && last) this.modify(e.rhs, last, n, set);
    else if (e.type === 'unary' && node.type.name === 'UnaryExpr' && last) this.modify(e.expr, last, n, set);
    else if (e.type === 'vector' || e.type === 'subquery') set(e);
    else if (e.type === 'matrix') set(e.vector);
    else throw new PromQLParseError(`offset and @ apply to selectors and subqueries only, at ${n.from + 1}`);
    return e;
  }

  duration(n: SyntaxNode): number {
    return parseDuration(this.text(n));
  }

  vector(n: SyntaxNode): VectorSelector {
    const matchers: LabelMatcher[] = [];
    for (const c of kids(n)) {
      if (c.type.name === 'Identifier') matchers.push({ name: '__name__', op: '=', value: this.text(c) });
      else if (c.type.name === 'LabelMatchers') {
        for (const m of kids(c)) matchers.push(this.matcher(m));
      }
    }
    // Prometheus refuses a selector that would match every series: one matcher must exclude the empty value.
    // Every regex is compiled here, so a bad one is refused before anything is read.
    if (matchers.map(matchesEmpty).every(Boolean))
      throw new PromQLParseError(`vector selector must contain at least one non-empty matcher, at ${n.from + 1}`);
    return { type: 'vector', matchers, offsetMs: 0, at: undefined };
  }

  matcher(m: SyntaxNode): LabelMatcher {
    const parts = kids(m);
    if (m.type.name === 'QuotedLabelName') {
      return { name: '__name__', op: '=', value: unquote(this.text(parts[0] ?? m)) };
    }
    const [name, op, value] = parts;
    if (!name || !op || !value) throw new PromQLParseError(`incomplete label matcher at ${m.from + 1}`);
    const label = name.type.name === 'QuotedLabelName' ? unquote(this.text(name)) : this.text(name);
    const o = this.text(op) as MatchOp;
    const v = unquote(this.text(value));
    return { name: label, op: o, value: v };
  }

  binary(n: SyntaxNode): Expr {
    const parts = kids(n);
    const lhs = parts[0];
    const rhs = parts.at(-1);
    const opNode = parts[1];
    if (!lhs || !rhs || !opNode) throw new PromQLParseError(`incomplete binary expression at ${n.from + 1}`);
    const op = BINARY_OPS[opNode.type.name];
    if (!op) throw new PromQLParseError(`unsupported operator "${this.text(opNode)}" at ${opNode.from + 1}`);
    let bool = false;
    const matching: VectorMatching = { card: SET_OPS.has(op) ? 'many-to-many' : 'one-to-one', on: false, labels: [], include: [] };
    for (const p of parts.slice(2, -1)) {
      if (p.type.name === 'BoolModifier') bool = true;
      else if (p.type.name === 'MatchingModifierClause') {
        let seenGroup = false;
        for (const c of kids(p)) {
          switch (c.type.name) {
            case 'On':
              matching.on = true;
              break;
            case 'Ignoring':
              matching.on = false;
              break;
            case 'GroupLeft':
              matching.card = 'many-to-one';
              seenGroup = true;
              break;
            case 'GroupRight':
              matching.card = 'one-to-many';
              seenGroup = true;
              break;
            case 'GroupingLabels': {
              const names = kids(c).map((l) => (l.type.name === 'QuotedLabelName' ? unquote(this.text(l)) : this.text(l)));
              if (seenGroup) matching.include = names;
              else matching.labels = names;
              break;
            }
            default:
              throw new PromQLParseError(`unsupported vector matching "${this.text(c)}" at ${c.from + 1}`);
          }
        }
      } else throw new PromQLParseError(`unsupported binary modifier "${this.text(p)}" at ${p.from + 1}`);
    }
    if (bool && !COMPARISON_OPS.has(op))
      throw new PromQLParseError(`bool modifier can only be used on comparison operators, at ${n.from + 1}`);
    const e: Expr = { type: 'binary', op, lhs: this.expr(lhs), rhs: this.expr(rhs), bool, matching };
    return e;
  }

  call(n: SyntaxNode): Expr {
    const [id, body] = kids(n);
    if (!id || !body) throw new PromQLParseError(`incomplete function call at ${n.from + 1}`);
    const func = this.text(id);
    const args = kids(body).map((a) => this.expr(a));
    return { type: 'call', func, args };
  }

  aggregate(n: SyntaxNode): Expr {
    let op: string | undefined;
    let grouping: string[] = [];
    let without = false;
    let args: Expr[] = [];
    for (const c of kids(n)) {
      if (c.type.name === 'AggregateOp') op = this.text(c);
      else if (c.type.name === 'AggregateModifier') {
        for (const m of kids(c)) {
          if (m.type.name === 'Without') without = true;
          else if (m.type.name === 'GroupingLabels')
            grouping = kids(m).map((l) => (l.type.name === 'QuotedLabelName' ? unquote(this.text(l)) : this.text(l)));
        }
      } else if (c.type.name === 'FunctionCallBody') args = kids(c).map((a) => this.expr(a));
    }
    if (!op || !AGGREGATE_OPS.has(op)) throw new PromQLParseError(`unsupported aggregation "${op ?? this.text(n)}" at ${n.from + 1}`);
    const needsParam = op === 'topk' || op === 'bottomk' || op === 'quantile' || op === 'count_values';
    const want = needsParam ? 2 : 1;
    if (args.length !== want) {
      throw new PromQLParseError(
        `wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}, at ${n.from + 1}`,
      );
    }
    return {
      type: 'aggregate',
      op: op as AggregateOp,
      param: needsParam ? args[0] : undefined,
      expr: args[needsParam ? 1 : 0] as Expr,
      grouping,
      without,
    };
  }
}

/** Whether a matcher accepts the empty label value (a series without the label); a bad regex is refused here. */
function matchesEmpty(m: LabelMatcher): boolean {
  if (m.op === '=') return m.value === '';
  if (m.op === '!=') return m.value !== '';
  let re: RE2JS;
  try {
    re = RE2JS.compile(`^(?:${m.value})$`);
  } catch (err) {
    throw new PromQLParseError(`${m.name}${m.op}"${m.value}": not a regular expression (${(err as Error).message})`);
  }
  return re.matches('') === (m.op === '=~');
}

/** The value type of an expression; throws for one Prometheus' parser refuses. */
export function typeOf(e: Expr): ValueType {
  switch (e.type) {
    case 'number':
      return 'scalar';
    case 'string':
      return 'string';
    case 'vector':
      return 'vector';
    case 'matrix':
      return 'matrix';
    case 'subquery': {
      const t = typeOf(e.expr);
      if (t !== 'vector') throw new PromQLParseError(`subquery is only allowed on instant vector, got ${t}`);
      return 'matrix';
    }
    case 'unary': {
      const t = typeOf(e.expr);
      if (t !== 'scalar' && t !== 'vector')
        throw new PromQLParseError(`unary expression only allowed on expressions of type scalar or instant vector, got ${t}`);
      return t;
    }
    case 'aggregate': {
      const t = typeOf(e.expr);
      if (t !== 'vector') throw new PromQLParseError(`expected type instant vector in aggregation expression, got ${t}`);
      if (e.param) {
        const p = typeOf(e.param);
        const want = e.op === 'count_values' ? 'string' : 'scalar';
        if (p !== want) throw new PromQLParseError(`expected type ${want} in aggregation parameter, got ${p}`);
      }
      return 'vector';
    }
    case 'binary': {
      const l = typeOf(e.lhs);
      const r = typeOf(e.rhs);
      for (const t of [l, r]) {
        if (t !== 'scalar' && t !== 'vector')
          throw new PromQLParseError(`binary expression must contain only scalar and instant vector types, got ${t}`);
      }
      if (COMPARISON_OPS.has(e.op) && l === 'scalar' && r === 'scalar' && !e.bool) {
        throw new PromQLParseError('comparisons between scalars must use BOOL modifier');
      }
      if (SET_OPS.has(e.op) && (l !== 'vector' || r !== 'vector')) {
        throw new PromQLParseError(`set operator "${e.op}" not allowed in binary scalar expression`);
      }
      if (
        (e.matching.on || e.matching.labels.length || e.matching.card === 'many-to-one' || e.matching.card === 'one-to-many') &&
        (l !== 'vector' || r !== 'vector')
      ) {
        if (e.matching.on || e.matching.labels.length || e.matching.include.length || e.matching.card !== 'one-to-one') {
          throw new PromQLParseError('vector matching only allowed between instant vectors');
        }
      }
      if (SET_OPS.has(e.op) && e.matching.card !== 'many-to-many') {
        throw new PromQLParseError('no grouping allowed for "and", "or", "unless" operations');
      }
      return l === 'scalar' && r === 'scalar' ? 'scalar' : 'vector';
    }
    case 'call': {
      const sig = FUNCTIONS[e.func];
      if (!sig) throw new PromQLParseError(`unknown function with name "${e.func}"`);
      const min = sig.args.length - (sig.optional ?? 0);
      if (e.args.length < min || (!sig.variadic && e.args.length > sig.args.length)) {
        throw new PromQLParseError(
          `expected ${sig.optional ? `${min} to ${sig.args.length}` : sig.args.length} argument(s) in call to "${e.func}", got ${e.args.length}`,
        );
      }
      e.args.forEach((a, i) => {
        const want = sig.args[Math.min(i, sig.args.length - 1)] as ValueType;
        const got = typeOf(a);
        if (got !== want) throw new PromQLParseError(`expected type ${nice(want)} in call to function "${e.func}", got ${nice(got)}`);
      });
      return sig.ret;
    }
  }
}

function nice(t: ValueType): string {
  return t === 'vector' ? 'instant vector' : t === 'matrix' ? 'range vector' : t;
}
