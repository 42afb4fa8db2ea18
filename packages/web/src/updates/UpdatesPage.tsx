import type { Release, Rollout, RolloutAgent } from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import { dateTime, type Translate, useI18n, word } from '../i18n.tsx';
import { RecordsTable } from '../RecordsTable.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { createRollout, fetchReleases, fetchRollout, fetchRollouts, rolloutAction } from './api.ts';
import './updates.css';

/** How often the page asks again: agents move through their states in seconds, not live. */
const POLL_MS = 3000;

const stateText = (t: Translate, s: string) => word(t, 'updates.state', s);
const statusText = (t: Translate, s: string) => word(t, 'updates.status', s);

function size(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}

/** The Updates page: stored releases, and rollouts with each chosen agent's state; admins start and steer them. */
export function UpdatesPage() {
  const { t } = useI18n();
  const session = useSession();
  // Before the first user exists (setup) the server lets this machine do everything.
  const admin = session?.user?.role === 'admin' || session?.mode === 'setup';
  const releases = useQuery({ queryKey: ['releases'], queryFn: fetchReleases, refetchInterval: 30_000 });
  const rollouts = useQuery({ queryKey: ['rollouts'], queryFn: fetchRollouts, refetchInterval: POLL_MS });
  const error = releases.error ?? rollouts.error;
  return (
    <section className="updates">
      <h1>{t('updates.title')}</h1>
      <p className="muted">{t('updates.intro')}</p>
      {error ? <p role="alert">{t('updates.loadError', (error as Error).message)}</p> : null}
      {admin ? <NewRollout releases={releases.data?.items ?? []} /> : <p className="muted">{t('updates.adminOnly')}</p>}
      <h2>{t('updates.rollouts')}</h2>
      {rollouts.data && rollouts.data.items.length === 0 ? <p className="muted">{t('updates.noRollouts')}</p> : null}
      <div className="rollouts">
        {(rollouts.data?.items ?? []).map((r) => (
          <RolloutCard key={r.id} rollout={r} admin={admin} />
        ))}
      </div>
      <h2>{t('updates.releases')}</h2>
      <ReleasesTable releases={releases.data?.items ?? []} />
      {releases.data ? (
        <details className="release-key">
          <summary>{t('updates.publicKey')}</summary>
          <pre data-testid="release-public-key">{releases.data.publicKey}</pre>
        </details>
      ) : null}
    </section>
  );
}

function ReleasesTable({ releases }: { releases: readonly Release[] }) {
  const { t, lang } = useI18n();
  return (
    <RecordsTable
      className="updates-table"
      columns={[
        'updates.col.version',
        'updates.col.target',
        'updates.col.size',
        'updates.col.min',
        'updates.col.sha',
        'updates.col.created',
      ]}
      items={releases}
      row={(r) => (
        <tr key={`${r.version}/${r.target}`} data-testid="release-row">
          <td>{r.version}</td>
          <td>{r.target}</td>
          <td>{size(r.size)}</td>
          <td>{r.minVersion}</td>
          <td>
            <code title={r.sha256}>{r.sha256.slice(0, 12)}…</code>
          </td>
          <td>{dateTime(lang, r.createdMs)}</td>
        </tr>
      )}
      after={
        releases.length === 0 ? (
          <tr>
            <td colSpan={6} className="muted">
              {t('updates.noReleases')}
            </td>
          </tr>
        ) : undefined
      }
    />
  );
}

function NewRollout({ releases }: { releases: readonly Release[] }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const versions = [...new Set(releases.map((r) => r.version))];
  const [version, setVersion] = useState('');
  const [percent, setPercent] = useState('10');
  const [selector, setSelector] = useState('');
  const [target, setTarget] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const chosen = version || versions[0] || '';
  const targets = releases.filter((r) => r.version === chosen).map((r) => r.target);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      await createRollout({
        version: chosen,
        percent: Number(percent),
        ...(selector.trim() ? { selector: selector.trim() } : {}),
        ...(target ? { target } : {}),
      });
      await client.invalidateQueries({ queryKey: ['rollouts'] });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form-card rollout-form" onSubmit={submit} aria-label={t('updates.new')}>
      <h2>{t('updates.new')}</h2>
      <div className="form-grid">
        <Field label={t('updates.version')}>
          <select name="version" value={chosen} onChange={(e) => setVersion(e.target.value)} required>
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('updates.percent')} suffix="%">
          <input name="percent" type="number" min="1" max="100" value={percent} onChange={(e) => setPercent(e.target.value)} required />
        </Field>
        <Field label={t('updates.target')}>
          <select name="target" value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">{t('updates.anyTarget')}</option>
            {targets.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field label={t('updates.selector')} help={t('updates.selectorHelp')}>
        <input name="selector" value={selector} onChange={(e) => setSelector(e.target.value)} placeholder="role=web" />
      </Field>
      {versions.length === 0 ? <p className="muted">{t('updates.noReleases')}</p> : null}
      <FormMessage error={error || undefined} testid="rollout-error" />
      <div className="btn-row">
        <Button type="submit" variant="primary" busy={busy} disabled={versions.length === 0}>
          {t('updates.start')}
        </Button>
      </div>
    </form>
  );
}

