import type { AlertRule, RuleSpecInput } from '@falconet/protocol/api';
import { COMPARISONS, RULE_KINDS, WINDOW_AGGREGATIONS } from '@falconet/protocol/api/enums';
import { type FormEvent, useState } from 'react';
import { useI18n, word } from '../i18n.tsx';
import { saveRule } from './client.ts';

/** The fields the form shows; everything else of a spec is edited as JSON beside them. */
const FORM_FIELDS = [
  'name',
  'kind',
  'severity',
  'metric',
  'aggregation',
  'window',
  'op',
  'threshold',
  'for',
  'hosts',
  'host_labels',
  'series_labels',
  'channels',
  'restarts',
  'within',
  'lookback',
] as const;
const META = ['id', 'source', 'createdBy', 'createdMs', 'updatedMs', 'pending', 'firing'];

const NEEDS: Record<string, readonly string[]> = {
  threshold: ['metric', 'aggregation', 'window', 'op', 'threshold', 'for', 'series_labels'],
  agent_offline: ['for'],
  no_data: ['metric', 'window', 'series_labels', 'for'],
  container_down: ['series_labels', 'for'],
  container_restarting: ['series_labels', 'restarts', 'window', 'for'],
  disk_full: ['metric', 'series_labels', 'within', 'lookback', 'threshold', 'for'],
};

function selectorText(v: RuleSpecInput['host_labels']): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return `{${Object.entries(v)
    .map(([k, x]) => `${k}=${JSON.stringify(x)}`)
    .join(', ')}}`;
}

