import type { Alert, AlertChannel, AlertRule } from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { agoText, dateTime, type Lang, type MessageKey, type Translate, useI18n, word } from '../i18n.tsx';
import { RecordsTable } from '../RecordsTable.tsx';
import {
  CHANNEL_TEMPLATES,
  CHANNEL_TYPES,
  type ChannelType,
  createSilence,
  deleteChannel,
  deleteRule,
  deleteSilence,
  describeRule,
  listAlerts,
  listChannels,
  listDeliveries,
  listHistory,
  listRules,
  listSilences,
  saveChannel,
  testChannel,
} from './client.ts';
import { RuleEditor } from './RuleEditor.tsx';
import './alerts.css';

const TABS = ['active', 'rules', 'channels', 'silences', 'history', 'deliveries'] as const;
type Tab = (typeof TABS)[number];

const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

/** Alerting: what fires now, the rules, the channels (with their delivery health), silences and history. */
export function AlertsPage() {
  const { t } = useI18n();
  const initial = (location.hash.slice(1) as Tab) || 'active';
  const [tab, setTab] = useState<Tab>(TABS.includes(initial) ? initial : 'active');
  const go = (to: Tab) => {
    history.replaceState(null, '', `#${to}`);
    setTab(to);
  };
  return (
    <section className="alerts" data-testid="alerts-page">
      <h1>{t('alerts.title')}</h1>
      <nav className="tabs" aria-label={t('alerts.tabs')}>
        {TABS.map((x) => (
          <button key={x} type="button" className={x === tab ? 'on' : ''} onClick={() => go(x)} data-testid={`alerts-tab-${x}`}>
            {t(TAB_KEYS[x])}
          </button>
        ))}
      </nav>
      {tab === 'active' ? <ActiveAlerts /> : null}
      {tab === 'rules' ? <Rules /> : null}
      {tab === 'channels' ? <Channels /> : null}
      {tab === 'silences' ? <Silences /> : null}
      {tab === 'history' ? <History /> : null}
      {tab === 'deliveries' ? <Deliveries /> : null}
    </section>
  );
}

function Failure({ error }: { error: unknown }) {
  return error ? (
    <p role="alert" className="error">
      {(error as Error).message}
    </p>
  ) : null;
}

const TAB_KEYS: Record<Tab, MessageKey> = {
  active: 'alerts.tab.active',
  rules: 'alerts.tab.rules',
  channels: 'alerts.tab.channels',
  silences: 'alerts.tab.silences',
  history: 'alerts.tab.history',
  deliveries: 'alerts.tab.deliveries',
};

const stateText = (t: Translate, s: string) => word(t, 'alerts.state', s);
const when = (lang: Lang, ms: number | null | undefined) => dateTime(lang, ms);

function ActiveAlerts() {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const q = useQuery({ queryKey: ['alerts', 'active'], queryFn: listAlerts, refetchInterval: 5000 });
  const [error, setError] = useState<unknown>();
  const silence = async (a: Alert) => {
    try {
      await createSilence({
        matchers: { alertname: a.rule, host: a.host },
        duration: '1h',
        comment: `silenced from the dashboard: ${a.rule} on ${a.host}`,
      });
      await client.invalidateQueries({ queryKey: ['alerts'] });
    } catch (err) {
      setError(err);
    }
  };
  const items = q.data?.items ?? [];
  return (
    <>
      <Failure error={q.error ?? error} />
      <p className="sub">
        {t('alerts.summary', items.filter((a) => a.state === 'firing').length, items.filter((a) => a.state === 'pending').length)}
      </p>
      <RecordsTable
        className="alerts-table"
        columns={[
          'alerts.col.state',
          'alerts.col.rule',
          'alerts.col.host',
          'alerts.col.series',
          'alerts.col.value',
          'alerts.col.since',
          '',
        ]}
        items={items}
        row={(a) => (
          <tr key={a.fingerprint} className={`sev-${a.severity}`}>
            <td>
              <span className={`badge ${a.state}`}>{stateText(t, a.state)}</span>
              {a.silencedBy.length ? <span className="badge silenced">{t('alerts.state.silenced')}</span> : null}
            </td>
            <td>{a.rule}</td>
            <td>{a.host}</td>
            <td className="mono">{a.series}</td>
            <td>{num(a.value)}</td>
            <td title={when(lang, a.activeSinceMs)}>{agoText(t, a.firedAtMs || a.activeSinceMs)}</td>
            <td>
              {a.silencedBy.length === 0 ? (
                <button type="button" onClick={() => void silence(a)}>
                  {t('alerts.silence1h')}
                </button>
              ) : null}
            </td>
          </tr>
        )}
        after={
          items.length === 0 && !q.isLoading ? (
            <tr>
              <td colSpan={7} className="sub">
                {t('alerts.nothingFiring')}
              </td>
            </tr>
          ) : null
        }
      />
    </>
  );
}

