/** The PromQL syntax tree evaluated here, built from the Prometheus team's Lezer grammar (parser.ts). */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

/** `@ <time>`, `@ start()`, `@ end()`; absent when the selector has no @. */
export type AtModifier = { kind: 'time'; ms: number } | { kind: 'start' } | { kind: 'end' };

export interface VectorSelector {
  type: 'vector';
  matchers: LabelMatcher[];
  offsetMs: number;
  at: AtModifier | undefined;
}

export interface MatrixSelector {
  type: 'matrix';
  vector: VectorSelector;
  rangeMs: number;
}

export interface Subquery {
  type: 'subquery';
  expr: Expr;
  rangeMs: number;
  /** 0: none given; Prometheus' default evaluation interval (1 m) is used. */
  stepMs: number;
  offsetMs: number;
  at: AtModifier | undefined;
}

export interface NumberLiteral {
  type: 'number';
  value: number;
}

export interface StringLiteral {
  type: 'string';
  value: string;
}

export interface Call {
  type: 'call';
  func: string;
  args: Expr[];
}

export type AggregateOp =
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'count'
  | 'group'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'quantile'
  | 'count_values';

export interface Aggregate {
  type: 'aggregate';
  op: AggregateOp;
  param: Expr | undefined;
  expr: Expr;
  grouping: string[];
  without: boolean;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '^' | '==' | '!=' | '>' | '<' | '>=' | '<=' | 'and' | 'or' | 'unless' | 'atan2';

export interface VectorMatching {
  card: 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';
  /** on(...) when true, ignoring(...) when false (the default: ignoring nothing). */
  on: boolean;
  labels: string[];
  /** Labels group_left/group_right copy from the "one" side. */
  include: string[];
}

export interface Binary {
  type: 'binary';
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  /** Comparison with `bool`: 0/1 instead of filtering. */
  bool: boolean;
  matching: VectorMatching;
}

export interface Unary {
  type: 'unary';
  op: '-' | '+';
  expr: Expr;
}

export type Expr = VectorSelector | MatrixSelector | Subquery | NumberLiteral | StringLiteral | Call | Aggregate | Binary | Unary;

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export const COMPARISON_OPS: ReadonlySet<BinaryOp> = new Set(['==', '!=', '>', '<', '>=', '<=']);
export const SET_OPS: ReadonlySet<BinaryOp> = new Set(['and', 'or', 'unless']);
