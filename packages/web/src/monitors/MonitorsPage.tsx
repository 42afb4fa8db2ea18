import type { Monitor } from '@falconet/protocol/api';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import { useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { Button } from '../ui/Button.tsx';
import { canOperate, type ListQuery, listMonitors, type MonitorSort, PAGE_SIZE, patchCachedLists, SORTS, STATUSES } from './client.ts';
import { MonitorDetailPage } from './MonitorDetail.tsx';
import { MonitorForm } from './MonitorForm.tsx';
import { MonitorRow } from './MonitorRow.tsx';
import './monitors.css';

/** Typing in the search box asks the server once it pauses this long. */
const SEARCH_DEBOUNCE_MS = 250;
/** The list's figures move with every probe report; the page reads them again this often. */
const REFRESH_MS = 15_000;

function queryFromAddress(): ListQuery {
  const p = new URLSearchParams(location.search);
  const status = p.get('status') ?? '';
  const sort = p.get('sort') ?? 'name';
  return {
    q: p.get('q') ?? '',
    status: (STATUSES as readonly string[]).includes(status) ? (status as ListQuery['status']) : '',
    sort: (SORTS as readonly string[]).includes(sort) ? (sort as MonitorSort) : 'name',
    order: p.get('order') === 'desc' ? 'desc' : 'asc',
    page: Math.max(0, Math.floor(Number(p.get('page') ?? 0)) || 0),
  };
}

/** The list's state in the address, so that a reload or a link shows the same page; defaults are left out. */
function addressOf(l: ListQuery): string {
  const p = new URLSearchParams();
  if (l.q) p.set('q', l.q);
  if (l.status) p.set('status', l.status);
  if (l.sort !== 'name') p.set('sort', l.sort);
  if (l.order !== 'asc') p.set('order', l.order);
  if (l.page) p.set('page', String(l.page));
  const s = p.toString();
  return s ? `/monitors?${s}` : '/monitors';
}

/** /monitors (the list) and /monitors/:id (one monitor). */
export function MonitorsPage({ path, go, live, theme }: { path: string; go(p: string): void; live: LiveConnection; theme: string }) {
  const m = /^\/monitors\/([^/]+)$/.exec(path);
  if (m) return <MonitorDetailPage key={m[1]} id={decodeURIComponent(m[1] as string)} go={go} live={live} theme={theme} />;
  return <MonitorListPage go={go} />;
}

function MonitorListPage({ go }: { go(p: string): void }) {
  const { t } = useI18n();
  const editable = canOperate(useSession());
  const client = useQueryClient();
  const [query, setQuery] = useState<ListQuery>(queryFromAddress);
  const [text, setText] = useState(query.q);
  const [editing, setEditing] = useState<Monitor | 'new'>();

  // The address is the list's state: a move to it (the Monitors link, Back) shows what it says.
  useEffect(() => {
    const onPop = () => {
      const next = queryFromAddress();
      setQuery(next);
      setText(next.q);
    };
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  useEffect(() => {
    const to = addressOf(query);
    if (to !== location.pathname + location.search) history.replaceState(null, '', to);
  }, [query]);

  // Any change but paging starts again at the first page; made on the latest state, so the search's
  // late change cannot undo a chip clicked meanwhile.
  const change = useCallback((next: Partial<ListQuery>) => setQuery((q) => ({ ...q, page: 0, ...next })), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: only the typed text restarts the wait
  useEffect(() => {
    if (text.trim() === query.q) return;
    const timer = setTimeout(() => change({ q: text.trim() }), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, change]);

  const list = useQuery({
    queryKey: ['monitors', query],
    queryFn: () => listMonitors(query),
    placeholderData: keepPreviousData,
    refetchInterval: REFRESH_MS,
  });
  const data = list.data;
  const total = data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const everyStatus = data ? Object.values(data.counts).reduce((a, b) => a + (b ?? 0), 0) : 0;

  const done = (saved?: Monitor) => {
    setEditing(undefined);
    if (saved) patchCachedLists(client, saved);
    void client.invalidateQueries({ queryKey: ['monitors'] });
  };

  return (
    <section className="monitors" data-testid="monitors-page">
      <div className="monitors-head">
        <h1>{t('monitors.title')}</h1>
        {editable && editing === undefined ? (
          <Button variant="primary" onClick={() => setEditing('new')} data-testid="monitors-new">
            {t('monitors.new')}
          </Button>
        ) : null}
      </div>
      {editing !== undefined ? (
        <MonitorForm key={editing === 'new' ? 'new' : editing.id} monitor={editing === 'new' ? undefined : editing} onDone={done} />
      ) : null}
      <div className="toolbar monitors-toolbar">
        <label>
          <span className="sr-only">{t('monitors.search')}</span>
          <input
            type="search"
            value={text}
            placeholder={t('monitors.search')}
            aria-label={t('monitors.search')}
            onChange={(e) => setText(e.target.value)}
            data-testid="monitors-search"
          />
        </label>
        <fieldset className="monitor-chips">
          <legend className="sr-only">{t('monitors.filterStatus')}</legend>
          <button type="button" aria-pressed={query.status === ''} onClick={() => change({ status: '' })} data-testid="monitors-chip-all">
            {t('monitors.all')} <span className="n">{everyStatus}</span>
          </button>
          {STATUSES.map((s) => (
            <button
              key={s}
              type="button"
              aria-pressed={query.status === s}
              className={`chip-${s}`}
              onClick={() => change({ status: query.status === s ? '' : s })}
              data-testid={`monitors-chip-${s}`}
              data-count={data?.counts[s] ?? 0}
            >
              <span className={`mdot ${s}`} aria-hidden="true" />
              {t(`monitors.status.${s}`)} <span className="n">{data?.counts[s] ?? 0}</span>
            </button>
          ))}
        </fieldset>
        <label>
          {t('monitors.sort')}
          <select value={query.sort} onChange={(e) => change({ sort: e.target.value as MonitorSort })} data-testid="monitors-sort">
            {SORTS.map((s) => (
              <option key={s} value={s}>
                {t(`monitors.sort.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={query.order === 'desc'}
            onChange={(e) => change({ order: e.target.checked ? 'desc' : 'asc' })}
            data-testid="monitors-desc"
          />
          {t('monitors.descending')}
        </label>
        <span className="count" data-testid="monitors-total" data-total={total}>
          {t('monitors.count', total)}
        </span>
      </div>
      {list.error ? (
        <p role="alert" className="form-error">
          {t('monitors.loadError', list.error.message)}
        </p>
      ) : null}
      <div className="monitors-scroll">
        {/* On a narrow screen the table scrolls sideways in its own box: focusable, so a keyboard can scroll it too. */}
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scroll container must be reachable without a pointer */}
        <table className="monitors-table" data-testid="monitors-table" data-loading={list.isFetching ? 'true' : 'false'} tabIndex={0}>
          <thead>
            <tr>
              <th scope="col">{t('monitors.col.name')}</th>
              <th scope="col">{t('monitors.col.target')}</th>
              <th scope="col">{t('monitors.col.locations')}</th>
              <th scope="col">{t('monitors.col.uptime24h')}</th>
              <th scope="col">{t('monitors.col.uptime30d')}</th>
              <th scope="col">{t('monitors.col.latency')}</th>
              <th scope="col">{t('monitors.col.cert')}</th>
              {editable ? (
                <th scope="col">
                  <span className="sr-only">{t('monitors.col.actions')}</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {(data?.items ?? []).map((mon) => (
              <MonitorRow
                key={mon.id}
                monitor={mon}
                go={go}
                onEdit={editable ? () => setEditing(mon) : undefined}
                onDeleted={() => done()}
              />
            ))}
            {data && data.items.length === 0 ? (
              <tr>
                <td colSpan={editable ? 8 : 7} className="empty" data-testid="monitors-empty">
                  {everyStatus === 0 && !query.q ? t('monitors.none') : t('monitors.noMatch')}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {data === undefined && list.isLoading ? <p className="sub">{t('monitors.loading')}</p> : null}
      <nav className="monitors-pager" aria-label={t('monitors.pages')}>
        <Button small disabled={query.page === 0} onClick={() => change({ page: query.page - 1 })} data-testid="monitors-prev">
          ← {t('monitors.prev')}
        </Button>
        <span data-testid="monitors-pageno" data-page={query.page + 1} data-pages={pages}>
          {t('monitors.pageOf', query.page + 1, pages)}
        </span>
        <Button small disabled={query.page + 1 >= pages} onClick={() => change({ page: query.page + 1 })} data-testid="monitors-next">
          {t('monitors.next')} →
        </Button>
      </nav>
    </section>
  );
}
