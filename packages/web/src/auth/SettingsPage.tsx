import type { ApiToken, AuditRecord, ClusterStatus, Role, Session, User } from '@falconet/protocol/api';
import { ROLES } from '@falconet/protocol/api/enums';
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { dateTime, type Lang, type Translate, useI18n, withNodes, word } from '../i18n.tsx';
import { RecordsTable } from '../RecordsTable.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import {
  changePassword,
  createToken,
  createUser,
  deleteUser,
  listAudit,
  listTokens,
  listUsers,
  loadCluster,
  revokeToken,
  updateUser,
} from './client.ts';

/** Your password; and for admins, users, API tokens and the audit log. */
const when = (lang: Lang, ms: number) => dateTime(lang, ms);
const roleText = (t: Translate, role: string) => word(t, 'auth.role', role);

export function SettingsPage({ session }: { session: Session }) {
  const { t } = useI18n();
  const admin = session.user?.role === 'admin';
  return (
    <section className="settings" data-testid="settings-page">
      <h1>{t('settings.title')}</h1>
      {session.user?.kind === 'session' ? <PasswordForm /> : null}
      {admin ? (
        <>
          <UsersSection self={session.user?.name ?? ''} />
          <TokensSection />
          <AuditSection />
        </>
      ) : null}
      <ClusterSection />
    </section>
  );
}

/** An action's error, notice and whether it is under way (for the button's busy state). */
function useAction(): [string | undefined, string | undefined, (what: () => Promise<unknown>, ok?: string) => Promise<boolean>, boolean] {
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (what: () => Promise<unknown>, ok?: string) => {
    setError(undefined);
    setNotice(undefined);
    setBusy(true);
    try {
      await what();
      if (ok) setNotice(ok);
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return [error, notice, run, busy];
}

const Messages = FormMessage;

function PasswordForm() {
  const { t } = useI18n();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, notice, run, busy] = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(() => changePassword(current, next), t('settings.password.changed'))) {
      setCurrent('');
      setNext('');
    }
  };
  return (
    <section>
      <h2>{t('settings.password.title')}</h2>
      <form className="form-card inline-form" onSubmit={submit}>
        <div className="form-grid">
          <Field label={t('settings.password.current')}>
            <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
          </Field>
          <Field label={t('settings.password.new')}>
            <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required />
          </Field>
        </div>
        <div className="btn-row">
          <Button type="submit" variant="primary" busy={busy}>
            {t('settings.password.change')}
          </Button>
        </div>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function UsersSection({ self }: { self: string }) {
  const { t, lang } = useI18n();
  const [users, setUsers] = useState<User[]>([]);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [error, notice, run, busy] = useAction();
  const load = useCallback(() => run(async () => setUsers((await listUsers()).items)), [run]);
  useEffect(() => {
    load();
  }, [load]);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(() => createUser({ name, role, password }), t('settings.users.created', name))) {
      setName('');
      setPassword('');
      load();
    }
  };
  const change = async (what: () => Promise<unknown>) => {
    await run(what);
    load();
  };

  return (
    <section>
      <h2>{t('settings.users.title')}</h2>
      <RecordsTable
        className="settings-table"
        columns={['settings.col.name', 'settings.col.role', 'settings.col.state', 'settings.col.created', '']}
        items={users}
        row={(u) => (
          <tr key={u.id} data-testid="user-row" data-name={u.name}>
            <td>{u.name}</td>
            <td>
              <select
                aria-label={t('settings.users.roleOf', u.name)}
                value={u.role}
                onChange={(e) => change(() => updateUser(u.name, { role: e.target.value as Role }))}
              >
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {roleText(t, r)}
                  </option>
                ))}
              </select>
            </td>
            <td>
              {u.disabled
                ? t('settings.users.disabled')
                : u.lockedUntilMs > Date.now()
                  ? t('settings.users.lockedUntil', when(lang, u.lockedUntilMs))
                  : t('settings.users.active')}
            </td>
            <td>{when(lang, u.createdMs)}</td>
            <td className="actions">
              {u.lockedUntilMs > Date.now() ? (
                <Button small onClick={() => change(() => updateUser(u.name, { unlock: true }))}>
                  {t('settings.users.unlock')}
                </Button>
              ) : null}
              <Button small onClick={() => change(() => updateUser(u.name, { disabled: !u.disabled }))}>
                {u.disabled ? t('settings.users.enable') : t('settings.users.disable')}
              </Button>
              {u.name === self ? null : (
                <Button
                  small
                  variant="danger"
                  onClick={() => {
                    if (confirm(t('settings.users.confirmRemove', u.name))) change(() => deleteUser(u.name));
                  }}
                >
                  {t('settings.users.remove')}
                </Button>
              )}
            </td>
          </tr>
        )}
      />
      <form className="form-card" onSubmit={add} data-testid="new-user">
        <div className="form-grid">
          <Field label={t('settings.field.name')}>
            <input value={name} onChange={(e) => setName(e.target.value)} required />
          </Field>
          <Field label={t('settings.field.role')}>
            <RoleSelect value={role} onChange={setRole} />
          </Field>
          <Field label={t('settings.field.password')}>
            <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          </Field>
        </div>
        <div className="btn-row">
          <Button type="submit" variant="primary" busy={busy}>
            {t('settings.users.add')}
          </Button>
        </div>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function RoleSelect({ value, onChange }: { value: Role; onChange(r: Role): void }) {
  const { t } = useI18n();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value as Role)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {roleText(t, r)}
        </option>
      ))}
    </select>
  );
}

