import type { Monitor, MonitorStatus } from '@falconet/protocol/api';
import { useState } from 'react';
import { type Translate, useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { deleteMonitor } from './client.ts';
import { CERT_WARN_DAYS, certDays, latencyText, uptimeText } from './format.ts';

/** The status as a coloured dot with its word for screen readers (and a tooltip). */
export function StatusDot({ status, t }: { status: MonitorStatus; t: Translate }) {
  const word = t(`monitors.status.${status}`);
  return <span className={`mdot ${status}`} role="img" aria-label={word} title={word} data-testid="monitor-status" data-status={status} />;
}

/** Days until the certificate expires, flagged under CERT_WARN_DAYS; a dash when the monitor has no certificate. */
export function CertCell({ expiryMs, t }: { expiryMs: number | null; t: Translate }) {
  const days = certDays(expiryMs);
  if (days === null) return <span className="sub">–</span>;
  const warn = days < CERT_WARN_DAYS;
  return (
    <span className={warn ? 'cert-warn' : undefined} data-testid="monitor-cert" data-days={days} data-warn={warn ? 'true' : 'false'}>
      {days < 0 ? t('monitors.certExpired') : t('monitors.certDays', days)}
    </span>
  );
}

export function MonitorRow({
  monitor: m,
  go,
  onEdit,
  onDeleted,
}: {
  monitor: Monitor;
  go(p: string): void;
  /** Operators only: without it the row has no edit controls. */
  onEdit: (() => void) | undefined;
  onDeleted(): void;
}) {
  const { t } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const href = `/monitors/${encodeURIComponent(m.id)}`;
  return (
    <tr data-testid="monitor-row" data-id={m.id} data-status={m.status} className={`st-${m.status}`}>
      <th scope="row" className="c-name">
        <StatusDot status={m.status} t={t} />
        <a
          href={href}
          onClick={(e) => {
            if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            go(href);
          }}
          data-testid="monitor-name"
        >
          {m.spec.name}
        </a>
      </th>
      <td className="c-target">
        <span className="kind">{m.spec.probe.kind}</span> <span className="mono">{m.spec.probe.target}</span>
      </td>
      <td className="num" data-testid="monitor-locations">
        <span className={m.failingLocations > 0 ? 'failing' : undefined}>{m.failingLocations}</span> / {m.locationCount}
      </td>
      <td className="num" data-testid="monitor-uptime24h">
        {uptimeText(m.uptime24h)}
      </td>
      <td className="num">{uptimeText(m.uptime30d)}</td>
      <td className="num" data-testid="monitor-latency">
        {latencyText(m.latencyMs)}
      </td>
      <td className="num">
        <CertCell expiryMs={m.certExpiryMs} t={t} />
      </td>
      {onEdit ? (
        <td className="actions">
          <Button small variant="ghost" onClick={onEdit} data-testid="monitor-edit" aria-label={t('monitors.editNamed', m.spec.name)}>
            {t('monitors.edit')}
          </Button>
          {confirming ? (
            <>
              <Button
                small
                variant="danger"
                data-testid="monitor-delete-confirm"
                onClick={() =>
                  deleteMonitor(m.id).then(onDeleted, (err: Error) => {
                    setError(err.message);
                    setConfirming(false);
                  })
                }
              >
                {t('monitors.deleteConfirm')}
              </Button>
              <Button small variant="ghost" onClick={() => setConfirming(false)}>
                {t('monitors.cancel')}
              </Button>
            </>
          ) : (
            <Button
              small
              variant="ghost"
              onClick={() => setConfirming(true)}
              data-testid="monitor-delete"
              aria-label={t('monitors.deleteNamed', m.spec.name)}
            >
              {t('monitors.delete')}
            </Button>
          )}
          {error ? (
            <span role="alert" className="form-error">
              {error}
            </span>
          ) : null}
        </td>
      ) : null}
    </tr>
  );
}
