import { type FormEvent, useCallback, useEffect, useState } from 'react';
import {
  type ApiToken,
  type AuditEntry,
  changePassword,
  createToken,
  createUser,
  deleteUser,
  listAudit,
  listTokens,
  listUsers,
  ROLES,
  type Role,
  revokeToken,
  type SessionState,
  type User,
  updateUser,
} from './client.ts';

const when = (ms: number) => (ms ? new Date(ms).toLocaleString() : '—');

/** Your password; and for admins, users, API tokens and the audit log. */
export function SettingsPage({ session }: { session: SessionState }) {
  const admin = session.user?.role === 'admin';
  return (
    <div className="app">
      <header>
        <a href="/" className="brand">
          Falconet
        </a>
        <span className="account">
          {session.user?.name} ({session.user?.role})
        </span>
      </header>
      <main className="settings">
        <h1>Settings</h1>
        {session.user?.kind === 'session' ? <PasswordForm /> : null}
        {admin ? (
          <>
            <UsersSection self={session.user?.name ?? ''} />
            <TokensSection />
            <AuditSection />
          </>
        ) : null}
      </main>
    </div>
  );
}

function useAction(): [string | undefined, string | undefined, (what: () => Promise<unknown>, ok?: string) => Promise<boolean>] {
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const run = useCallback(async (what: () => Promise<unknown>, ok?: string) => {
    setError(undefined);
    setNotice(undefined);
    try {
      await what();
      if (ok) setNotice(ok);
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    }
  }, []);
  return [error, notice, run];
}

function Messages({ error, notice }: { error: string | undefined; notice: string | undefined }) {
  return (
    <>
      {error ? (
        <p role="alert" className="auth-error">
          {error}
        </p>
      ) : null}
      {notice ? <p className="auth-notice">{notice}</p> : null}
    </>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, notice, run] = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(() => changePassword(current, next), 'Password changed; your other sessions were signed out.')) {
      setCurrent('');
      setNext('');
    }
  };
  return (
    <section>
      <h2>Your password</h2>
      <form className="inline" onSubmit={submit}>
        <input
          type="password"
          placeholder="current"
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          required
        />
        <input
          type="password"
          placeholder="new"
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          required
        />
        <button type="submit">Change</button>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function UsersSection({ self }: { self: string }) {
  const [users, setUsers] = useState<User[]>([]);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [error, notice, run] = useAction();
  const load = useCallback(() => run(async () => setUsers((await listUsers()).items)), [run]);
  useEffect(() => {
    load();
  }, [load]);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(() => createUser(name, role, password), `Created ${name}.`)) {
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
      <h2>Users</h2>
      <table className="settings-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id} data-testid="user-row" data-name={u.name}>
              <td>{u.name}</td>
              <td>
                <select
                  aria-label={`role of ${u.name}`}
                  value={u.role}
                  onChange={(e) => change(() => updateUser(u.name, { role: e.target.value as Role }))}
                >
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td>{u.disabled ? 'disabled' : u.lockedUntilMs > Date.now() ? `locked until ${when(u.lockedUntilMs)}` : 'active'}</td>
              <td>{when(u.createdMs)}</td>
              <td className="actions">
                {u.lockedUntilMs > Date.now() ? (
                  <button type="button" onClick={() => change(() => updateUser(u.name, { unlock: true }))}>
                    Unlock
                  </button>
                ) : null}
                <button type="button" onClick={() => change(() => updateUser(u.name, { disabled: !u.disabled }))}>
                  {u.disabled ? 'Enable' : 'Disable'}
                </button>
                {u.name === self ? null : (
                  <button
                    type="button"
                    onClick={() => {
                      if (confirm(`Remove ${u.name}?`)) change(() => deleteUser(u.name));
                    }}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline" onSubmit={add} data-testid="new-user">
        <input placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
        <select aria-label="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <input
          type="password"
          placeholder="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        <button type="submit">Add user</button>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function TokensSection() {
  const [tokens, setTokens] = useState<ApiToken[]>([]);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [scopes, setScopes] = useState('*');
  const [expires, setExpires] = useState('90d');
  const [secret, setSecret] = useState<string>();
  const [error, notice, run] = useAction();
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
      <h2>API tokens</h2>
      <p className="sub">
        For scripts and Prometheus: send <code>Authorization: Bearer TOKEN</code>. Scopes are <code>*</code> or route prefixes such as{' '}
        <code>/api/metrics</code>.
      </p>
      {secret ? (
        <p className="auth-notice">
          New token, shown once: <code data-testid="new-token-secret">{secret}</code>
        </p>
      ) : null}
      <table className="settings-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Scopes</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-testid="token-row" data-name={t.name}>
              <td>{t.name}</td>
              <td>{t.role}</td>
              <td>{t.scopes.join(', ')}</td>
              <td>{t.revokedMs ? `revoked ${when(t.revokedMs)}` : t.expiresMs ? when(t.expiresMs) : 'never'}</td>
              <td>{when(t.lastUsedMs)}</td>
              <td className="actions">
                {t.revokedMs ? null : (
                  <button
                    type="button"
                    onClick={async () => {
                      await run(() => revokeToken(t.id), `Revoked ${t.name}.`);
                      load();
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline" onSubmit={add} data-testid="new-token">
        <input placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
        <select aria-label="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <input placeholder="scopes" value={scopes} onChange={(e) => setScopes(e.target.value)} />
        <input placeholder="expires" value={expires} onChange={(e) => setExpires(e.target.value)} size={6} />
        <button type="submit">Create token</button>
      </form>
      <Messages error={error} notice={notice} />
    </section>
  );
}

function AuditSection() {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [error, , run] = useAction();
  useEffect(() => {
    run(async () => setEntries((await listAudit()).items));
  }, [run]);
  return (
    <section>
      <h2>Audit log</h2>
      <Messages error={error} notice={undefined} />
      <table className="settings-table">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">On</th>
            <th scope="col">From</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id} data-testid="audit-row">
              <td>{when(e.tsMs)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>{e.target}</td>
              <td>{e.address}</td>
              <td>{e.outcome}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
