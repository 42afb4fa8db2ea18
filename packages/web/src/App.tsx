import type { Agent } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { AlertsPage } from './alerts/AlertsPage.tsx';
import { fetchAgent, fetchAgents, firstAgents } from './api.ts';
import { AccountMenu } from './auth/AccountMenu.tsx';
import { useSession } from './auth/AuthGate.tsx';
import { SecurityWarnings } from './auth/SecurityWarnings.tsx';
import { SettingsPage } from './auth/SettingsPage.tsx';
import { HostPage } from './host/HostPage.tsx';
import { type Lang, useI18n, useTheme } from './i18n.tsx';
import { LiveConnection } from './live.ts';
import { LogsPage } from './logs/LogsPage.tsx';
import { MonitorsPage } from './monitors/MonitorsPage.tsx';
import { Overview } from './overview/Overview.tsx';
import { AgentStore } from './overview/store.ts';
import { QueryPage } from './query/QueryPage.tsx';
import { StatusPagesPage } from './status-pages/StatusPagesPage.tsx';
import { TasksPage } from './tasks/TasksPage.tsx';
import { FleetTrafficPage } from './traffic/FleetTrafficPage.tsx';
import { StoreFullBanner } from './ui/StoreFullBanner.tsx';
import { usePageTitle } from './ui/title.ts';
import { UpdatesPage } from './updates/UpdatesPage.tsx';

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
      setPath(location.pathname);
      // Views that keep their state in the address (the overview's heatmap) follow it as on Back.
      dispatchEvent(new PopStateEvent('popstate'));
      scrollTo(0, 0);
    },
  ];
}

export function App() {
  // The page's one socket: made without opening, opened by the effect below, so StrictMode's
  // second mount reuses it and its unmount closes what it opened.
  const [live] = useState(() => new LiveConnection());
  useEffect(() => live.connect(), [live]);
  const store = useMemo(() => new AgentStore(), []);
  const [path, go] = usePath();
  const [connected, setConnected] = useState(false);
  const { t, lang, setLang } = useI18n();
  const session = useSession();
  const [theme, setTheme] = useTheme();
  const [loadError, setLoadError] = useState<Error | null>(null);

  // The list is read once (and again after every reconnect); the socket keeps it current in between.
  useEffect(() => {
    // The first read may be the one main.tsx started with the page; later ones (after a reconnect) are new.
    const load = (initial: boolean) =>
      (initial ? firstAgents() : fetchAgents())
        .then((r) => {
          setLoadError(null);
          store.load(r.items);
          return store.loadSparklines();
        })
        .catch((err: Error) => setLoadError(err));
    let first = true;
    const offStatus = live.onStatus((on) => {
      setConnected(on);
      if (on && !first) void load(false);
      first = false;
    });
    const offAgent = live.onAgent((a) => store.upsert(a));
    const offRemoved = live.onAgentRemoved((id) => store.remove(id));
    void load(true);
    return () => {
      offStatus();
      offAgent();
      offRemoved();
    };
  }, [live, store]);

  const match = /^\/agents\/([^/]+)$/.exec(path);
  const agentId = match ? decodeURIComponent(match[1] as string) : undefined;
  const selected = useQuery({
    queryKey: ['agent', agentId],
    enabled: agentId !== undefined,
    queryFn: () => (store.get(agentId as string) ? Promise.resolve(store.get(agentId as string) as Agent) : fetchAgent(agentId as string)),
    retry: false,
  });

  usePageTitle(
    path === '/settings'
      ? t('nav.settings')
      : path === '/alerts'
        ? t('nav.alerts')
        : path.startsWith('/tasks')
          ? t('nav.tasks')
          : path === '/updates'
            ? t('nav.updates')
            : path === '/query'
              ? t('nav.query')
              : path === '/logs'
                ? t('nav.logs')
                : path.startsWith('/monitors')
                  ? t('nav.monitors')
                  : path === '/traffic'
                    ? t('nav.traffic')
                    : path === '/status-pages'
                      ? t('nav.statusPages')
                      : agentId !== undefined
                        ? (selected.data?.hostname ?? (selected.isLoading ? t('agents.loading') : t('agents.noSuch')))
                        : t('nav.overview'),
  );

  const link = (to: string, label: string, testid?: string) => (
    <a
      href={to}
      className={`nav${(to === '/' ? path === '/' || !!match : path.startsWith(to)) ? ' on' : ''}`}
      aria-current={(to === '/' ? path === '/' : path.startsWith(to)) ? 'page' : undefined}
      data-testid={testid}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        go(to);
      }}
    >
      {label}
    </a>
  );

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
        <nav aria-label={t('nav.menu')}>
          {link('/', t('nav.overview'), 'nav-overview')}
          {link('/tasks', t('nav.tasks'), 'nav-tasks')}
          {link('/monitors', t('nav.monitors'), 'nav-monitors')}
          {link('/alerts', t('nav.alerts'), 'nav-alerts')}
          {link('/updates', t('nav.updates'), 'nav-updates')}
          {link('/query', t('nav.query'), 'nav-query')}
          {link('/logs', t('nav.logs'), 'nav-logs')}
          {link('/traffic', t('nav.traffic'), 'nav-traffic')}
          {link('/status-pages', t('nav.statusPages'), 'nav-status-pages')}
          {link('/settings', t('nav.settings'), 'nav-settings')}
        </nav>
        <span className="spacer" />
        <span className={`live ${connected ? 'on' : 'off'}`} data-testid="live-status" data-live={connected ? 'on' : 'off'}>
          {connected ? t('live.on') : t('live.off')}
        </span>
        <select aria-label={t('lang.label')} value={lang} onChange={(e) => setLang(e.target.value as Lang)} data-testid="lang-switch">
          <option value="en">English</option>
          <option value="zh">简体中文</option>
        </select>
        <button
          type="button"
          className="theme-switch"
          aria-label={`${t('theme.label')}: ${t(theme === 'dark' ? 'theme.dark' : 'theme.light')}`}
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          data-testid="theme-switch"
          data-theme={theme}
        >
          {theme === 'dark' ? '☾' : '☀'}
        </button>
        <AccountMenu />
      </header>
      <main>
        <SecurityWarnings />
        <StoreFullBanner />
        {path === '/settings' && session ? (
          <SettingsPage session={session} />
        ) : path === '/alerts' ? (
          <AlertsPage />
        ) : path.startsWith('/tasks') ? (
          <TasksPage path={path} go={go} live={live} />
        ) : path === '/updates' ? (
          <UpdatesPage />
        ) : path === '/query' ? (
          <QueryPage theme={theme} />
        ) : path === '/logs' ? (
          <LogsPage live={live} />
        ) : path === '/monitors' || path.startsWith('/monitors/') ? (
          <MonitorsPage path={path} go={go} live={live} theme={theme} />
        ) : path === '/traffic' ? (
          <FleetTrafficPage go={go} />
        ) : path === '/status-pages' ? (
          <StatusPagesPage />
        ) : agentId !== undefined ? (
          selected.data ? (
            <HostPage key={agentId} agent={selected.data} store={store} live={live} theme={theme} go={go} />
          ) : (
            <p>{selected.isLoading ? t('agents.loading') : t('agents.noSuch')}</p>
          )
        ) : (
          <Overview store={store} onOpen={(id) => go(`/agents/${encodeURIComponent(id)}`)} error={loadError} />
        )}
      </main>
    </div>
  );
}
