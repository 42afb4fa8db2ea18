import type { MatchOp, SelectorSpec } from '@falconet/protocol/api';
import { MATCH_OPS } from '@falconet/protocol/api/enums';
import { useId } from 'react';
import { useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';

export interface LabelFilter {
  name: string;
  op: MatchOp;
  value: string;
}

const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** A selector as written anywhere (`{a="b"}`, a map, a list) as rows; undefined when its text does not read. */
export function filtersOf(spec: SelectorSpec | undefined): LabelFilter[] | undefined {
  if (spec === undefined) return [];
  if (Array.isArray(spec)) return spec.map((m) => ({ ...m }));
  if (typeof spec === 'object') return Object.entries(spec).map(([name, value]) => ({ name, op: '=' as const, value }));
  const body = spec.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  const out: LabelFilter[] = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < body.length) {
    const m = MATCHER.exec(body);
    if (!m) return undefined;
    out.push({ name: m[1] as string, op: m[2] as MatchOp, value: (m[3] as string).replace(/\\(.)/g, '$1') });
  }
  return out;
}

/** The rows as the API takes them: those with a name, in order; undefined when none. */
export function selectorOf(rows: readonly LabelFilter[]): LabelFilter[] | undefined {
  const kept = rows.filter((r) => r.name.trim() !== '').map((r) => ({ ...r, name: r.name.trim() }));
  return kept.length ? kept : undefined;
}

/**
 * Label matchers as rows of fields: a label name (suggested from `names`), an operator of
 * MATCH_OPS, a value; rows are added and removed with buttons.
 */
export function LabelFilters({
  legend,
  rows,
  onChange,
  names = [],
  testid,
}: {
  legend: string;
  rows: LabelFilter[];
  onChange(rows: LabelFilter[]): void;
  names?: readonly string[];
  testid: string;
}) {
  const { t } = useI18n();
  const listId = useId();
  const set = (i: number, patch: Partial<LabelFilter>) => onChange(rows.map((r, k) => (k === i ? { ...r, ...patch } : r)));
  return (
    <fieldset className="fields label-filters" data-testid={testid}>
      <legend>{legend}</legend>
      {names.length ? (
        <datalist id={listId}>
          {names.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
      ) : null}
      {rows.length === 0 ? <span className="field-help">{t('forms.filters.none')}</span> : null}
      {rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place; a half-typed name is no key
        <div className="filter-row" key={i} data-testid="filter-row">
          <input
            aria-label={t('forms.filters.name', i + 1)}
            placeholder={t('forms.filters.namePlaceholder')}
            list={names.length ? listId : undefined}
            value={r.name}
            spellCheck={false}
            onChange={(e) => set(i, { name: e.target.value })}
          />
          <select aria-label={t('forms.filters.op', i + 1)} value={r.op} onChange={(e) => set(i, { op: e.target.value as MatchOp })}>
            {MATCH_OPS.map((op) => (
              <option key={op} value={op} title={t(`forms.op.${op}`)}>
                {op}
              </option>
            ))}
          </select>
          <input
            aria-label={t('forms.filters.value', i + 1)}
            placeholder={r.op.includes('~') ? t('forms.filters.regexPlaceholder') : t('forms.filters.valuePlaceholder')}
            value={r.value}
            spellCheck={false}
            onChange={(e) => set(i, { value: e.target.value })}
          />
          <Button
            small
            variant="ghost"
            aria-label={t('forms.filters.remove', i + 1)}
            onClick={() => onChange(rows.filter((_, k) => k !== i))}
          >
            ✕
          </Button>
        </div>
      ))}
      <div>
        <Button small onClick={() => onChange([...rows, { name: '', op: '=', value: '' }])} data-testid={`${testid}-add`}>
          {t('forms.filters.add')}
        </Button>
      </div>
    </fieldset>
  );
}
