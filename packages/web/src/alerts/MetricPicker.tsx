import type { NamesAnswer } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { getJson } from '../http.ts';
import { useI18n } from '../i18n.tsx';
import { useCombobox } from '../ui/combobox.ts';
import { unitOfRule, unitSuffix } from './units.ts';

const SHOWN = 40;

/** Names holding every word typed (space or underscore apart), those starting with the text first. */
export function suggest(names: readonly string[], text: string, limit = SHOWN): string[] {
  const q = text.trim().toLowerCase();
  if (!q) return names.slice(0, limit);
  const words = q.split(/[\s_]+/).filter(Boolean);
  const hits = names.filter((n) => {
    const l = n.toLowerCase();
    return words.every((w) => l.includes(w));
  });
  const rank = (n: string) => (n.toLowerCase().startsWith(q) ? 0 : n.toLowerCase().includes(q) ? 1 : 2);
  return hits.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, limit);
}

/**
 * A metric name with suggestions from the names the fleet reports (GET /api/metrics/names),
 * filtered as one types; arrows move through them, Enter takes one, Escape closes the list.
 * Any name may still be typed: a plugin's metric may not have reported yet.
 */
export function MetricPicker({ value, onChange, label }: { value: string; onChange(v: string): void; label: string }) {
  const { t } = useI18n();
  const names = useQuery({ queryKey: ['metrics', 'names'], queryFn: () => getJson<NamesAnswer>('/api/metrics/names'), staleTime: 60_000 });
  const all = names.data?.names ?? [];
  const list = useMemo(() => suggest(all, value), [all, value]);
  const known = all.includes(value);
  const box = useCombobox(list, onChange);
  const unit = unitSuffix(unitOfRule({ metric: value }));
  return (
    <div className="metric-picker">
      <input
        {...box.input}
        aria-label={label}
        spellCheck={false}
        value={value}
        placeholder="falconet_cpu_usage_percent"
        data-testid="metric-picker"
        onChange={(e) => {
          onChange(e.target.value);
          box.typed();
        }}
      />
      {box.expanded ? (
        <div role="listbox" id={box.listId} className="suggestions" aria-label={t('forms.metric.suggestions')}>
          {list.map((n, i) => (
            <div key={n} {...box.option(i, n)}>
              <span className="mono">{n}</span>
              {unitSuffix(unitOfRule({ metric: n })) ? <span className="unit">{unitSuffix(unitOfRule({ metric: n }))}</span> : null}
            </div>
          ))}
        </div>
      ) : null}
      <small className="field-help">
        {names.isLoading
          ? t('forms.metric.loading')
          : value && !known
            ? t('forms.metric.unknown')
            : unit
              ? t('forms.metric.unit', unit)
              : t('forms.metric.count', all.length)}
      </small>
    </div>
  );
}
