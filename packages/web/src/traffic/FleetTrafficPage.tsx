import type { TrafficFleet } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { bytes, percent } from '../format.ts';
import { getJson } from '../http.ts';
import { dateTime, type MessageKey, useI18n } from '../i18n.tsx';
import { type FleetSort, type FleetSortKey, orderFleet } from './order.ts';
import './fleet-traffic.css';

/** Every host's current billing cycle (docs/traffic.md), sortable, each row leading to the host's Traffic panel. */
export function FleetTrafficPage({ go }: { go: (path: string) => void }) {
  const { t, lang } = useI18n();
  const [sort, setSort] = useState<FleetSort>({ key: 'percent', desc: true });
  const q = useQuery({
    queryKey: ['traffic-fleet'],
    refetchInterval: 60_000,
    queryFn: () => getJson<TrafficFleet>('/api/traffic/fleet'),
  });

  const header = (k: FleetSortKey, label: MessageKey) => (
    <th scope="col" aria-sort={sort.key === k ? (sort.desc ? 'descending' : 'ascending') : undefined}>
      <button
        type="button"
        className="sort"
        data-testid={`fleet-traffic-sort-${k}`}
        // Names sort A to Z first; amounts, largest first.
        onClick={() => setSort((s) => (s.key === k ? { key: k, desc: !s.desc } : { key: k, desc: k !== 'host' && k !== 'end' }))}
      >
        {t(label)}
        <span aria-hidden="true">{sort.key === k ? (sort.desc ? ' ↓' : ' ↑') : ''}</span>
      </button>
    </th>
  );

  return (
    <section className="fleet-traffic" data-testid="fleet-traffic">
      <h1>{t('fleetTraffic.title')}</h1>
      {q.isLoading ? <p className="empty">{t('fleetTraffic.loading')}</p> : null}
      {q.error ? <p role="alert">{t('fleetTraffic.error', (q.error as Error).message)}</p> : null}
      {q.data && q.data.hosts.length === 0 ? (
        <p className="empty" data-testid="fleet-traffic-none">
          {t('fleetTraffic.none')}
        </p>
      ) : null}
      {q.data && q.data.hosts.length > 0 ? (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a wide table scrolls in its own box on a phone, reachable by keyboard
        <table className="fleet-traffic-table" tabIndex={0}>
          <thead>
            <tr>
              {header('host', 'fleetTraffic.col.host')}
              {header('used', 'fleetTraffic.col.used')}
              {header('percent', 'fleetTraffic.col.percent')}
              {header('in', 'fleetTraffic.col.in')}
              {header('out', 'fleetTraffic.col.out')}
              {header('end', 'fleetTraffic.col.end')}
            </tr>
          </thead>
          <tbody>
            {orderFleet(q.data.hosts, sort).map((r) => {
              const pct = r.usedPercent ?? undefined;
              const to = `/agents/${encodeURIComponent(r.agent)}#traffic`;
              return (
                <tr key={r.agent} data-testid="fleet-traffic-row" data-agent={r.agent}>
                  <th scope="row">
                    <a
                      href={to}
                      aria-label={t('fleetTraffic.open', r.hostname)}
                      onClick={(e) => {
                        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                        e.preventDefault();
                        go(to);
                      }}
                    >
                      {r.hostname}
                    </a>
                  </th>
                  <td data-testid="fleet-traffic-used">
                    {bytes(r.usedBytes)} / {r.quotaBytes > 0 ? bytes(r.quotaBytes) : t('fleetTraffic.noQuota')}
                  </td>
                  <td>
                    <span className="meter" data-level={pct === undefined ? '' : pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low'}>
                      <span data-testid="fleet-traffic-percent">{pct === undefined ? '–' : percent(pct)}</span>
                      <span className="fill" style={{ width: `${Math.min(100, pct ?? 0)}%` }} />
                    </span>
                  </td>
                  <td>{bytes(r.rxBytes)}</td>
                  <td>{bytes(r.txBytes)}</td>
                  <td>{dateTime(lang, r.endMs)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