function TokensSection() {
  const { t, lang } = useI18n();
  const [tokens, setTokens] = useState<ApiToken[]>([]);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [scopes, setScopes] = useState('*');
  const [expires, setExpires] = useState('90d');
  const [secret, setSecret] = useState<string>();
  const [error, notice, run, busy] = useAction();
  const load = useCallback(() => run(async () => setTokens((await listTokens()).items)), [run]);
  useEffect(() => {
    load();
  }, [load]);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    await run(async () => {
      const made = await createToken({
        name,
        role,
        scopes: scopes
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        expires,
      });
      setSecret(made.token);
      setName('');
    });
    load();
  };

  return (
    <section>
      <h2>{t('settings.tokens.title')}</h2>
      <p className="sub">
        {withNodes(t('settings.tokens.help'), [
          <code key="header">Authorization: Bearer TOKEN</code>,
          <code key="all">*</code>,
          <code key="prefix">/api/metrics</code>,
        ])}
      </p>
      {secret ? (
        <p className="auth-notice">
          {t('settings.tokens.shownOnce')} <code data-testid="new-token-secret">{secret}</code>
        </p>
      ) : null}
      <RecordsTable
        className="settings-table"
        columns={['settings.col.name', 'settings.col.role', 'settings.col.scopes', 'settings.col.expires', 'settings.col.lastUsed', '']}
        items={tokens}
        row={(tok) => (
          <tr key={tok.id} data-testid="token-row" data-name={tok.name}>
            <td>{tok.name}</td>
            <td>{roleText(t, tok.role)}</td>
            <td>{tok.scopes.join(', ')}</td>
            <td>
              {tok.revokedMs
                ? t('settings.tokens.revoked', when(lang, tok.revokedMs))
                : tok.expiresMs
                  ? when(lang, tok.expiresMs)
                  : t('settings.tokens.never')}
            </td>
            <td>{when(lang, tok.lastUsedMs)}</td>
            <td className="actions">
              {tok.revokedMs ? null : (
                <Button
                  small
                  variant="danger"
                  onClick={async () => {
                    await run(() => revokeToken(tok.id), t('settings.tokens.revokedNotice', tok.name));
                    load();
                  }}
                >
                  {t('settings.tokens.revoke')}
                </Button>
              )}
            </td>
          </tr>
        )}
      />
      <form className="form-card" onSubmit={add} data-testid="new-token">
        <div className="form-grid">
          <Field label={t('settings.field.name')}>
            <input value={name} onChange={(e) => setName(e.target.value)} required />
          </Field>
          <Field label={t('settings.field.role')}>
            <RoleSelect value={role} onChange={setRole} />
          </Field>
          <Field label={t('settings.field.scopes')}>
            <input value={scopes} onChange={(e) => setScopes(e.target.value)} />
          </Field>
          <Field label={t('settings.field.expires')}>
            <input value={expires} onChange={(e) => setExpires(e.target.value)} size={6} />
          </Field>
        </div>
        <div className="btn-row">
          <Button type="submit" variant="primary" busy={busy}>
            {t('settings.tokens.create')}
          </Button>
        </div>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function AuditSection() {
  const { t, lang } = useI18n();
  const [entries, setEntries] = useState<AuditRecord[]>([]);
  const [error, , run] = useAction();
  useEffect(() => {
    run(async () => setEntries((await listAudit()).items));
  }, [run]);
  return (
    <section>
      <h2>{t('settings.audit.title')}</h2>
      <Messages error={error} notice={undefined} />
      <RecordsTable
        className="settings-table"
        columns={[
          'settings.col.when',
          'settings.col.who',
          'settings.col.what',
          'settings.col.on',
          'settings.col.from',
          'settings.col.outcome',
        ]}
        items={entries}
        row={(e) => (
          <tr key={e.id} data-testid="audit-row">
            <td>{when(lang, e.tsMs)}</td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.target}</td>
            <td>{e.address}</td>
            <td>{e.outcome}</td>
          </tr>
        )}
      />
    </section>
  );
}