function Rules() {
  const { t } = useI18n();
  const client = useQueryClient();
  const rules = useQuery({ queryKey: ['alerts', 'rules'], queryFn: listRules, refetchInterval: 10_000 });
  const channels = useQuery({ queryKey: ['alerts', 'channels'], queryFn: listChannels });
  const [editing, setEditing] = useState<AlertRule | 'new'>();
  const [error, setError] = useState<unknown>();
  const done = () => {
    setEditing(undefined);
    void client.invalidateQueries({ queryKey: ['alerts'] });
  };
  const remove = async (r: AlertRule) => {
    if (!confirm(t('alerts.confirmDeleteRule', r.name))) return;
    try {
      await deleteRule(r.id);
      done();
    } catch (err) {
      setError(err);
    }
  };
  const names = (channels.data?.items ?? []).map((c) => c.name);
  return (
    <>
      <Failure error={rules.error ?? error} />
      {editing ? (
        <RuleEditor rule={editing === 'new' ? undefined : editing} channels={names} onDone={done} />
      ) : (
        <button type="button" onClick={() => setEditing('new')} data-testid="new-rule">
          {t('alerts.newRule')}
        </button>
      )}
      <RecordsTable
        className="alerts-table"
        columns={[
          'alerts.col.name',
          'alerts.col.condition',
          'alerts.col.for',
          'alerts.col.severity',
          'alerts.col.channels',
          'alerts.col.now',
          '',
        ]}
        items={rules.data?.items ?? []}
        row={(r) => (
          <tr key={r.id} className={r.enabled === false ? 'disabled' : ''}>
            <td>
              {r.name}
              {r.source === 'file' ? <span className="badge file">{t('alerts.badge.file')}</span> : null}
            </td>
            <td className="mono">{describeRule(r)}</td>
            <td>{r.for ?? '0'}</td>
            <td>{r.severity ? word(t, 'alerts.severity', r.severity) : ''}</td>
            <td>{(r.channels ?? []).join(', ') || '—'}</td>
            <td>
              {r.firing ? <span className="badge firing">{t('alerts.badge.firing', r.firing)}</span> : null}
              {r.pending ? <span className="badge pending">{t('alerts.badge.pending', r.pending)}</span> : null}
            </td>
            <td>
              {r.source === 'api' ? (
                <>
                  <button type="button" onClick={() => setEditing(r)}>
                    {t('alerts.edit')}
                  </button>
                  <button type="button" onClick={() => void remove(r)}>
                    {t('alerts.delete')}
                  </button>
                </>
              ) : (
                <span className="sub">{t('alerts.editFile')}</span>
              )}
            </td>
          </tr>
        )}
      />
    </>
  );
}

