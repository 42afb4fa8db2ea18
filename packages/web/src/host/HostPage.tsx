import type { Agent } from '@falconet/protocol/api';
import { useEffect, useState } from 'react';
import { agoText, dateTime, useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { LogsView } from '../logs/LogsView.tsx';
import { SameNameTag } from '../overview/identity.tsx';
import type { AgentStore } from '../overview/store.ts';
import { AgentTrust } from './AgentTrust.tsx';
import { ContainersTab } from './ContainersTab.tsx';
import { CustomRange, type SpanMs } from './CustomRange.tsx';
import { SYSTEM_CHARTS } from './charts.ts';
import { ForgetAgent } from './ForgetAgent.tsx';
import { HostFigures } from './HostFigures.tsx';
import { MetricChart, type Range } from './MetricChart.tsx';
import { Mounts } from './Mounts.tsx';
import { TrafficPanel } from './TrafficPanel.tsx';

/** The time ranges of the host page (the Query page offers the same). */
export const PRESETS: [string, number][] = [
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['6h', 21_600_000],
  ['24h', 86_400_000],
  ['7d', 604_800_000],
  ['30d', 2_592_000_000],
];

export function HostPage({
  agent: initial,
  store,
  live,
  theme,
  go,
}: {
  agent: Agent;
  store: AgentStore;
  live: LiveConnection;
  theme: string;
  go(p: string): void;
}) {
  const { t, lang } = useI18n();
  const [agent, setAgent] = useState(initial);
  const [tab, setTab] = useState<'system' | 'containers' | 'logs'>('system');
  const [preset, setPreset] = useState<string>('15m');
  const [custom, setCustom] = useState<SpanMs>(() => ({ fromMs: Date.now() - 3_600_000, toMs: Date.now() }));

  // Status, not every sample: the header re-renders when the agent goes online or offline.
  useEffect(() => {
    setAgent(store.get(initial.id) ?? initial);
    return store.watch(initial.id, (a) => setAgent((prev) => (headerChanged(prev, a) ? a : prev)));
  }, [initial, store]);

  // A chart's "logs around" opens the Logs tab on ±5 minutes of the picked moment.
  const logsAt = (ms: number) => {
    const around = { fromMs: ms - 300_000, toMs: ms + 300_000 };
    setCustom(around);
    setPreset('custom');
    setTab('logs');
  };

  const range: Range = preset === 'custom' ? custom : { spanMs: PRESETS.find(([p]) => p === preset)?.[1] ?? 900_000 };
  const addresses = [...new Set([agent.primaryIp, ...agent.ips].filter(Boolean))];

  return (
    <section className="host" data-testid="host-page" data-status={agent.status}>
      <p className="crumbs">
        <a
          href="/"
          onClick={(e) => {
            e.preventDefault();
            go('/');
          }}
        >
          ← {t('host.back')}
        </a>
      </p>
      <h1>
        {agent.hostname}
        <SameNameTag agent={agent} store={store} t={t} />{' '}
        <span className={`status ${agent.status}`} data-testid="host-status">
          {t(agent.status === 'online' ? 'status.online' : 'status.offline')}
        </span>
      </h1>
      {agent.status === 'offline' ? (
        <p className="banner offline" role="status" data-testid="offline-banner">
          {t('host.offline', `${dateTime(lang, agent.lastSeenMs)} (${agoText(t, agent.lastSeenMs)})`)}
        </p>
      ) : null}
      <HostFigures initial={agent} store={store} />
      <AgentTrust agent={agent} />
      {addresses.length ? (
        <div className="sub addresses">
          <span id="host-addresses">{t('host.addresses')}</span>
          <ul aria-labelledby="host-addresses" data-testid="host-ips">
            {addresses.map((ip) => (
              <li key={ip} data-primary={ip === agent.primaryIp ? 'true' : undefined}>
                {ip}
                {ip === agent.primaryIp ? <span className="tag">{t('host.primary')}</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <div className="host-bar">
        <div className="tabs" role="tablist">
          {(['system', 'containers', 'logs'] as const).map((k) => (
            <button
              key={k}
              type="button"
              role="tab"
              aria-selected={tab === k}
              className={tab === k ? 'on' : ''}
              onClick={() => setTab(k)}
              data-testid={`tab-${k}`}
            >
              {t(k === 'system' ? 'host.tab.system' : k === 'logs' ? 'host.tab.logs' : 'host.tab.containers')}
            </button>
          ))}
        </div>
        <fieldset className="ranges">
          <legend className="sr-only">{t('host.range')}</legend>
          {PRESETS.map(([p]) => (
            <button
              key={p}
              type="button"
              aria-pressed={preset === p}
              className={preset === p ? 'on' : ''}
              onClick={() => setPreset(p)}
              data-testid={`range-${p}`}
            >
              {p}
              {p === '15m' || p === '1h' ? <span className="live-dot" title={t('host.live')} /> : null}
            </button>
          ))}
          <button
            type="button"
            aria-pressed={preset === 'custom'}
            className={preset === 'custom' ? 'on' : ''}
            onClick={() => setPreset('custom')}
            data-testid="range-custom"
          >
            {t('host.custom')}
          </button>
        </fieldset>
      </div>
      {preset === 'custom' ? (
        <CustomRange key={`${custom.fromMs}-${custom.toMs}`} value={custom} onApply={setCustom} testId="custom-range" />
      ) : null}
      {tab === 'logs' ? null : <p className="chart-hint">{t('chart.hint')}</p>}
      {tab === 'logs' ? (
        <LogsView live={live} range={range} agentId={agent.id} />
      ) : tab === 'system' ? (
        <>
          <Mounts agentId={agent.id} />
          <TrafficPanel agentId={agent.id} />
          <div className="charts">
            {SYSTEM_CHARTS.map((c) => (
              <MetricChart
                key={c.id}
                spec={c}
                agentId={agent.id}
                intervalMs={agent.intervalMs}
                live={live}
                range={range}
                theme={theme}
                onPick={logsAt}
              />
            ))}
          </div>
        </>
      ) : (
        <ContainersTab agent={agent} live={live} range={range} theme={theme} />
      )}
      <ForgetAgent agent={agent} store={store} go={go} />
    </section>
  );
}

/** Status, labels and sequence refusals re-render the header; every sample does not. */
function headerChanged(prev: Agent, next: Agent): boolean {
  return (
    prev.status !== next.status ||
    prev.hostname !== next.hostname ||
    prev.sequenceRefused?.atMs !== next.sequenceRefused?.atMs ||
    JSON.stringify([prev.trustedLabels, prev.labels]) !== JSON.stringify([next.trustedLabels, next.labels])
  );
}
