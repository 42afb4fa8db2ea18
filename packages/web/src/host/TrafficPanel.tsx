import type { TrafficReport } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { bytes, percent } from '../format.ts';
import { getJson } from '../http.ts';
import { dateTime, useI18n } from '../i18n.tsx';
import './traffic.css';

/** The current billing cycle of a host (docs/traffic.md): used against the quota, the cycle's dates, a bar per day. */
export function TrafficPanel({ agentId }: { agentId: string }) {
  const { t, lang } = useI18n();
  const q = useQuery({
    queryKey: ['traffic', agentId],
    refetchInterval: 60_000,
    queryFn: () => getJson<TrafficReport>(`/api/traffic?host=${encodeURIComponent(agentId)}`),
  });
  const report = q.data;
  const c = report?.cycles[0];
  // Arriving from the fleet Traffic page (…#traffic): the panel comes after its data, so scroll once it is there.
  const scrolled = useRef(false);
  useEffect(() => {
    if (!c || scrolled.current || location.hash !== '#traffic') return;
    scrolled.current = true;
    document.getElementById('traffic')?.scrollIntoView({ block: 'start' });
  }, [c]);
  if (!report || !c) return null;
  const pct = c.usedPercent ?? undefined;
  const top = Math.max(1, ...c.days.map((d) => d.rxBytes + d.txBytes));
  return (
    <figure className="chart traffic" id="traffic" data-testid="traffic">
      <figcaption>{t('traffic.title')}</figcaption>
      <p className="traffic-dates">{t('traffic.cycle', dateTime(lang, c.startMs), dateTime(lang, c.endMs))}</p>
      <p>
        {t('traffic.in', bytes(c.rxBytes))} · {t('traffic.out', bytes(c.txBytes))}
        {c.correction ? <em> · {t('traffic.corrected')}</em> : null}
      </p>
      <span className="meter" data-level={pct === undefined ? '' : pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low'}>
        <span data-testid="traffic-used">
          {c.quotaBytes > 0
            ? t('traffic.used', bytes(c.usedBytes), bytes(c.quotaBytes), percent(pct))
            : t('traffic.usedNoQuota', bytes(c.usedBytes))}{' '}
          ({t(`traffic.direction.${report.plan.quota_direction}`)})
        </span>
        <span className="fill" style={{ width: `${Math.min(100, pct ?? 0)}%` }} />
      </span>
      <div className="traffic-days" role="img" aria-label={t('traffic.daily')}>
        {c.days.map((d) => (
          <span
            key={d.date}
            className="traffic-day"
            title={t('traffic.day', d.date, bytes(d.rxBytes), bytes(d.txBytes))}
            style={{ height: `${Math.max(2, ((d.rxBytes + d.txBytes) / top) * 100)}%` }}
          />
        ))}
      </div>
    </figure>
  );
}
