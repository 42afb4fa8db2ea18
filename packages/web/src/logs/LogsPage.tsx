import { useEffect, useRef, useState } from 'react';
import { CustomRange } from '../host/CustomRange.tsx';
import type { Range } from '../host/time-axis.ts';
import { useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { LogsView } from './LogsView.tsx';
import { type LogsViewState, presetSpan, RANGE_PRESETS, searchOfView, viewFromSearch } from './url.ts';

/** The view in the address, followed on Back and Forward; a change is a new history entry (`replace`: not). */
function useAddressView(): [LogsViewState, (next: Partial<LogsViewState>, replace?: boolean) => void] {
  const [view, setView] = useState(() => viewFromSearch(location.search, Date.now()));
  useEffect(() => {
    const onPop = () => {
      if (location.pathname === '/logs') setView(viewFromSearch(location.search, Date.now()));
    };
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  // Read at the change, not at the render that made the callback: a tail's refusal may come later.
  const current = useRef(view);
  current.current = view;
  const change = (next: Partial<LogsViewState>, replace = false) => {
    const merged = { ...current.current, ...next };
    current.current = merged;
    const url = `/logs${searchOfView(merged)}`;
    if (url !== location.pathname + location.search) {
      if (replace) history.replaceState(null, '', url);
      else history.pushState(null, '', url);
    }
    setView(merged);
  };
  return [view, change];
}

/** The fleet's Logs page: every agent's lines, with the host page's range buttons; its view is in the address. */
export function LogsPage({ live }: { live: LiveConnection }) {
  const { t } = useI18n();
  const [view, change] = useAddressView();
  const range: Range = view.range === 'custom' ? { fromMs: view.fromMs, toMs: view.toMs } : { spanMs: presetSpan(view.range) };
  const pick = (preset: string) => {
    if (preset !== 'custom') change({ range: preset });
    else if (view.range !== 'custom') {
      // The custom form starts from the window shown.
      const now = Date.now();
      change({ range: 'custom', fromMs: now - presetSpan(view.range), toMs: now });
    }
  };
  return (
    <section className="logs-page" data-testid="logs-page">
      <h1>{t('logs.title')}</h1>
      <div className="host-bar">
        <fieldset className="ranges">
          <legend className="sr-only">{t('host.range')}</legend>
          {[...RANGE_PRESETS.map(([p]) => p), 'custom'].map((p) => (
            <button
              key={p}
              type="button"
              aria-pressed={view.range === p}
              className={view.range === p ? 'on' : ''}
              onClick={() => pick(p)}
              data-testid={`logs-range-${p}`}
            >
              {p === 'custom' ? t('host.custom') : p}
            </button>
          ))}
        </fieldset>
      </div>
      {view.range === 'custom' ? (
        <CustomRange
          key={`${view.fromMs}-${view.toMs}`}
          value={{ fromMs: view.fromMs, toMs: view.toMs }}
          onApply={(span) => change({ range: 'custom', ...span })}
        />
      ) : null}
      <LogsView live={live} range={range} view={view} onView={change} />
    </section>
  );
}
