import { type FormEvent, useState } from 'react';
import type { SessionState } from './client.ts';
import { setUp } from './client.ts';

/** First run: the link printed on the server's console carries a one-time token in its fragment. */
export function SetupPage({ mode }: { mode: SessionState['mode'] }) {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  const [name, setName] = useState('admin');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string>();

  if (mode !== 'setup') {
    return (
      <div className="auth-page">
        <div className="auth-card">
          <h1>Already set up</h1>
          <p>
            A user exists. <a href="/">Sign in</a>.
          </p>
        </div>
      </div>
    );
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password !== again) {
      setError('the two passwords differ');
      return;
    }
    try {
      await setUp(token, name, password);
      location.replace('/');
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div className="auth-page">
      <form className="auth-card" onSubmit={submit} data-testid="setup-form">
        <h1>Create the first admin</h1>
        {token ? null : <p className="auth-error">This page needs the setup link printed on the server's console.</p>}
        <label>
          Name
          <input autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Password
          <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        <label>
          Again
          <input type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required />
        </label>
        {error ? (
          <p role="alert" className="auth-error">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={!token}>
          Create admin and sign in
        </button>
      </form>
    </div>
  );
}
