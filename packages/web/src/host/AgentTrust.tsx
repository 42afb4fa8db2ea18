import type { Agent } from '@falconet/protocol/api';
import { useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import { request } from '../http.ts';
import { useI18n } from '../i18n.tsx';
import { parseLabels } from '../tasks/api.ts';

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/**
 * An agent's labels as the server trusts them (its token's and the server's, the only ones that
 * choose it for tasks) beside those it declares, and its report sequence: a warning when its
 * reports are refused for a sequence jump, and for operators the label editor and the reset.
 */
export function AgentTrust({ agent }: { agent: Agent }) {
  const { t } = useI18n();
  const session = useSession();
  const role = session?.user?.role;
  const canAct = role === 'operator' || role === 'admin';
  const [draft, setDraft] = useState(() => labelText(agent.serverLabels));
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState<{ text: string; error: boolean }>();
  const refused = agent.sequenceRefused;

  const saveLabels = async () => {
    try {
      await request('PUT', `/api/agents/${encodeURIComponent(agent.id)}/labels`, { labels: parseLabels(draft) });
      setMessage({ text: t('host.labels.saved'), error: false });
    } catch (err) {
      setMessage({ text: t('host.labels.error', (err as Error).message), error: true });
    }
  };
  const resetSequence = async () => {
    setConfirming(false);
    try {
      const r = await request<{ previousLastSeq: number }>('POST', `/api/agents/${encodeURIComponent(agent.id)}/sequence/reset`);
      setMessage({ text: t('host.seq.done', r.previousLastSeq), error: false });
    } catch (err) {
      setMessage({ text: t('host.seq.error', (err as Error).message), error: true });
    }
  };

  return (
    <section className="trust" aria-labelledby="trust-title" data-testid="agent-trust">
      <h2 id="trust-title" className="sr-only">
        {t('host.trust.title')}
      </h2>
      {refused ? (
        <p className="banner warn" role="alert" data-testid="sequence-refused">
          {t('host.seq.refused', refused.seq, refused.lastSeq)}
        </p>
      ) : null}
      <dl className="sub labels">
        <dt title={t('host.labels.trustedHint')}>{t('host.labels.trusted')}</dt>
        <dd data-testid="trusted-labels">{labelText(agent.trustedLabels) || t('host.labels.none')}</dd>
        <dt title={t('host.labels.declaredHint')}>{t('host.labels.declared')}</dt>
        <dd data-testid="declared-labels">{labelText(agent.labels) || t('host.labels.none')}</dd>
      </dl>
      {canAct ? (
        <div className="trust-actions">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void saveLabels();
            }}
          >
            <label>
              {t('host.labels.edit')}{' '}
              <input value={draft} placeholder="role=web, zone=a" onChange={(e) => setDraft(e.target.value)} data-testid="server-labels" />
            </label>{' '}
            <button type="submit">{t('host.labels.save')}</button>
          </form>
          {confirming ? (
            <fieldset className="confirm">
              <legend className="sr-only">{t('host.seq.reset')}</legend>
              {t('host.seq.confirm')}{' '}
              <button type="button" onClick={() => void resetSequence()} data-testid="sequence-reset-confirm">
                {t('host.seq.confirmYes')}
              </button>{' '}
              <button type="button" onClick={() => setConfirming(false)}>
                {t('host.seq.cancel')}
              </button>
            </fieldset>
          ) : (
            <button type="button" onClick={() => setConfirming(true)} data-testid="sequence-reset">
              {t('host.seq.reset')}
            </button>
          )}
        </div>
      ) : null}
      {message ? (
        <p role={message.error ? 'alert' : 'status'} className={message.error ? 'error' : 'sub'} data-testid="trust-message">
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
