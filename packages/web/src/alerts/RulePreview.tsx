import type { RulePreview as Preview, RuleSpecInput } from '@falconet/protocol/api';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useI18n } from '../i18n.tsx';
import { previewRule } from './client.ts';
import { formatValue, unitOfRule } from './units.ts';

/** How long typing must pause before the draft is evaluated. */
export const PREVIEW_DEBOUNCE_MS = 400;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setV(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return v;
}

/**
 * The draft rule's value now, per host and series, and whether it would fire: asked of the
 * server (POST /api/alerts/preview) once typing pauses. The server's 400 names the field to fix.
 */
export function RulePreview({ spec }: { spec: RuleSpecInput }) {
  const { t } = useI18n();
  const json = useDebounced(JSON.stringify(spec), PREVIEW_DEBOUNCE_MS);
  const q = useQuery({
    queryKey: ['alerts', 'preview', json],
    queryFn: () => previewRule(JSON.parse(json) as RuleSpecInput),
    retry: false,
    staleTime: 5_000,
    placeholderData: keepPreviousData,
  });
  const unit = unitOfRule(spec);
  const data: Preview | undefined = q.data;
  const firing = data?.items.filter((i) => i.breach).length ?? 0;
  return (
    <section
      className="rule-preview"
      aria-live="polite"
      data-testid="rule-preview"
      data-state={q.isError ? 'error' : q.isFetching ? 'busy' : 'ready'}
    >
      <h4>
        {t('forms.preview.title')}
        {data ? <span className="mono sub"> {data.condition}</span> : null}
      </h4>
      {q.isError ? (
        <p className="form-error" data-testid="preview-error">
          {(q.error as Error).message}
        </p>
      ) : !data ? (
        <p className="sub">{t('forms.preview.loading')}</p>
      ) : data.items.length === 0 ? (
        <p className="sub" data-testid="preview-empty">
          {data.hosts === 0 ? t('forms.preview.noHosts') : t('forms.preview.noData', data.hostsRead)}
        </p>
      ) : (
        <>
          <p className="sub" data-testid="preview-summary">
            {firing > 0 ? t('forms.preview.wouldFire', firing, data.items.length) : t('forms.preview.quiet', data.items.length)}
            {data.truncated ? ` ${t('forms.preview.truncated', data.hostsRead, data.hosts)}` : ''}
          </p>
          <table className="alerts-table preview-table">
            <thead>
              <tr>
                <th>{t('alerts.col.host')}</th>
                <th>{t('alerts.col.series')}</th>
                <th>{t('forms.preview.now')}</th>
                <th>{t('alerts.col.state')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((i) => (
                <tr key={`${i.agent}${i.series}`} data-testid="preview-row" data-breach={i.breach ? 'yes' : 'no'}>
                  <td>{i.host}</td>
                  <td className="mono">{i.series || '—'}</td>
                  <td className="num" data-testid="preview-value">
                    {i.value === null ? t('forms.preview.none') : formatValue(i.value, unit)}
                  </td>
                  <td>
                    <span className={`badge ${i.breach ? 'firing' : 'resolved'}`}>
                      {i.breach ? t('forms.preview.breach') : t('forms.preview.ok')}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