function Channels() {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const q = useQuery({ queryKey: ['alerts', 'channels'], queryFn: listChannels, refetchInterval: 10_000 });
  const [editing, setEditing] = useState<AlertChannel | 'new'>();
  const [notice, setNotice] = useState<string>();
  const [error, setError] = useState<unknown>();
  const act = async (what: () => Promise<unknown>) => {
    setError(undefined);
    setNotice(undefined);
    try {
      await what();
      await client.invalidateQueries({ queryKey: ['alerts'] });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <Failure error={q.error ?? error} />
      {notice ? <p className="notice">{notice}</p> : null}
      {editing ? (
        <ChannelEditor channel={editing === 'new' ? undefined : editing} onDone={() => setEditing(undefined)} />
      ) : (
        <button type="button" onClick={() => setEditing('new')}>
          {t('alerts.newChannel')}
        </button>
      )}
      <RecordsTable
        className="alerts-table"
        columns={['alerts.col.name', 'alerts.col.type', 'alerts.col.delivered', 'alerts.col.failed', 'alerts.col.lastError', '']}
        items={q.data?.items ?? []}
        row={(c) => (
          <tr key={c.id} className={c.health.consecutiveFailures > 0 ? 'failing' : ''}>
            <td>
              {c.name}
              {c.source === 'file' ? <span className="badge file">{t('alerts.badge.file')}</span> : null}
            </td>
            <td>{c.type}</td>
            <td>{c.health.delivered}</td>
            <td>{c.health.failed}</td>
            <td title={when(lang, c.health.lastFailureMs)}>{c.health.lastError || '—'}</td>
            <td>
              <button
                type="button"
                onClick={() =>
                  void act(async () => {
                    const r = await testChannel(c.id);
                    setNotice(r.status === 'delivered' ? t('alerts.testDelivered', c.name) : t('alerts.testFailed', c.name, r.error));
                  })
                }
              >
                {t('alerts.test')}
              </button>
              {c.source === 'api' ? (
                <>
                  <button type="button" onClick={() => setEditing(c)}>
                    {t('alerts.edit')}
                  </button>
                  <button
                    type="button"
                    onClick={() => confirm(t('alerts.confirmDeleteChannel', c.name)) && void act(() => deleteChannel(c.id))}
                  >
                    {t('alerts.delete')}
                  </button>
                </>
              ) : null}
            </td>
          </tr>
        )}
      />
    </>
  );
}

function ChannelEditor({ channel, onDone }: { channel?: AlertChannel; onDone: () => void }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [type, setType] = useState<ChannelType>((channel?.type as ChannelType | undefined) ?? 'webhook');
  const [name, setName] = useState(channel?.name ?? '');
  const settingsOf = (c: AlertChannel) =>
    Object.fromEntries(
      Object.entries(c).filter(([k]) => !['id', 'source', 'createdBy', 'createdMs', 'updatedMs', 'health', 'name', 'type'].includes(k)),
    );
  const [json, setJson] = useState(JSON.stringify(channel ? settingsOf(channel) : CHANNEL_TEMPLATES.webhook, null, 2));
  const [error, setError] = useState<string>();
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    try {
      const settings = JSON.parse(json) as Record<string, unknown>;
      await saveChannel({ ...settings, name, type }, channel?.id);
      await client.invalidateQueries({ queryKey: ['alerts'] });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <form className="alerts-form" onSubmit={submit}>
      <h3>{channel ? t('alerts.editRule', channel.name) : t('alerts.newChannel')}</h3>
      <div className="grid">
        <label>
          {t('alerts.field.name')} <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          {t('alerts.field.type')}
          <select
            value={type}
            disabled={Boolean(channel)}
            onChange={(e) => {
              const next = e.target.value as ChannelType;
              setType(next);
              setJson(JSON.stringify(CHANNEL_TEMPLATES[next], null, 2));
            }}
          >
            {CHANNEL_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      <label className="wide">
        {t('alerts.channelSettings')}
        <textarea value={json} onChange={(e) => setJson(e.target.value)} rows={8} spellCheck={false} />
      </label>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      <div className="buttons">
        <button type="submit">{t('alerts.save')}</button>
        <button type="button" onClick={onDone}>
          {t('alerts.cancel')}
        </button>
      </div>
    </form>
  );
}

function Silences() {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const q = useQuery({ queryKey: ['alerts', 'silences'], queryFn: listSilences, refetchInterval: 10_000 });
  const [matchers, setMatchers] = useState('{host="", alertname=""}');
  const [duration, setDuration] = useState('2h');
  const [schedule, setSchedule] = useState('');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<unknown>();
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    try {
      await createSilence({ matchers, duration, comment, ...(schedule.trim() ? { schedule: schedule.trim() } : {}) });
      await client.invalidateQueries({ queryKey: ['alerts'] });
      setComment('');
    } catch (err) {
      setError(err);
    }
  }
  return (
    <>
      <Failure error={q.error ?? error} />
      <form className="alerts-form" onSubmit={submit}>
        <div className="grid">
          <label>
            {t('alerts.silence.matchers')} <input value={matchers} onChange={(e) => setMatchers(e.target.value)} className="mono" />
          </label>
          <label>
            {t('alerts.silence.for')} <input value={duration} onChange={(e) => setDuration(e.target.value)} />
          </label>
          <label>
            {t('alerts.silence.every')} <input value={schedule} onChange={(e) => setSchedule(e.target.value)} placeholder="0 2 * * 0" />
          </label>
          <label>
            {t('alerts.silence.comment')} <input value={comment} onChange={(e) => setComment(e.target.value)} />
          </label>
        </div>
        <div className="buttons">
          <button type="submit">{t('alerts.silence.add')}</button>
        </div>
      </form>
      <RecordsTable
        className="alerts-table"
        columns={['alerts.col.matchers', 'alerts.col.when', 'alerts.col.comment', 'alerts.col.by', '']}
        items={q.data?.items ?? []}
        row={(s) => (
          <tr key={s.id}>
            <td className="mono">{typeof s.matchers === 'string' ? s.matchers : JSON.stringify(s.matchers)}</td>
            <td>
              <span className={`badge ${s.active ? 'firing' : 'pending'}`}>
                {t(s.active ? 'alerts.state.active' : 'alerts.state.scheduled')}
              </span>
              {s.schedule ? ` ${t('alerts.silence.repeat', s.schedule, s.duration ?? '')} ` : ' '}
              {when(lang, s.startsMs)} – {when(lang, s.endsMs)}
            </td>
            <td>{s.comment}</td>
            <td>{s.createdBy}</td>
            <td>
              {s.source === 'api' ? (
                <button
                  type="button"
                  onClick={() =>
                    void deleteSilence(s.id).then(
                      () => client.invalidateQueries({ queryKey: ['alerts'] }),
                      (err: unknown) => setError(err),
                    )
                  }
                >
                  {t('alerts.silence.end')}
                </button>
              ) : (
                <span className="sub">{t('alerts.silence.fromFile')}</span>
              )}
            </td>
          </tr>
        )}
      />
    </>
  );
}

function History() {
  const { t, lang } = useI18n();
  const q = useQuery({ queryKey: ['alerts', 'history'], queryFn: listHistory, refetchInterval: 10_000 });
  return (
    <>
      <Failure error={q.error} />
      <RecordsTable
        className="alerts-table"
        columns={['alerts.col.time', 'alerts.col.rule', 'alerts.col.host', 'alerts.col.change', 'alerts.col.value']}
        items={q.data?.items ?? []}
        row={(h) => (
          <tr key={h.id}>
            <td>{when(lang, h.tsMs)}</td>
            <td>{h.ruleName}</td>
            <td>{h.host}</td>
            <td>
              {stateText(t, h.from)} → <span className={`badge ${h.to}`}>{stateText(t, h.to)}</span>
              {h.reason && h.reason !== 'cleared' ? <span className="sub"> ({h.reason.replace('_', ' ')})</span> : null}
            </td>
            <td>{num(h.value)}</td>
          </tr>
        )}
      />
    </>
  );
}

function Deliveries() {
  const { t, lang } = useI18n();
  const q = useQuery({ queryKey: ['alerts', 'deliveries'], queryFn: listDeliveries, refetchInterval: 10_000 });
  return (
    <>
      <Failure error={q.error} />
      <RecordsTable
        className="alerts-table"
        columns={[
          'alerts.col.time',
          'alerts.col.channel',
          'alerts.col.message',
          'alerts.col.outcome',
          'alerts.col.attempts',
          'alerts.col.error',
        ]}
        items={q.data?.items ?? []}
        row={(d) => (
          <tr key={d.id} className={d.status === 'failed' ? 'failing' : ''}>
            <td>{when(lang, d.createdMs)}</td>
            <td>{d.channel}</td>
            <td>
              {d.title} <span className="sub">({d.kind})</span>
            </td>
            <td>
              <span className={`badge ${d.status}`}>{stateText(t, d.status)}</span>
            </td>
            <td>{d.attempts}</td>
            <td>{d.error || '—'}</td>
          </tr>
        )}
      />
    </>
  );
}
