import type { Session } from '@falconet/protocol/api';
import { useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { ApiError } from '../http.ts';
import { useI18n } from '../i18n.tsx';
import { fetchSession } from './client.ts';
import { SetupPage } from './SetupPage.tsx';
import { SignInPage } from './SignInPage.tsx';
import './auth.css';

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session | undefined {
  return useContext(SessionContext);
}

/**
 * Stands in front of the dashboard: asks the server who the browser is, shows the sign-in page
 * when nobody is, the first-run setup page at /setup, and the dashboard (settings included, inside
 * its shell) otherwise. Any query answered 401 (a session that ended) sends it back to sign-in.
 */
export function AuthGate({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const [state, setState] = useState<Session>();
  const [error, setError] = useState<string>();
  const client = useQueryClient();
  const refresh = useCallback(() => {
    fetchSession().then(
      (s) => {
        setError(undefined);
        setState(s);
      },
      (e: Error) => setError(e.message),
    );
  }, []);

  useEffect(refresh, [refresh]);
  useEffect(
    () =>
      client.getQueryCache().subscribe((ev) => {
        const err = ev.query.state.error;
        if (ev.type === 'updated' && err instanceof ApiError && err.status === 401) refresh();
      }),
    [client, refresh],
  );

  if (error) return <p role="alert">{t('auth.unreachable', error)}</p>;
  if (!state) return <p className="auth-loading">{t('auth.loading')}</p>;
  const path = location.pathname;
  if (path === '/setup') return <SetupPage mode={state.mode} />;
  if (state.mode === 'signed-out') return <SignInPage />;
  return <SessionContext.Provider value={state}>{children}</SessionContext.Provider>;
}
