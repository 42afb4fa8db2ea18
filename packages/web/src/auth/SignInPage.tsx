import { type FormEvent, useState } from 'react';
import { useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { usePageTitle } from '../ui/title.ts';
import { signIn } from './client.ts';

export function SignInPage() {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  usePageTitle(t('auth.signIn'));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(name, password);
      // A fresh page load: every query and the live socket start again with the new cookie.
      location.replace(location.pathname === '/signin' ? '/' : location.pathname + location.search);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <div className="auth-page">
      <form className="auth-card" onSubmit={submit} data-testid="signin-form">
        <h1>Falconet</h1>
        <Field label={t('auth.name')}>
          <input data-testid="signin-name" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label={t('auth.password')}>
          <input
            data-testid="signin-password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </Field>
        <FormMessage error={error} testid="signin-error" />
        <Button type="submit" variant="primary" busy={busy} data-testid="signin-submit">
          {t('auth.signIn')}
        </Button>
      </form>
    </div>
  );
}
