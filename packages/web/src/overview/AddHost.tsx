import type { NewEnrollmentToken } from '@falconet/protocol/api';
import { useEffect, useId, useRef, useState } from 'react';
import { useSession } from '../auth/AuthGate.tsx';
import { request } from '../http.ts';
import { useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field } from '../ui/Field.tsx';
import './add-host.css';

const TARGETS = ['linux-x64', 'linux-arm64'] as const;
const LABEL_KEY = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;

/** `rack=7, dc=ams` -> {rack: '7', dc: 'ams'}; the part it cannot read otherwise. */
export function parseLabels(text: string): Record<string, string> | { bad: string } {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    const key = eq > 0 ? p.slice(0, eq).trim() : '';
    if (!LABEL_KEY.test(key)) return { bad: p };
    labels[key] = p.slice(eq + 1).trim();
  }
  return labels;
}

/** Which targets the server holds no agent binary for: the install routes answer 404 for those. */
async function missingTargets(): Promise<string[]> {
  const missing: string[] = [];
  for (const target of TARGETS) {
    const res = await fetch(`/install/falconet-agent-${target}.sha256`, { credentials: 'same-origin' }).catch(() => undefined);
    if (res?.status === 404) missing.push(target);
  }
  return missing;
}

/** Copies text; over plain HTTP the Clipboard API is missing, so the command's text is selected and copied the old way. */
async function copyText(text: string, fallback: HTMLElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!fallback) return false;
    const range = document.createRange();
    range.selectNodeContents(fallback);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    return document.execCommand('copy');
  }
}

/**
 * "Add host" on the overview, for admins (and on the first run, before any user exists): makes a
 * one-use enrollment token valid for 24 h with optional labels, and shows the one-line install
 * command that carries it, with a copy button, its expiry, and which targets this server cannot
 * serve an agent for.
 */
export function AddHost() {
  const { t, lang } = useI18n();
  const session = useSession();
  const allowed = session?.user?.role === 'admin' || session?.mode === 'setup';
  const [open, setOpen] = useState(false);
  const [labels, setLabels] = useState('');
  const [labelsError, setLabelsError] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [made, setMade] = useState<NewEnrollmentToken>();
  const [missing, setMissing] = useState<string[]>([]);
  const [copied, setCopied] = useState(false);
  const titleId = useId();
  const first = useRef<HTMLInputElement>(null);
  const code = useRef<HTMLElement>(null);

  useEffect(() => {
    if (!open) return;
    first.current?.focus();
    let live = true;
    void missingTargets().then((m) => live && setMissing(m));
    return () => {
      live = false;
    };
  }, [open]);

  if (!allowed) return null;

  const close = () => {
    setOpen(false);
    setMade(undefined);
    setError('');
    setLabelsError('');
    setCopied(false);
  };
  const create = async () => {
    const parsed = parseLabels(labels);
    if ('bad' in parsed && typeof parsed.bad === 'string') {
      setLabelsError(t('addHost.labelsBad', parsed.bad));
      return;
    }
    setLabelsError('');
    setBusy(true);
    setError('');
    try {
      const body = { name: 'add-host', expires: '24h', maxUses: 1, labels: parsed };
      setMade(await request<NewEnrollmentToken>('POST', '/api/enrollment-tokens', body));
    } catch (err) {
      setError(t('addHost.error', (err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  const command = made ? `curl -fsSL ${location.origin}/install/agent.sh | sudo sh -s -- --token ${made.token}` : '';
  const expiry = made ? new Date(made.record.expiresMs).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en') : '';

  return (
    <>
      <Button small className="add-host-open" onClick={() => setOpen(true)} data-testid="add-host-open">
        {t('addHost.open')}
      </Button>
      {open ? (
        <div className="add-host-backdrop">
          <div
            className="add-host-dialog"
            role="dialog"
            aria-modal="true"
            aria-labelledby={titleId}
            data-testid="add-host-dialog"
            onKeyDown={(e) => {
              if (e.key === 'Escape' && !busy) close();
            }}
          >
            <h2 id={titleId}>{t('addHost.title')}</h2>
            <p>{t('addHost.explain')}</p>
            {made ? (
              <div className="add-host-result">
                <p className="add-host-command-label">{t('addHost.command')}</p>
                <pre className="add-host-command">
                  <code ref={code} data-testid="add-host-command">
                    {command}
                  </code>
                </pre>
                <div className="add-host-actions">
                  <Button
                    variant="primary"
                    onClick={() => void copyText(command, code.current).then((ok) => setCopied(ok))}
                    data-testid="add-host-copy"
                  >
                    {copied ? t('addHost.copied') : t('addHost.copy')}
                  </Button>
                </div>
                <p data-testid="add-host-expires">{t('addHost.expires', expiry)}</p>
              </div>
            ) : (
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  void create();
                }}
              >
                <Field label={t('addHost.labels')} help={t('addHost.labelsHelp')} error={labelsError || undefined}>
                  <input
                    ref={first}
                    value={labels}
                    onChange={(e) => setLabels(e.target.value)}
                    placeholder="rack=7,dc=ams"
                    autoComplete="off"
                    data-testid="add-host-labels"
                  />
                </Field>
                {error ? (
                  <p className="banner bad" role="alert" data-testid="add-host-error">
                    {error}
                  </p>
                ) : null}
                <div className="add-host-actions">
                  <Button type="submit" variant="primary" busy={busy} data-testid="add-host-create">
                    {busy ? t('addHost.working') : t('addHost.create')}
                  </Button>
                </div>
              </form>
            )}
            {missing.map((target) => (
              <p key={target} className="add-host-note" data-testid={`add-host-missing-${target}`}>
                {t('addHost.noBinary', target)}
              </p>
            ))}
            <div className="add-host-actions">
              <Button onClick={close} disabled={busy} data-testid="add-host-close">
                {t('addHost.close')}
              </Button>
            </div>
          </div>
        </div>
      ) : null}
    </>
  );
}