/** Create or edit one rule; the server checks it and says which field is wrong. */
export function RuleEditor({ rule, channels, onDone }: { rule?: AlertRule; channels: string[]; onDone: () => void }) {
  const { t } = useI18n();
  const rest = Object.fromEntries(
    Object.entries(rule ?? {}).filter(([k]) => !(FORM_FIELDS as readonly string[]).includes(k) && !META.includes(k)),
  );
  const [f, setF] = useState({
    name: rule?.name ?? '',
    kind: rule?.kind ?? 'threshold',
    severity: rule?.severity ?? 'warning',
    metric: rule?.metric ?? 'falconet_cpu_usage_percent',
    aggregation: rule?.aggregation ?? 'avg',
    window: String(rule?.window ?? '1m'),
    op: rule?.op ?? '>',
    threshold: rule?.threshold === undefined ? '90' : String(rule.threshold),
    for: String(rule?.for ?? '5m'),
    hosts: (rule?.hosts ?? []).join(', '),
    host_labels: selectorText(rule?.host_labels),
    series_labels: selectorText(rule?.series_labels),
    channels: rule?.channels ?? [],
    restarts: String(rule?.restarts ?? 1),
    within: String(rule?.within ?? '24h'),
    lookback: String(rule?.lookback ?? '6h'),
  });
  const [extra, setExtra] = useState(JSON.stringify(rest, null, 2));
  const [error, setError] = useState<string>();
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const shown = (k: string) => NEEDS[f.kind]?.includes(k);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    let more: Record<string, unknown>;
    try {
      more = extra.trim() ? (JSON.parse(extra) as Record<string, unknown>) : {};
    } catch (err) {
      setError(t('alerts.moreNotJson', (err as Error).message));
      return;
    }
    const spec: Record<string, unknown> = { ...more, name: f.name, kind: f.kind, severity: f.severity, channels: f.channels };
    const put = (k: string, v: unknown) => {
      if (shown(k) && v !== '' && v !== undefined) spec[k] = v;
    };
    put('metric', f.metric);
    if (f.kind === 'threshold') put('aggregation', f.aggregation);
    if (f.kind === 'threshold') put('op', f.op);
    put('window', f.window);
    put('threshold', f.threshold === '' ? undefined : Number(f.threshold));
    put('for', f.for);
    put('series_labels', f.series_labels);
    put('restarts', Number(f.restarts));
    put('within', f.within);
    put('lookback', f.lookback);
    if (f.kind === 'disk_full' && rule?.threshold === undefined && f.threshold === '90') delete spec.threshold;
    const hosts = f.hosts
      .split(/[\s,]+/)
      .map((h) => h.trim())
      .filter(Boolean);
    if (hosts.length) spec.hosts = hosts;
    if (f.host_labels.trim()) spec.host_labels = f.host_labels.trim();
    try {
      await saveRule(spec as unknown as RuleSpecInput, rule?.id);
      onDone();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <form className="alerts-form" onSubmit={submit} data-testid="rule-editor">
      <h3>{rule ? t('alerts.editRule', rule.name) : t('alerts.newRule')}</h3>
      <div className="grid">
        <label>
          {t('alerts.field.name')} <input value={f.name} onChange={set('name')} required />
        </label>
        <label>
          {t('alerts.field.kind')}
          <select value={f.kind} onChange={set('kind')}>
            {RULE_KINDS.map((k) => (
              <option key={k} value={k}>
                {word(t, 'alerts.kind', k)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('alerts.field.severity')}
          <select value={f.severity} onChange={set('severity')}>
            {(['info', 'warning', 'critical'] as const).map((s) => (
              <option key={s} value={s}>
                {t(`alerts.severity.${s}`)}
              </option>
            ))}
          </select>
        </label>
        {shown('metric') ? (
          <label>
            {t('alerts.field.metric')} <input value={f.metric} onChange={set('metric')} placeholder={t('alerts.field.metricHint')} />
          </label>
        ) : null}
        {f.kind === 'threshold' ? (
          <>
            <label>
              {t('alerts.field.aggregation')}
              <select value={f.aggregation} onChange={set('aggregation')}>
                {WINDOW_AGGREGATIONS.map((a) => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </label>
            <label>
              {t('alerts.field.comparison')}
              <select value={f.op} onChange={set('op')}>
                {COMPARISONS.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            </label>
          </>
        ) : null}
        {shown('threshold') ? (
          <label>
            {t('alerts.field.threshold')} <input value={f.threshold} onChange={set('threshold')} inputMode="decimal" />
          </label>
        ) : null}
        {shown('window') ? (
          <label>
            {t('alerts.field.window')} <input value={f.window} onChange={set('window')} placeholder="1m" />
          </label>
        ) : null}
        {shown('for') ? (
          <label>
            {t('alerts.field.for')} <input value={f.for} onChange={set('for')} placeholder="5m" />
          </label>
        ) : null}
        {shown('restarts') ? (
          <label>
            {t('alerts.field.restarts')} <input value={f.restarts} onChange={set('restarts')} inputMode="numeric" />
          </label>
        ) : null}
        {shown('within') ? (
          <label>
            {t('alerts.field.within')} <input value={f.within} onChange={set('within')} />
          </label>
        ) : null}
        {shown('lookback') ? (
          <label>
            {t('alerts.field.lookback')} <input value={f.lookback} onChange={set('lookback')} />
          </label>
        ) : null}
        <label>
          {t('alerts.field.hosts')} <input value={f.hosts} onChange={set('hosts')} placeholder={t('alerts.field.hostsHint')} />
        </label>
        <label>
          {t('alerts.field.hostLabels')} <input value={f.host_labels} onChange={set('host_labels')} placeholder='{env="prod"}' />
        </label>
        {shown('series_labels') ? (
          <label>
            {t('alerts.field.seriesLabels')}{' '}
            <input value={f.series_labels} onChange={set('series_labels')} placeholder='{mountpoint="/"}' />
          </label>
        ) : null}
      </div>
      <fieldset>
        <legend>{t('alerts.field.channels')}</legend>
        {channels.length === 0 ? <span className="sub">{t('alerts.noChannels')}</span> : null}
        {channels.map((c) => (
          <label key={c} className="check">
            <input
              type="checkbox"
              checked={f.channels.includes(c)}
              onChange={(e) => setF({ ...f, channels: e.target.checked ? [...f.channels, c] : f.channels.filter((x) => x !== c) })}
            />
            {c}
          </label>
        ))}
      </fieldset>
      <label className="wide">
        {t('alerts.moreSettings')}
        <textarea value={extra} onChange={(e) => setExtra(e.target.value)} rows={5} spellCheck={false} />
      </label>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      <div className="buttons">
        <button type="submit">{t('alerts.save')}</button>
        <button type="button" onClick={onDone}>
          {t('alerts.cancel')}
        </button>
      </div>
    </form>
  );
}