/** The nodes of this server's cluster, as GET /api/cluster has them (this one alone when it has none). */
function ClusterSection() {
  const { t, lang } = useI18n();
  const [status, setStatus] = useState<ClusterStatus>();
  const [error, , run] = useAction();
  useEffect(() => {
    const load = () => run(async () => setStatus(await loadCluster()));
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, [run]);
  return (
    <section data-testid="cluster-section">
      <h2>{t('cluster.title')}</h2>
      <Messages error={error ? t('cluster.loadError', error) : undefined} notice={undefined} />
      {status && !status.enabled ? <p data-testid="cluster-alone">{t('cluster.alone')}</p> : null}
      {status?.enabled ? (
        <p data-testid="cluster-summary">
          {t(
            'cluster.summary',
            status.cluster,
            String(status.nodes.length),
            status.node,
            status.bus.servers.join(', '),
            t(status.bus.connected ? 'cluster.bus.up' : 'cluster.bus.down'),
          )}
        </p>
      ) : null}
      {status ? (
        <RecordsTable
          className="settings-table"
          columns={[
            'cluster.col.node',
            'cluster.col.http',
            'cluster.col.agents',
            'cluster.col.watching',
            'cluster.col.databases',
            'cluster.col.version',
            'cluster.col.started',
            'cluster.col.heard',
          ]}
          items={status.nodes}
          row={(n) => (
            <tr key={n.node} data-testid="cluster-node" data-node={n.node}>
              <td>
                {n.node}
                {n.self ? ` (${t('cluster.self')})` : ''}
              </td>
              <td>{n.http}</td>
              <td>{n.agents}</td>
              <td>{n.watching}</td>
              <td>
                {n.databases.length === 0
                  ? t('cluster.db.none')
                  : n.databases.map((d) => `${d.role}: ${t(d.up ? 'cluster.db.up' : 'cluster.db.down')}`).join(', ')}
              </td>
              <td>{n.version}</td>
              <td>{n.startedMs ? when(lang, n.startedMs) : ''}</td>
              <td>{when(lang, n.heardMs)}</td>
            </tr>
          )}
        />
      ) : null}
    </section>
  );
}
