import type { Alert, AlertChannel, AlertRule } from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useState } from 'react';
import { agoText, dateTime, type Lang, type MessageKey, type Translate, useI18n, word } from '../i18n.tsx';
import { RecordsTable } from '../RecordsTable.tsx';
import { Button } from '../ui/Button.tsx';
import { Field } from '../ui/Field.tsx';
import { ChannelEditor, channelTypeName } from './ChannelEditor.tsx';
import {
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
  testChannel,
} from './client.ts';
import { RuleEditor } from './RuleEditor.tsx';
import { formatValue, unitOfRule } from './units.ts';
import './alerts.css';

const TABS = ['active', 'rules', 'channels', 'silences', 'history', 'deliveries'] as const;
type Tab = (typeof TABS)[number];

/** Each rule's value as written with its unit, by rule id: alerts and history carry the id, not the metric. */
function useValueText(): (ruleId: string, v: number) => string {
  const rules = useQuery({ queryKey: ['alerts', 'rules'], queryFn: listRules, refetchInterval: 10_000 });
  return useCallback(
    (ruleId: string, v: number) => {
      const r = rules.data?.items.find((x) => x.id === ruleId);
      return formatValue(v, r ? unitOfRule(r) : 'none');
    },
    [rules.data],
  );
}

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
  const valueText = useValueText();
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
            <td className="num">{valueText(a.ruleId, a.value)}</td>
            <td title={when(lang, a.activeSinceMs)}>{agoText(t, a.firedAtMs || a.activeSinceMs)}</td>
            <td>
              {a.silencedBy.length === 0 ? (
                <Button small onClick={() => void silence(a)}>
                  {t('alerts.silence1h')}
                </Button>
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
        <Button variant="primary" onClick={() => setEditing('new')} data-testid="new-rule">
          {t('alerts.newRule')}
        </Button>
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
                <span className="btn-row">
                  <Button small onClick={() => setEditing(r)}>
                    {t('alerts.edit')}
                  </Button>
                  <Button small variant="danger" onClick={() => void remove(r)}>
                    {t('alerts.delete')}
                  </Button>
                </span>
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
        <Button variant="primary" onClick={() => setEditing('new')} data-testid="new-channel">
          {t('alerts.newChannel')}
        </Button>
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
            <td>{channelTypeName(t, c.type)}</td>
            <td>{c.health.delivered}</td>
            <td>{c.health.failed}</td>
            <td title={when(lang, c.health.lastFailureMs)}>{c.health.lastError || '—'}</td>
            <td className="btn-row">
              <Button
                small
                onClick={() =>
                  void act(async () => {
                    const r = await testChannel(c.id);
                    setNotice(r.status === 'delivered' ? t('alerts.testDelivered', c.name) : t('alerts.testFailed', c.name, r.error));
                  })
                }
              >
                {t('alerts.test')}
              </Button>
              {c.source === 'api' ? (
                <>
                  <Button small onClick={() => setEditing(c)}>
                    {t('alerts.edit')}
                  </Button>
                  <Button
                    small
                    variant="danger"
                    onClick={() => confirm(t('alerts.confirmDeleteChannel', c.name)) && void act(() => deleteChannel(c.id))}
                  >
                    {t('alerts.delete')}
                  </Button>
                </>
              ) : null}
            </td>
          </tr>
        )}
      />
    </>
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
      <form className="form-card alerts-form" onSubmit={submit}>
        <div className="form-grid">
          <Field label={t('alerts.silence.matchers')}>
            <input value={matchers} onChange={(e) => setMatchers(e.target.value)} className="mono" />
          </Field>
          <Field label={t('alerts.silence.for')} help={t('forms.duration')}>
            <input value={duration} onChange={(e) => setDuration(e.target.value)} />
          </Field>
          <Field label={t('alerts.silence.every')}>
            <input value={schedule} onChange={(e) => setSchedule(e.target.value)} placeholder="0 2 * * 0" />
          </Field>
          <Field label={t('alerts.silence.comment')}>
            <input value={comment} onChange={(e) => setComment(e.target.value)} />
          </Field>
        </div>
        <div className="btn-row">
          <Button type="submit" variant="primary">
            {t('alerts.silence.add')}
          </Button>
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
                <Button
                  small
                  variant="danger"
                  onClick={() =>
                    void deleteSilence(s.id).then(
                      () => client.invalidateQueries({ queryKey: ['alerts'] }),
                      (err: unknown) => setError(err),
                    )
                  }
                >
                  {t('alerts.silence.end')}
                </Button>
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
  const valueText = useValueText();
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
            <td className="num">{valueText(h.ruleId, h.value)}</td>
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
