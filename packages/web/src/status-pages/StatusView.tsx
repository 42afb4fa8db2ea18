import type { PublicIncident, PublicStatusItem, PublicStatusPage, StatusLanguage } from '@falconet/protocol/api';
import { dateTimeText, type PublicTranslate, percent, uptimeClass, utcDay } from './translate.ts';
import './status.css';

const DAY_MS = 86_400_000;

/** The 90 day bars of one host or monitor; each says its day and uptime on hover. */
function UptimeBars({ item, firstDayMs, t }: { item: PublicStatusItem; firstDayMs: number; t: PublicTranslate }) {
  return (
    <div className="sp-bars" data-testid="status-bars">
      {item.days.map((v, i) => {
        const day = utcDay(firstDayMs + i * DAY_MS);
        const label = v === null ? t('status.barNoData', day) : t('status.bar', day, percent(v));
        return (
          <span
            // biome-ignore lint/suspicious/noArrayIndexKey: one bar per day, in a fixed order
            key={i}
            className={`sp-bar ${uptimeClass(v)}`}
            title={label}
            aria-label={label}
            role="img"
            data-testid="status-bar"
            data-day={day}
          />
        );
      })}
    </div>
  );
}

function Item({ item, firstDayMs, t }: { item: PublicStatusItem; firstDayMs: number; t: PublicTranslate }) {
  const figures: string[] = [];
  if (item.latencyMs !== undefined && item.latencyMs !== null) figures.push(t('status.latency', item.latencyMs));
  if (item.cpuPercent !== undefined && item.cpuPercent !== null)
    figures.push(t('status.cpuMemory', item.cpuPercent, item.memoryPercent ?? '—'));
  return (
    <li className="sp-item" data-testid="status-item" data-status={item.status}>
      <div className="sp-item-head">
        <span className="sp-name">{item.name}</span>
        {figures.length > 0 && <span className="sp-figures">{figures.join(' · ')}</span>}
        <span className="sp-spacer" />
        <span className="sp-uptime">{item.uptime === null ? t('status.noUptime') : t('status.uptime', percent(item.uptime))}</span>
        <span className={`sp-badge ${item.status}`}>{t(`status.item.${item.status}`)}</span>
      </div>
      <UptimeBars item={item} firstDayMs={firstDayMs} t={t} />
      <div className="sp-axis">
        <span>{t('status.days', item.days.length - 1)}</span>
        <span>{t('status.today')}</span>
      </div>
    </li>
  );
}

function IncidentEntry({ incident, lang, t }: { incident: PublicIncident; lang: StatusLanguage; t: PublicTranslate }) {
  const when =
    incident.resolvedMs === null
      ? t('status.ongoing', dateTimeText(lang, incident.startedMs))
      : t('status.resolved', dateTimeText(lang, incident.startedMs), dateTimeText(lang, incident.resolvedMs));
  return (
    <li className={`sp-incident ${incident.resolvedMs === null ? 'open' : 'resolved'}`} data-testid="status-incident">
      <div className="sp-incident-head">
        <span className={`sp-severity ${incident.severity}`}>{t(`status.severity.${incident.severity}`)}</span>
        <strong>{incident.title}</strong>
        <span className="sp-when">{when}</span>
      </div>
      {/* Plain text: React writes it as text, never as markup. */}
      {incident.body && <p className="sp-body">{incident.body}</p>}
      {incident.updates.length > 0 && (
        <ul className="sp-notes">
          {incident.updates.map((u) => (
            <li key={u.atMs + u.body}>
              <span className="sp-when">{dateTimeText(lang, u.atMs)}</span> {u.body}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/** A status page as the public sees it: the headline, the items with their bars, the incidents. */
export function StatusView({ view, lang, t }: { view: PublicStatusPage; lang: StatusLanguage; t: PublicTranslate }) {
  const hosts = view.items.filter((i) => i.kind === 'host');
  const monitors = view.items.filter((i) => i.kind === 'monitor');
  const section = (key: 'status.hosts' | 'status.monitors', items: PublicStatusItem[]) =>
    items.length > 0 && (
      <section className="sp-section">
        <h2>{t(key)}</h2>
        <ul className="sp-items">
          {items.map((item, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the page's order; names may repeat
            <Item key={i} item={item} firstDayMs={view.firstDayMs} t={t} />
          ))}
        </ul>
      </section>
    );
  return (
    <div className="sp-page">
      <h1 data-testid="status-title">{view.title}</h1>
      {view.description && <p className="sp-description">{view.description}</p>}
      <div className={`sp-headline ${view.status}`} data-testid="status-headline" data-status={view.status}>
        {t(`status.all.${view.status}`)}
      </div>
      {section('status.hosts', hosts)}
      {section('status.monitors', monitors)}
      <section className="sp-section">
        <h2>{t('status.incidents')}</h2>
        {view.incidents.length === 0 ? (
          <p className="sp-muted">{t('status.noIncidents')}</p>
        ) : (
          <ul className="sp-incidents">
            {view.incidents.map((incident) => (
              <IncidentEntry key={`${incident.startedMs}-${incident.title}`} incident={incident} lang={lang} t={t} />
            ))}
          </ul>
        )}
      </section>
      <p className="sp-muted sp-footer">{t('status.updated', dateTimeText(lang, view.generatedMs))}</p>
    </div>
  );
}
