import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { AlertsPage } from './alerts/AlertsPage.tsx';
import { type Agent, fetchAgents } from './api.ts';
import { AccountMenu } from './auth/AccountMenu.tsx';
import { AgentList } from './components/AgentList.tsx';
import { LiveChart } from './components/LiveChart.tsx';
import { duration, percent } from './format.ts';
import { LiveConnection } from './live.ts';
import { TasksPage } from './tasks/TasksPage.tsx';

function usePath(): [string, (p: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  return [
    path,
    (p) => {
      history.pushState(null, '', p);
      setPath(p);
    },
  ];
}

export function App() {
  const live = useMemo(() => new LiveConnection(), []);
  const client = useQueryClient();
  const [path, go] = usePath();
  const [connected, setConnected] = useState(false);
  const agents = useQuery({ queryKey: ['agents'], queryFn: fetchAgents, refetchInterval: 30_000 });

  useEffect(() => live.onStatus(setConnected), [live]);
  // Agent status and summaries arrive over the live socket and patch the cached list in place.
  useEffect(
    () =>
      live.onAgent((agent) =>
        client.setQueryData<{ items: Agent[]; total: number }>(['agents'], (old) => {
          if (!old) return old;
          const i = old.items.findIndex((a) => a.id === agent.id);
          if (i < 0) return { items: [...old.items, agent], total: old.total + 1 };
          const items = old.items.slice();
          items[i] = agent;
          return { ...old, items };
        }),
      ),
    [live, client],
  );

  const match = /^\/agents\/([^/]+)$/.exec(path);
  const selected = match ? agents.data?.items.find((a) => a.id === decodeURIComponent(match[1] as string)) : undefined;

  return (
    <div className="app">
      <header>
        <a
          href="/"
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            go('/');
          }}
        >
          Falconet
        </a>
        <a
          href="/tasks"
          className="nav"
          onClick={(e) => {
            e.preventDefault();
            go('/tasks');
          }}
        >
          Tasks
        </a>
        <a
          href="/alerts"
          className="nav"
          onClick={(e) => {
            e.preventDefault();
            go('/alerts');
          }}
          data-testid="nav-alerts"
        >
          Alerts
        </a>
        <span className={`live ${connected ? 'on' : 'off'}`} data-testid="live-status">
          {connected ? 'live' : 'reconnecting…'}
        </span>
        <AccountMenu />
      </header>
      <main>
        {agents.error ? <p role="alert">Could not load agents: {(agents.error as Error).message}</p> : null}
        {path === '/alerts' ? (
          <AlertsPage />
        ) : path.startsWith('/tasks') ? (
          <TasksPage path={path} go={go} />
        ) : match ? (
          selected ? (
            <HostPage agent={selected} live={live} />
          ) : (
            <p>{agents.isLoading ? 'Loading…' : 'No such agent.'}</p>
          )
        ) : (
          <>
            <h1>Agents</h1>
            <AgentList agents={agents.data?.items ?? []} onOpen={(id) => go(`/agents/${encodeURIComponent(id)}`)} />
          </>
        )}
      </main>
    </div>
  );
}

function HostPage({ agent, live }: { agent: Agent; live: LiveConnection }) {
  const s = agent.summary;
  return (
    <section>
      <h1>
        {agent.hostname} <span className={`status ${agent.status}`}>{agent.status}</span>
      </h1>
      <p className="sub">
        {agent.os} · {agent.kernel} · {agent.arch} · {agent.primaryIp} · up {duration(s.falconet_uptime_seconds)} · CPU{' '}
        {percent(s.falconet_cpu_usage_percent)} · memory {percent(s.falconet_memory_used_percent)}
      </p>
      <div className="charts">
        <LiveChart
          agentId={agent.id}
          live={live}
          title="CPU"
          max={100}
          metrics={[{ name: 'falconet_cpu_usage_percent', label: 'CPU used', color: '#3b82f6' }]}
        />
        <LiveChart
          agentId={agent.id}
          live={live}
          title="Memory"
          max={100}
          metrics={[
            { name: 'falconet_memory_used_percent', label: 'Memory used', color: '#10b981' },
            { name: 'falconet_swap_used_percent', label: 'Swap used', color: '#f59e0b' },
          ]}
        />
      </div>
    </section>
  );
}
