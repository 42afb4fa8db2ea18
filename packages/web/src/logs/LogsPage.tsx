import { useState } from 'react';
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

/** `YYYY-MM-DDTHH:MM` in local time, what <input type="datetime-local"> reads and writes. */
function localInput(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The fleet's Logs page: every agent's lines, with the host page's range buttons. */
export function LogsPage({ live }: { live: LiveConnection }) {
  const { t } = useI18n();
  const [preset, setPreset] = useState('1h');
  const [custom, setCustom] = useState(() => ({ fromMs: Date.now() - 3_600_000, toMs: Date.now() }));
  const [draft, setDraft] = useState(() => ({ from: localInput(custom.fromMs), to: localInput(custom.toMs) }));
  const [customError, setCustomError] = useState('');
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
      {preset === 'custom' ? (
        <form
          className="custom-range"
          onSubmit={(e) => {
            e.preventDefault();
            const fromMs = new Date(draft.from).getTime();
            const toMs = new Date(draft.to).getTime() + 59_999;
            if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs >= toMs) {
              setCustomError(`${t('host.from')} < ${t('host.to')}`);
              return;
            }
            setCustomError('');
            setCustom({ fromMs, toMs });
          }}
        >
          <label>
            {t('host.from')}
            <input type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
          </label>
          <label>
            {t('host.to')}
            <input type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
          </label>
          <button type="submit">{t('host.apply')}</button>
          {customError ? <span role="alert">{customError}</span> : null}
        </form>
      ) : null}
      <LogsView live={live} range={range} />
    </section>
  );
}
