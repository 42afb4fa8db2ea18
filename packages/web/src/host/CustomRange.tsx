import { useState } from 'react';
import { useI18n } from '../i18n.tsx';

export interface SpanMs {
  fromMs: number;
  toMs: number;
}

/** `YYYY-MM-DDTHH:MM` in local time, what <input type="datetime-local"> reads and writes. */
function localInput(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/**
 * The From/To form of a custom range, on the host page and the Logs page. It edits a draft of
 * `value` and hands a checked span to `onApply`; give it a `key` from `value` so a range set
 * elsewhere (a chart's "Logs around") shows in the inputs.
 */
export function CustomRange({ value, onApply, testId }: { value: SpanMs; onApply(span: SpanMs): void; testId?: string }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(() => ({ from: localInput(value.fromMs), to: localInput(value.toMs) }));
  const [error, setError] = useState('');
  return (
    <form
      className="custom-range"
      data-testid={testId}
      onSubmit={(e) => {
        e.preventDefault();
        const fromMs = new Date(draft.from).getTime();
        // The inputs have minutes: the end is inclusive of its whole minute.
        const toMs = new Date(draft.to).getTime() + 59_999;
        if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs >= toMs) {
          setError(`${t('host.from')} < ${t('host.to')}`);
          return;
        }
        setError('');
        onApply({ fromMs, toMs });
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
      {error ? <span role="alert">{error}</span> : null}
    </form>
  );
}
