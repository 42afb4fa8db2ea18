import { useState } from 'react';
import { CustomRange } from '../host/CustomRange.tsx';
import type { Range } from '../host/time-axis.ts';
import { useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { LogsView } from './LogsView.tsx';

const PRESETS: [string, number][] = [
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['6h', 21_600_000],
  ['24h', 86_400_000],
  ['7d', 604_800_000],
];

/** The fleet's Logs page: every agent's lines, with the host page's range buttons. */
export function LogsPage({ live }: { live: LiveConnection }) {
  const { t } = useI18n();
  const [preset, setPreset] = useState('1h');
  const [custom, setCustom] = useState(() => ({ fromMs: Date.now() - 3_600_000, toMs: Date.now() }));
  const range: Range = preset === 'custom' ? custom : { spanMs: PRESETS.find(([p]) => p === preset)?.[1] ?? 3_600_000 };
  return (
    <section className="logs-page" data-testid="logs-page">
      <h1>{t('logs.title')}</h1>
      <div className="host-bar">
        <fieldset className="ranges">
          <legend className="sr-only">{t('host.range')}</legend>
          {[...PRESETS.map(([p]) => p), 'custom'].map((p) => (
            <button
              key={p}
              type="button"
              aria-pressed={preset === p}
              className={preset === p ? 'on' : ''}
              onClick={() => setPreset(p)}
              data-testid={`logs-range-${p}`}
            >
              {p === 'custom' ? t('host.custom') : p}
            </button>
          ))}
        </fieldset>
      </div>
      {preset === 'custom' ? <CustomRange key={`${custom.fromMs}-${custom.toMs}`} value={custom} onApply={setCustom} /> : null}
      <LogsView live={live} range={range} />
    </section>
  );
}
