import type { AlertRule, RuleSpecInput } from '@falconet/protocol/api';
import { COMPARISONS, RULE_KINDS, SEVERITIES, WINDOW_AGGREGATIONS } from '@falconet/protocol/api/enums';
import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useMemo, useState } from 'react';
import { fetchAgents } from '../api.ts';
import { useI18n, word } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { saveRule } from './client.ts';
import { filtersOf, type LabelFilter, LabelFilters, selectorOf } from './LabelFilters.tsx';
import { MetricPicker } from './MetricPicker.tsx';
import { RulePreview } from './RulePreview.tsx';
import { formatValue, unitOfRule, unitSuffix } from './units.ts';

/** The fields the form shows; everything else of a spec is edited as JSON under "More settings". */
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
  'query',
  'scope',
] as const;
const META = ['id', 'source', 'createdBy', 'createdMs', 'updatedMs', 'pending', 'firing'];

const NEEDS: Record<string, readonly string[]> = {
  threshold: ['metric', 'aggregation', 'window', 'op', 'threshold', 'for', 'series_labels'],
  agent_offline: ['for'],
  no_data: ['metric', 'window', 'series_labels', 'for'],
  container_down: ['series_labels', 'for'],
  container_restarting: ['series_labels', 'restarts', 'window', 'for'],
  disk_full: ['metric', 'series_labels', 'within', 'lookback', 'threshold', 'for'],
  log_lines: ['query', 'scope', 'window', 'op', 'threshold', 'for'],
};

/** Host-selector label names every agent has, besides its own labels. */
const HOST_NAMES = ['hostname', 'agent'];

type Form = {
  name: string;
  kind: string;
  severity: string;
  metric: string;
  aggregation: string;
  window: string;
  op: string;
  threshold: string;
  for: string;
  hosts: string;
  restarts: string;
  within: string;
  lookback: string;
  query: string;
  scope: string;
  channels: string[];
};

/** The spec the form describes, or what keeps it from being one (More settings not JSON). */
function specOf(f: Form, hostLabels: LabelFilter[], seriesLabels: LabelFilter[], extra: string, rule: AlertRule | undefined) {
  const shown = (k: string) => NEEDS[f.kind]?.includes(k);
  let more: Record<string, unknown> = {};
  let problem: string | undefined;
  try {
    more = extra.trim() ? (JSON.parse(extra) as Record<string, unknown>) : {};
  } catch (err) {
    problem = (err as Error).message;
  }
  const spec: Record<string, unknown> = { ...more, name: f.name, kind: f.kind, severity: f.severity, channels: f.channels };
  const put = (k: string, v: unknown) => {
    if (shown(k) && v !== '' && v !== undefined) spec[k] = v;
  };
  put('metric', f.metric.trim());
  if (f.kind === 'threshold') put('aggregation', f.aggregation);
  if (f.kind === 'threshold' || f.kind === 'log_lines') put('op', f.op);
  // An empty log query is a query too: every line.
  if (shown('query')) spec.query = f.query;
  if (f.scope === 'fleet') put('scope', f.scope);
  put('window', f.window);
  put('threshold', f.threshold.trim() === '' ? undefined : Number(f.threshold));
  put('for', f.for);
  put('series_labels', selectorOf(seriesLabels));
  put('restarts', Number(f.restarts));
  put('within', f.within);
  put('lookback', f.lookback);
  if (f.kind === 'disk_full' && rule?.threshold === undefined && f.threshold === '90') delete spec.threshold;
  const hosts = f.hosts
    .split(/[\s,]+/)
    .map((h) => h.trim())
    .filter(Boolean);
  if (hosts.length) spec.hosts = hosts;
  const hl = selectorOf(hostLabels);
  if (hl) spec.host_labels = hl;
  return { spec: spec as unknown as RuleSpecInput, problem };
}

