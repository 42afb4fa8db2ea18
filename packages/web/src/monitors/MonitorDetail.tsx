import type { MonitorHistory } from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useMemo, useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import type { ChartSpec } from '../host/charts.ts';
import { PRESETS } from '../host/HostPage.tsx';
import { type ChartSource, type Lines, MetricChart, type Range } from '../host/MetricChart.tsx';
import { agoText, dateTime, useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { Button } from '../ui/Button.tsx';
import { canOperate, deleteMonitor, getMonitor, monitorHistory, patchCachedLists } from './client.ts';
import { durationText, latencyText, uptimeText } from './format.ts';
import { MonitorForm } from './MonitorForm.tsx';
import { CertCell, StatusDot } from './MonitorRow.tsx';

const REFRESH_MS = 15_000;
const LATENCY_CHART: ChartSpec = { id: 'monitor-latency', title: 'monitors.chart.latency', unit: 'ms', queries: [] };
const SUCCESS_CHART: ChartSpec = { id: 'monitor-success', title: 'monitors.chart.success', unit: 'percent', max: 100, queries: [] };

/** One line per location, named by its host (and its id where two hosts share a name); `pick` takes the point's value. */
function linesOf(h: MonitorHistory, pick: (p: [number, number | null, number | null]) => number | null): Lines {
  const names = new Map<string, number>();
  for (const l of h.locations) names.set(l.hostname, (names.get(l.hostname) ?? 0) + 1);
  const lines: Lines = new Map();
  for (const l of h.locations) {
    const line = new Map<number, number>();
    for (const p of l.points) {
      const v = pick(p);
      if (v !== null) line.set(p[0], v);
    }
    lines.set((names.get(l.hostname) ?? 0) > 1 ? `${l.hostname} (${l.agentId})` : l.hostname, line);
  }
  return lines;
}

/** One monitor: its figures, per-location latency and success over a chosen range, its locations now, and (operators) edit and delete. */
export function MonitorDetailPage({ id, go, live, theme }: { id: string; go(p: string): void; live: LiveConnection; theme: string }) {
  const { t, lang } = useI18n();
  const editable = canOperate(useSession());
  const client = useQueryClient();
  const [preset, setPreset] = useState('1h');
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const detail = useQuery({ queryKey: ['monitor', id], queryFn: () => getMonitor(id), refetchInterval: REFRESH_MS, retry: false });
  const m = detail.data;

  // Both charts read the same history: one request per range, shared while it is on its way. Its
  // buckets are never finer than the probe's interval: a finer step would only show gaps.
  const intervalMs = m?.spec.probe.interval ?? 60_000;
  const source = useMemo(() => {
    const reads = new Map<string, Promise<MonitorHistory>>();
    return (from: number, to: number, step: number) => {
      const key = `${from}-${to}-${step}`;
      let r = reads.get(key);
      if (!r) {
        r = monitorHistory(id, from, to, step);
        reads.set(key, r);
        r.finally(() => setTimeout(() => reads.delete(key), 1000)).catch(() => undefined);
      }
      return r;
    };
  }, [id]);
  const latency = useCallback<ChartSource>(
    async (from, to, step) => {
      const s = Math.max(step, intervalMs);
      return { lines: linesOf(await source(from, to, s), (p) => p[1]), stepMs: s };
    },
    [source, intervalMs],
  );
  const success = useCallback<ChartSource>(
    async (from, to, step) => {
      const s = Math.max(step, intervalMs);
      return { lines: linesOf(await source(from, to, s), (p) => (p[2] === null ? null : p[2] * 100)), stepMs: s };
    },
    [source, intervalMs],
  );

  const back = (
    <p className="crumbs">
      <a
        href="/monitors"
        onClick={(e) => {
          e.preventDefault();
          go('/monitors');
        }}
      >
        ← {t('monitors.back')}
      </a>
    </p>
  );
  if (!m) {
    return (
      <section className="monitor" data-testid="monitor-page">
        {back}
        <p role={detail.error ? 'alert' : undefined}>{detail.error ? t('monitors.noSuch', detail.error.message) : t('monitors.loading')}</p>
      </section>
    );
  }

  const range: Range = { spanMs: PRESETS.find(([p]) => p === preset)?.[1] ?? 3_600_000 };
  const p = m.spec.probe;
  return (
    <section className="monitor" data-testid="monitor-page" data-status={m.status}>
      {back}
      <h1>
        <StatusDot status={m.status} t={t} /> {m.spec.name}{' '}
        <span className={`status mstatus ${m.status}`} data-testid="monitor-page-status">
          {t(`monitors.status.${m.status}`)}
        </span>
      </h1>
      <p className="sub">
        <span className="kind">{p.kind}</span> <span className="mono">{p.target}</span> ·{' '}
        {t('monitors.every', durationText(p.interval), durationText(p.timeout))} ·{' '}
        {t('monitors.alertWhen', m.spec.alert_failing_locations, m.locationCount)}
      </p>
      <dl className="fleet monitor-figures">
        <div>
          <dt>{t('monitors.col.locations')}</dt>
          <dd className={m.failingLocations ? 'bad' : 'ok'}>
            {m.failingLocations} / {m.locationCount}
          </dd>
        </div>
        <div>
          <dt>{t('monitors.col.uptime24h')}</dt>
          <dd>{uptimeText(m.uptime24h)}</dd>
        </div>
        <div>
          <dt>{t('monitors.col.uptime30d')}</dt>
          <dd>{uptimeText(m.uptime30d)}</dd>
        </div>
        <div>
          <dt>{t('monitors.col.latency')}</dt>
          <dd>{latencyText(m.latencyMs)}</dd>
        </div>
        <div>
          <dt>{t('monitors.col.cert')}</dt>
          <dd>
            <CertCell expiryMs={m.certExpiryMs} t={t} />
          </dd>
        </div>
        <div>
          <dt>{t('monitors.lastCheck')}</dt>
          <dd>{m.lastCheckMs ? agoText(t, m.lastCheckMs) : '–'}</dd>
        </div>
      </dl>
      {editable && !editing ? (
        <div className="btn-row">
          <Button onClick={() => setEditing(true)} data-testid="monitor-edit">
            {t('monitors.edit')}
          </Button>
          {confirming ? (
            <Button
              variant="danger"
              data-testid="monitor-delete-confirm"
              onClick={() =>
                deleteMonitor(m.id).then(
                  () => {
                    void client.invalidateQueries({ queryKey: ['monitors'] });
                    go('/monitors');
                  },
                  (err: Error) => setError(err.message),
                )
              }
            >
              {t('monitors.deleteConfirm')}
            </Button>
          ) : (
            <Button variant="danger" onClick={() => setConfirming(true)} data-testid="monitor-delete">
              {t('monitors.delete')}
            </Button>
          )}
          {error ? (
            <span role="alert" className="form-error">
              {error}
            </span>
          ) : null}
        </div>
      ) : null}
      {editing ? (
        <MonitorForm
          monitor={m}
          onDone={(saved) => {
            setEditing(false);
            if (saved) {
              client.setQueryData(['monitor', id], { ...m, ...saved });
              patchCachedLists(client, saved);
            }
            void client.invalidateQueries({ queryKey: ['monitor', id] });
          }}
        />
      ) : null}
      <div className="host-bar">
        <h2>{t('monitors.history')}</h2>
        <fieldset className="ranges">
          <legend className="sr-only">{t('host.range')}</legend>
          {PRESETS.map(([r]) => (
            <button
              key={r}
              type="button"
              aria-pressed={preset === r}
              className={preset === r ? 'on' : ''}
              onClick={() => setPreset(r)}
              data-testid={`range-${r}`}
            >
              {r}
            </button>
          ))}
        </fieldset>
      </div>
      <div className="charts">
        <MetricChart
          spec={LATENCY_CHART}
          agentId={`monitor:${m.id}`}
          intervalMs={p.interval}
          live={live}
          range={range}
          theme={theme}
          source={latency}
        />
        <MetricChart
          spec={SUCCESS_CHART}
          agentId={`monitor:${m.id}`}
          intervalMs={p.interval}
          live={live}
          range={range}
          theme={theme}
          source={success}
        />
      </div>
      <h2>{t('monitors.locations')}</h2>
      <table className="monitors-table" data-testid="monitor-locations">
        <thead>
          <tr>
            <th scope="col">{t('monitors.loc.host')}</th>
            <th scope="col">{t('monitors.loc.state')}</th>
            <th scope="col">{t('monitors.col.latency')}</th>
            <th scope="col">{t('monitors.lastCheck')}</th>
          </tr>
        </thead>
        <tbody>
          {m.locations.map((l) => (
            <tr key={l.agentId} data-testid="monitor-location" data-agent={l.agentId} data-up={l.up === null ? 'unknown' : String(l.up)}>
              <th scope="row">
                <a
                  href={`/agents/${encodeURIComponent(l.agentId)}`}
                  onClick={(e) => {
                    e.preventDefault();
                    go(`/agents/${encodeURIComponent(l.agentId)}`);
                  }}
                >
                  {l.hostname || l.agentId}
                </a>
              </th>
              <td>
                <StatusDot status={l.up === null ? 'pending' : l.up ? 'up' : 'down'} t={t} />{' '}
                {t(l.up === null ? 'monitors.status.pending' : l.up ? 'monitors.status.up' : 'monitors.status.down')}
              </td>
              <td className="num">{latencyText(l.latencyMs)}</td>
              <td title={l.lastCheckMs ? dateTime(lang, l.lastCheckMs) : undefined}>{l.lastCheckMs ? agoText(t, l.lastCheckMs) : '–'}</td>
            </tr>
          ))}
          {m.locations.length === 0 ? (
            <tr>
              <td colSpan={4} className="empty">
                {t('monitors.noLocations')}
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </section>
  );
}
