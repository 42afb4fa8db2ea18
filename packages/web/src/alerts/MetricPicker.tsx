import type { NamesAnswer } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useId, useMemo, useState } from 'react';
import { getJson } from '../http.ts';
import { useI18n } from '../i18n.tsx';
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
  const id = useId();
  const names = useQuery({ queryKey: ['metrics', 'names'], queryFn: () => getJson<NamesAnswer>('/api/metrics/names'), staleTime: 60_000 });
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const all = names.data?.names ?? [];
  const list = useMemo(() => suggest(all, value), [all, value]);
  const known = all.includes(value);
  const pick = (name: string) => {
    onChange(name);
    setOpen(false);
    setActive(-1);
  };
  const unit = unitSuffix(unitOfRule({ metric: value }));
  return (
    <div className="metric-picker">
      <input
        role="combobox"
        aria-label={label}
        aria-expanded={open && list.length > 0}
        aria-controls={`${id}-list`}
        aria-autocomplete="list"
        aria-activedescendant={open && active >= 0 ? `${id}-${active}` : undefined}
        autoComplete="off"
        spellCheck={false}
        value={value}
        placeholder="falconet_cpu_usage_percent"
        data-testid="metric-picker"
        onChange={(e) => {
          onChange(e.target.value);
          setOpen(true);
          setActive(-1);
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setOpen(true);
            setActive((i) => Math.min(list.length - 1, i + 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((i) => Math.max(0, i - 1));
          } else if (e.key === 'Enter' && open && active >= 0 && list[active]) {
            e.preventDefault();
            pick(list[active] as string);
          } else if (e.key === 'Escape') {
            setOpen(false);
          }
        }}
      />
      {open && list.length > 0 ? (
        <div role="listbox" id={`${id}-list`} className="suggestions" aria-label={t('forms.metric.suggestions')}>
          {list.map((n, i) => (
            <div
              key={n}
              id={`${id}-${i}`}
              role="option"
              tabIndex={-1}
              aria-selected={i === active}
              className={i === active ? 'active' : undefined}
              // Taken on mouse down, before the input's blur closes the list.
              onMouseDown={(e) => {
                e.preventDefault();
                pick(n);
              }}
            >
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