function Progress({ rollout }: { rollout: Rollout }) {
  const { t } = useI18n();
  return (
    <span className="rollout-progress">
      <span>{t('updates.chosen', rollout.selected)}</span>
      {Object.entries(rollout.counts).map(([state, n]) => (
        <span key={state} className={`update-state ${state}`} data-testid="rollout-count" data-state={state}>
          {stateText(t, state)} {n}
        </span>
      ))}
    </span>
  );
}

function RolloutCard({ rollout: r, admin }: { rollout: Rollout; admin: boolean }) {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const detail = useQuery({ queryKey: ['rollout', r.id], queryFn: () => fetchRollout(r.id), enabled: open, refetchInterval: POLL_MS });
  const act = async (action: 'pause' | 'resume' | 'cancel') => {
    setError('');
    setBusy(true);
    try {
      await rolloutAction(r.id, action);
      await client.invalidateQueries({ queryKey: ['rollouts'] });
      await client.invalidateQueries({ queryKey: ['rollout', r.id] });
    } catch (err) {
      setError(t('updates.actionError', (err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  const selector = Object.entries(r.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return (
    <article className="rollout-card" data-testid="rollout" data-rollout-id={r.id} data-status={r.status}>
      <div className="rollout-head">
        <strong>{r.version}</strong>
        <span>{r.target || t('updates.anyTarget')}</span>
        <span>{r.percent}%</span>
        <span>{selector || t('updates.all')}</span>
        <span className={`rollout-status ${r.status}`} data-testid="rollout-status">
          {statusText(t, r.status)}
        </span>
      </div>
      <Progress rollout={r} />
      <p className="muted rollout-meta">
        {r.createdBy} · {dateTime(lang, r.createdMs)}
      </p>
      {admin && r.status !== 'cancelled' ? (
        <div className="btn-row">
          {r.status === 'active' ? (
            <Button small busy={busy} onClick={() => void act('pause')} data-testid="rollout-pause">
              {t('updates.pause')}
            </Button>
          ) : (
            <Button small busy={busy} onClick={() => void act('resume')} data-testid="rollout-resume">
              {t('updates.resume')}
            </Button>
          )}
          <Button small variant="danger" busy={busy} onClick={() => void act('cancel')} data-testid="rollout-cancel">
            {t('updates.cancel')}
          </Button>
        </div>
      ) : null}
      <FormMessage error={error || undefined} />
      <details onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
        <summary data-testid="rollout-agents-toggle">{t('updates.details')}</summary>
        {detail.data ? <AgentStates agents={detail.data.agents} /> : null}
      </details>
    </article>
  );
}

function AgentStates({ agents }: { agents: readonly RolloutAgent[] }) {
  const { t, lang } = useI18n();
  if (agents.length === 0) return <p className="muted">{t('updates.noAgents')}</p>;
  return (
    <RecordsTable
      className="updates-table"
      columns={['updates.col.host', 'updates.col.state', 'updates.col.versions', 'updates.col.reason', 'updates.col.updated']}
      items={agents}
      row={(a) => (
        <tr key={a.agentId} data-testid="rollout-agent" data-agent-id={a.agentId} data-state={a.state}>
          <td>{a.hostname || a.agentId}</td>
          <td>
            <span className={`update-state ${a.state}`}>{stateText(t, a.state)}</span>
          </td>
          <td>
            {a.fromVersion} → {a.toVersion}
          </td>
          <td className={a.reason ? `update-reason ${a.state}` : ''}>{a.reason}</td>
          <td>{dateTime(lang, a.updatedMs)}</td>
        </tr>
      )}
    />
  );
}
