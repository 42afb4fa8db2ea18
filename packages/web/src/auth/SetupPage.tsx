import type { Session } from '@falconet/protocol/api';
import { type FormEvent, useState } from 'react';
import { useI18n, withNodes } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { usePageTitle } from '../ui/title.ts';
import { setUp } from './client.ts';

/** First run: the link printed on the server's console carries a one-time token in its fragment. */
export function SetupPage({ mode }: { mode: Session['mode'] }) {
  const { t } = useI18n();
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  const [name, setName] = useState('admin');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  usePageTitle(t('auth.setup.title'));

  if (mode !== 'setup') {
    return (
      <div className="auth-page">
        <div className="auth-card">
          <h1>{t('auth.setup.done')}</h1>
          <p>
            {withNodes(t('auth.setup.exists'), [
              <a key="signin" href="/">
                {t('auth.signIn')}
              </a>,
            ])}
          </p>
        </div>
      </div>
    );
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (password !== again) {
      setError(t('auth.setup.differ'));
      return;
    }
    setBusy(true);
    try {
      await setUp(token, name, password);
      location.replace('/');
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <div className="auth-page">
      <form className="auth-card" onSubmit={submit} data-testid="setup-form">
        <h1>{t('auth.setup.title')}</h1>
        {token ? null : <p className="form-error">{t('auth.setup.needsLink')}</p>}
        <Field label={t('auth.name')}>
          <input autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label={t('auth.password')}>
          <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </Field>
        <Field label={t('auth.again')}>
          <input type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required />
        </Field>
        <FormMessage error={error} />
        <Button type="submit" variant="primary" busy={busy} disabled={!token}>
          {t('auth.setup.submit')}
        </Button>
      </form>
    </div>
  );
}
