import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { ago } from '../format.ts';
import {
  type Alert,
  CHANNEL_TEMPLATES,
  CHANNEL_TYPES,
  type Channel,
  type ChannelSpec,
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
  type Rule,
  saveChannel,
  testChannel,
} from './client.ts';
import { RuleEditor } from './RuleEditor.tsx';
import './alerts.css';

const TABS = ['active', 'rules', 'channels', 'silences', 'history', 'deliveries'] as const;
type Tab = (typeof TABS)[number];

const when = (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : '—');
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

/** Alerting: what fires now, the rules, the channels (with their delivery health), silences and history. */
export function AlertsPage() {
  const initial = (location.hash.slice(1) as Tab) || 'active';
  const [tab, setTab] = useState<Tab>(TABS.includes(initial) ? initial : 'active');
  const go = (t: Tab) => {
    history.replaceState(null, '', `#${t}`);
    setTab(t);
  };
  return (
    <section className="alerts" data-testid="alerts-page">
      <h1>Alerts</h1>
      <nav className="tabs">
        {TABS.map((t) => (
          <button key={t} type="button" className={t === tab ? 'on' : ''} onClick={() => go(t)} data-testid={`alerts-tab-${t}`}>
            {t}
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

function ActiveAlerts() {
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
        {items.filter((a) => a.state === 'firing').length} firing, {items.filter((a) => a.state === 'pending').length} pending
      </p>
      <table className="alerts-table">
        <thead>
          <tr>
            <th>State</th>
            <th>Rule</th>
            <th>Host</th>
            <th>Series</th>
            <th>Value</th>
            <th>Since</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((a) => (
            <tr key={a.fingerprint} className={`sev-${a.severity}`}>
              <td>
                <span className={`badge ${a.state}`}>{a.state}</span>
                {a.silencedBy.length ? <span className="badge silenced">silenced</span> : null}
              </td>
              <td>{a.rule}</td>
              <td>{a.host}</td>
              <td className="mono">{a.series}</td>
              <td>{num(a.value)}</td>
              <td title={when(a.activeSinceMs)}>{ago(a.firedAtMs || a.activeSinceMs)}</td>
              <td>
                {a.silencedBy.length === 0 ? (
                  <button type="button" onClick={() => void silence(a)}>
                    Silence 1h
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
          {items.length === 0 && !q.isLoading ? (
            <tr>
              <td colSpan={7} className="sub">
                Nothing firing.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </>
  );
}

function Rules() {
  const client = useQueryClient();
  const rules = useQuery({ queryKey: ['alerts', 'rules'], queryFn: listRules, refetchInterval: 10_000 });
  const channels = useQuery({ queryKey: ['alerts', 'channels'], queryFn: listChannels });
  const [editing, setEditing] = useState<Rule | 'new'>();
  const [error, setError] = useState<unknown>();
  const done = () => {
    setEditing(undefined);
    void client.invalidateQueries({ queryKey: ['alerts'] });
  };
  const remove = async (r: Rule) => {
    if (!confirm(`Delete rule "${r.name}"? Its firing alerts resolve.`)) return;
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
          New rule
        </button>
      )}
      <table className="alerts-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Condition</th>
            <th>For</th>
            <th>Severity</th>
            <th>Channels</th>
            <th>Now</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(rules.data?.items ?? []).map((r) => (
            <tr key={r.id} className={r.enabled === false ? 'disabled' : ''}>
              <td>
                {r.name}
                {r.source === 'file' ? <span className="badge file">file</span> : null}
              </td>
              <td className="mono">{describeRule(r)}</td>
              <td>{r.for ?? '0'}</td>
              <td>{r.severity}</td>
              <td>{(r.channels ?? []).join(', ') || '—'}</td>
              <td>
                {r.firing ? <span className="badge firing">{r.firing} firing</span> : null}
                {r.pending ? <span className="badge pending">{r.pending} pending</span> : null}
              </td>
              <td>
                {r.source === 'api' ? (
                  <>
                    <button type="button" onClick={() => setEditing(r)}>
                      Edit
                    </button>
                    <button type="button" onClick={() => void remove(r)}>
                      Delete
                    </button>
                  </>
                ) : (
                  <span className="sub">edit the rules file</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Channels() {
  const client = useQueryClient();
  const q = useQuery({ queryKey: ['alerts', 'channels'], queryFn: listChannels, refetchInterval: 10_000 });
  const [editing, setEditing] = useState<Channel | 'new'>();
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
          New channel
        </button>
      )}
      <table className="alerts-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Delivered</th>
            <th>Failed</th>
            <th>Last error</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(q.data?.items ?? []).map((c) => (
            <tr key={c.id} className={c.health.consecutiveFailures > 0 ? 'failing' : ''}>
              <td>
                {c.name}
                {c.source === 'file' ? <span className="badge file">file</span> : null}
              </td>
              <td>{c.type}</td>
              <td>{c.health.delivered}</td>
              <td>{c.health.failed}</td>
              <td title={when(c.health.lastFailureMs)}>{c.health.lastError || '—'}</td>
              <td>
                <button
                  type="button"
                  onClick={() =>
                    void act(async () => {
                      const r = await testChannel(c.id);
                      setNotice(r.status === 'delivered' ? `Test message delivered to ${c.name}.` : `Test to ${c.name} failed: ${r.error}`);
                    })
                  }
                >
                  Test
                </button>
                {c.source === 'api' ? (
                  <>
                    <button type="button" onClick={() => setEditing(c)}>
                      Edit
                    </button>
                    <button type="button" onClick={() => confirm(`Delete channel "${c.name}"?`) && void act(() => deleteChannel(c.id))}>
                      Delete
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ChannelEditor({ channel, onDone }: { channel?: Channel; onDone: () => void }) {
  const client = useQueryClient();
  const [type, setType] = useState<ChannelSpec['type']>(channel?.type ?? 'webhook');
  const [name, setName] = useState(channel?.name ?? '');
  const settingsOf = (c: Channel) =>
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
      <h3>{channel ? `Edit ${channel.name}` : 'New channel'}</h3>
      <div className="grid">
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Type
          <select
            value={type}
            disabled={Boolean(channel)}
            onChange={(e) => {
              const t = e.target.value as ChannelSpec['type'];
              setType(t);
              setJson(JSON.stringify(CHANNEL_TEMPLATES[t], null, 2));
            }}
          >
            {CHANNEL_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      <label className="wide">
        Settings (JSON; secrets shown as ******** are kept when left so; title and text take templates)
        <textarea value={json} onChange={(e) => setJson(e.target.value)} rows={8} spellCheck={false} />
      </label>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      <div className="buttons">
        <button type="submit">Save</button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Silences() {
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
            Matchers <input value={matchers} onChange={(e) => setMatchers(e.target.value)} className="mono" />
          </label>
          <label>
            For <input value={duration} onChange={(e) => setDuration(e.target.value)} />
          </label>
          <label>
            Every (cron; empty = once, from now){' '}
            <input value={schedule} onChange={(e) => setSchedule(e.target.value)} placeholder="0 2 * * 0" />
          </label>
          <label>
            Comment <input value={comment} onChange={(e) => setComment(e.target.value)} />
          </label>
        </div>
        <div className="buttons">
          <button type="submit">Add silence</button>
        </div>
      </form>
      <table className="alerts-table">
        <thead>
          <tr>
            <th>Matchers</th>
            <th>When</th>
            <th>Comment</th>
            <th>By</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(q.data?.items ?? []).map((s) => (
            <tr key={s.id}>
              <td className="mono">{typeof s.matchers === 'string' ? s.matchers : JSON.stringify(s.matchers)}</td>
              <td>
                <span className={`badge ${s.active ? 'firing' : 'pending'}`}>{s.active ? 'active' : 'scheduled'}</span>
                {s.schedule ? ` ${s.schedule} for ${s.duration}; ` : ' '}
                {when(s.startsMs)} – {when(s.endsMs)}
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
                    End
                  </button>
                ) : (
                  <span className="sub">rules file</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function History() {
  const q = useQuery({ queryKey: ['alerts', 'history'], queryFn: listHistory, refetchInterval: 10_000 });
  return (
    <>
      <Failure error={q.error} />
      <table className="alerts-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Rule</th>
            <th>Host</th>
            <th>Change</th>
            <th>Value</th>
          </tr>
        </thead>
        <tbody>
          {(q.data?.items ?? []).map((h) => (
            <tr key={h.id}>
              <td>{when(h.tsMs)}</td>
              <td>{h.ruleName}</td>
              <td>{h.host}</td>
              <td>
                {h.from} → <span className={`badge ${h.to}`}>{h.to}</span>
                {h.reason && h.reason !== 'cleared' ? <span className="sub"> ({h.reason.replace('_', ' ')})</span> : null}
              </td>
              <td>{num(h.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Deliveries() {
  const q = useQuery({ queryKey: ['alerts', 'deliveries'], queryFn: listDeliveries, refetchInterval: 10_000 });
  return (
    <>
      <Failure error={q.error} />
      <table className="alerts-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Channel</th>
            <th>Message</th>
            <th>Outcome</th>
            <th>Attempts</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {(q.data?.items ?? []).map((d) => (
            <tr key={d.id} className={d.status === 'failed' ? 'failing' : ''}>
              <td>{when(d.createdMs)}</td>
              <td>{d.channel}</td>
              <td>
                {d.title} <span className="sub">({d.kind})</span>
              </td>
              <td>
                <span className={`badge ${d.status}`}>{d.status}</span>
              </td>
              <td>{d.attempts}</td>
              <td>{d.error || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
