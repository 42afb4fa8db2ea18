import type { Agent, AgentForgotten, ForgetData } from '@falconet/protocol/api';
import { useEffect, useId, useRef, useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import { request } from '../http.ts';
import { useI18n } from '../i18n.tsx';
import type { AgentStore } from '../overview/store.ts';
import './forget.css';
import { Button } from '../ui/Button.tsx';

/**
 * "Forget this host" for admins: a dialog naming the host that asks whether its stored metrics
 * stay or go, then back to the overview without it. Others see why they cannot; a connected
 * agent must be stopped first (the server refuses to forget it).
 */
export function ForgetAgent({ agent, store, go }: { agent: Agent; store: AgentStore; go(p: string): void }) {
  const { t } = useI18n();
  const session = useSession();
  const admin = session?.user?.role === 'admin';
  const [open, setOpen] = useState(false);
  const [data, setData] = useState<ForgetData>('keep');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const titleId = useId();
  const first = useRef<HTMLInputElement>(null);
  // Its own watch: the page header re-renders on status, and a stream can close without one.
  const [connected, setConnected] = useState(agent.connected);
  useEffect(() => {
    setConnected(store.get(agent.id)?.connected ?? agent.connected);
    return store.watch(agent.id, (a) => setConnected(a.connected));
  }, [agent, store]);

  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);

  const reason = !admin ? t('forget.adminOnly') : connected ? t('forget.connected', agent.hostname) : '';
  const close = () => {
    setOpen(false);
    setError('');
  };
  const forget = async () => {
    setBusy(true);
    setError('');
    try {
      await request<AgentForgotten>('DELETE', `/api/agents/${encodeURIComponent(agent.id)}?data=${data}`);
      store.remove(agent.id);
      go('/');
    } catch (err) {
      setError(t('forget.error', (err as Error).message));
      setBusy(false);
    }
  };

  return (
    <div className="forget">
      <Button
        variant="danger"
        small
        className="forget-open"
        disabled={reason !== ''}
        onClick={() => setOpen(true)}
        data-testid="forget-open"
      >
        {t('forget.open')}
      </Button>
      {reason ? (
        <span className="forget-reason" data-testid="forget-reason">
          {reason}
        </span>
      ) : null}
      {open ? (
        <div className="forget-backdrop">
          <div
            className="forget-dialog"
            role="dialog"
            aria-modal="true"
            aria-labelledby={titleId}
            data-testid="forget-dialog"
            onKeyDown={(e) => {
              if (e.key === 'Escape' && !busy) close();
            }}
          >
            <h2 id={titleId}>{t('forget.title', agent.hostname)}</h2>
            <p>{t('forget.explain')}</p>
            <fieldset>
              <legend>{t('forget.data')}</legend>
              <label>
                <input
                  ref={first}
                  type="radio"
                  name="forget-data"
                  value="keep"
                  checked={data === 'keep'}
                  onChange={() => setData('keep')}
                  data-testid="forget-keep"
                />{' '}
                {t('forget.keep')}
              </label>
              <label>
                <input
                  type="radio"
                  name="forget-data"
                  value="drop"
                  checked={data === 'drop'}
                  onChange={() => setData('drop')}
                  data-testid="forget-drop"
                />{' '}
                {t('forget.drop')}
              </label>
            </fieldset>
            {error ? (
              <p className="banner bad" role="alert" data-testid="forget-error">
                {error}
              </p>
            ) : null}
            <div className="forget-actions">
              <Button onClick={close} disabled={busy} data-testid="forget-cancel">
                {t('forget.cancel')}
              </Button>
              <Button variant="danger" onClick={() => void forget()} busy={busy} data-testid="forget-confirm">
                {busy ? t('forget.working') : t('forget.confirm', agent.hostname)}
              </Button>
            </div>
          </div>
        </div>
      ) : null}
    </div>
  );
}
