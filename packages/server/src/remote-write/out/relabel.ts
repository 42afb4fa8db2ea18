/**
 * The part of Prometheus' write_relabel_configs Falconet applies before sending: keep, drop and
 * replace over source labels joined by a separator, with a fully anchored RE2-like regex; labeldrop
 * and labelkeep on label names. Plus `match`: series selectors of which a series must match one.
 */
import type { LabelMatcher } from '../../promql/ast.ts';
import { type CompiledMatcher, compileMatchers } from '../../promql/matchers.ts';
import { parsePromQL } from '../../promql/parser.ts';

export interface RelabelConfig {
  source_labels: string[];
  separator: string;
  regex: string;
  target_label: string;
  replacement: string;
  action: 'keep' | 'drop' | 'replace' | 'labeldrop' | 'labelkeep';
}

export type LabelSet = Record<string, string>;

interface CompiledRule extends RelabelConfig {
  re: RegExp;
}

/** A set of write_relabel_configs and match selectors, compiled once per destination. */
export class SeriesFilter {
  readonly #rules: CompiledRule[];
  readonly #match: CompiledMatcher[][];

  /** `where` names the config entry in errors (`remote_write[0].write_relabel_configs[2].regex`). */
  constructor(rules: readonly RelabelConfig[], match: readonly string[], where: string) {
    this.#rules = rules.map((r, i) => {
      try {
        return { ...r, re: new RegExp(`^(?:${r.regex})$`) };
      } catch (err) {
        throw new Error(`${where}.write_relabel_configs[${i}].regex: ${(err as Error).message}`);
      }
    });
    this.#match = match.map((text, i) => {
      let e: ReturnType<typeof parsePromQL>;
      try {
        e = parsePromQL(text);
      } catch (err) {
        throw new Error(`${where}.match[${i}]: ${(err as Error).message}`);
      }
      if (e.type !== 'vector') throw new Error(`${where}.match[${i}]: ${text} is not a series selector like {job="node"}`);
      return compileMatchers(e.matchers as LabelMatcher[]);
    });
  }

  /** The labels to send (`__name__` included), or undefined when the series is not sent. */
  apply(input: LabelSet): LabelSet | undefined {
    if (this.#match.length && !this.#match.some((ms) => ms.every((m) => m.test(input[m.name] ?? '')))) return undefined;
    let labels = input;
    for (const r of this.#rules) {
      if (r.action === 'labeldrop' || r.action === 'labelkeep') {
        const next: LabelSet = {};
        for (const [k, v] of Object.entries(labels)) if (r.re.test(k) === (r.action === 'labelkeep')) next[k] = v;
        labels = next;
        continue;
      }
      const value = r.source_labels.map((n) => labels[n] ?? '').join(r.separator);
      const m = r.re.exec(value);
      if (r.action === 'keep' && !m) return undefined;
      if (r.action === 'drop' && m) return undefined;
      if (r.action === 'replace' && m) {
        const target = expand(r.target_label, m);
        const v = expand(r.replacement, m);
        labels = { ...labels };
        if (v === '') delete labels[target];
        else labels[target] = v;
      }
    }
    // A series that lost its name cannot be sent (Prometheus would refuse the whole request).
    return labels.__name__ ? labels : undefined;
  }
}

/** `$1`, `${1}` and `$name` in a replacement, as Go's regexp.Expand reads them. */
function expand(template: string, m: RegExpExecArray): string {
  return template.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_all, braced: string | undefined, bare: string | undefined) => {
    const ref = (braced ?? bare) as string;
    const n = Number(ref);
    if (Number.isInteger(n)) return m[n] ?? '';
    return m.groups?.[ref] ?? '';
  });
}