/** Create or edit one rule, its value previewed as it is written; the server checks it and says which field is wrong. */
export function RuleEditor({ rule, channels, onDone }: { rule?: AlertRule; channels: string[]; onDone: () => void }) {
  const { t } = useI18n();
  const rest = Object.fromEntries(
    Object.entries(rule ?? {}).filter(([k]) => !(FORM_FIELDS as readonly string[]).includes(k) && !META.includes(k)),
  );
  const [f, setF] = useState<Form>({
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
    channels: rule?.channels ?? [],
    restarts: String(rule?.restarts ?? 1),
    within: String(rule?.within ?? '24h'),
    lookback: String(rule?.lookback ?? '6h'),
    query: rule?.query ?? '',
    scope: rule?.scope ?? 'host',
  });
  // A selector that does not read as rows (hand-written text) stays text, under More settings.
  const hostRows = filtersOf(rule?.host_labels);
  const seriesRows = filtersOf(rule?.series_labels);
  const [hostLabels, setHostLabels] = useState<LabelFilter[]>(hostRows ?? []);
  const [seriesLabels, setSeriesLabels] = useState<LabelFilter[]>(seriesRows ?? []);
  const [extra, setExtra] = useState(() => {
    const kept: Record<string, unknown> = { ...rest };
    if (!hostRows && rule?.host_labels !== undefined) kept.host_labels = rule.host_labels;
    if (!seriesRows && rule?.series_labels !== undefined) kept.series_labels = rule.series_labels;
    return Object.keys(kept).length ? JSON.stringify(kept, null, 2) : '';
  });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const shown = (k: string) => NEEDS[f.kind]?.includes(k);

  const agents = useQuery({ queryKey: ['agents'], queryFn: fetchAgents, staleTime: 30_000 });
  const hostLabelNames = useMemo(() => {
    const names = new Set(HOST_NAMES);
    for (const a of agents.data?.items ?? []) for (const k of Object.keys({ ...a.labels, ...a.trustedLabels })) names.add(k);
    return [...names].sort();
  }, [agents.data]);

  const { spec, problem } = specOf(f, hostLabels, seriesLabels, extra, rule);
  const unit = unitOfRule(spec);
  const suffix = unitSuffix(unit);
  const thresholdValue = Number(f.threshold);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    if (problem) {
      setError(t('alerts.moreNotJson', problem));
      return;
    }
    setBusy(true);
    try {
      await saveRule(spec, rule?.id);
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="form-card alerts-form" onSubmit={submit} data-testid="rule-editor">
      <h3>{rule ? t('alerts.editRule', rule.name) : t('alerts.newRule')}</h3>
      <div className="form-grid">
        <Field label={t('alerts.field.name')}>
          <input value={f.name} onChange={set('name')} required data-field="name" />
        </Field>
        <Field label={t('alerts.field.kind')}>
          <select value={f.kind} onChange={set('kind')} data-field="kind">
            {RULE_KINDS.map((k) => (
              <option key={k} value={k}>
                {word(t, 'alerts.kind', k)}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('alerts.field.severity')}>
          <select value={f.severity} onChange={set('severity')} data-field="severity">
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {t(`alerts.severity.${s}`)}
              </option>
            ))}
          </select>
        </Field>
        {shown('metric') ? (
          <Field label={t('alerts.field.metric')} className="field-metric">
            <MetricPicker value={f.metric} onChange={(metric) => setF({ ...f, metric })} label={t('alerts.field.metric')} />
          </Field>
        ) : null}
        {shown('query') ? (
          <Field label={t('alerts.field.query')} help={t('alerts.field.queryHint')} className="field-metric">
            <input value={f.query} onChange={set('query')} placeholder='"connection refused" level>=error' data-field="query" />
          </Field>
        ) : null}
        {shown('scope') ? (
          <Field label={t('alerts.field.scope')}>
            <select value={f.scope} onChange={set('scope')} data-field="scope">
              <option value="host">{t('alerts.scope.host')}</option>
              <option value="fleet">{t('alerts.scope.fleet')}</option>
            </select>
          </Field>
        ) : null}
        {f.kind === 'log_lines' ? (
          <Field label={t('alerts.field.comparison')}>
            <select value={f.op} onChange={set('op')} data-field="op">
              {COMPARISONS.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </Field>
        ) : null}
        {f.kind === 'threshold' ? (
          <>
            <Field label={t('alerts.field.aggregation')} help={t(`forms.agg.${f.aggregation as (typeof WINDOW_AGGREGATIONS)[number]}`)}>
              <select value={f.aggregation} onChange={set('aggregation')} data-field="aggregation">
                {WINDOW_AGGREGATIONS.map((a) => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </Field>
            <Field label={t('alerts.field.comparison')}>
              <select value={f.op} onChange={set('op')} data-field="op">
                {COMPARISONS.map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </select>
            </Field>
          </>
        ) : null}
        {shown('threshold') ? (
          <Field
            label={t('alerts.field.threshold')}
            help={f.threshold.trim() !== '' && Number.isFinite(thresholdValue) ? formatValue(thresholdValue, unit) : undefined}
            suffix={suffix ? <span data-testid="threshold-unit">{suffix}</span> : undefined}
          >
            <input value={f.threshold} onChange={set('threshold')} inputMode="decimal" data-field="threshold" />
          </Field>
        ) : null}
        {shown('window') ? (
          <Field label={t('alerts.field.window')} help={t('forms.duration')}>
            <input value={f.window} onChange={set('window')} placeholder="1m" data-field="window" />
          </Field>
        ) : null}
        {shown('for') ? (
          <Field label={t('alerts.field.for')} help={t('forms.for')}>
            <input value={f.for} onChange={set('for')} placeholder="5m" data-field="for" />
          </Field>
        ) : null}
        {shown('restarts') ? (
          <Field label={t('alerts.field.restarts')}>
            <input value={f.restarts} onChange={set('restarts')} inputMode="numeric" data-field="restarts" />
          </Field>
        ) : null}
        {shown('within') ? (
          <Field label={t('alerts.field.within')}>
            <input value={f.within} onChange={set('within')} data-field="within" />
          </Field>
        ) : null}
        {shown('lookback') ? (
          <Field label={t('alerts.field.lookback')}>
            <input value={f.lookback} onChange={set('lookback')} data-field="lookback" />
          </Field>
        ) : null}
        <Field label={t('alerts.field.hosts')} help={t('alerts.field.hostsHint')}>
          <input value={f.hosts} onChange={set('hosts')} data-field="hosts" list="rule-hosts" />
        </Field>
        <datalist id="rule-hosts">
          {(agents.data?.items ?? []).map((a) => (
            <option key={a.id} value={a.hostname} />
          ))}
        </datalist>
      </div>
      <div className="form-grid two">
        <LabelFilters
          legend={t('alerts.field.hostLabels')}
          rows={hostLabels}
          onChange={setHostLabels}
          names={hostLabelNames}
          testid="host-labels"
        />
        {shown('series_labels') ? (
          <LabelFilters legend={t('alerts.field.seriesLabels')} rows={seriesLabels} onChange={setSeriesLabels} testid="series-labels" />
        ) : null}
      </div>
      <fieldset className="fields">
        <legend>{t('alerts.field.channels')}</legend>
        {channels.length === 0 ? <span className="field-help">{t('alerts.noChannels')}</span> : null}
        <div className="btn-row">
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
        </div>
      </fieldset>
      <details className="more" open={extra.trim() !== ''}>
        <summary>{t('alerts.moreSettings')}</summary>
        <textarea
          aria-label={t('alerts.moreSettings')}
          value={extra}
          onChange={(e) => setExtra(e.target.value)}
          rows={5}
          spellCheck={false}
          placeholder='{"description": "…", "labels": {"team": "ops"}}'
        />
      </details>
      {problem ? null : <RulePreview spec={{ ...spec, name: spec.name.trim() || 'preview' }} />}
      <FormMessage error={error} />
      <div className="btn-row">
        <Button type="submit" variant="primary" busy={busy}>
          {t('alerts.save')}
        </Button>
        <Button onClick={onDone}>{t('alerts.cancel')}</Button>
      </div>
    </form>
  );
}
