import type { Monitor, MonitorSpecInput } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useState } from 'react';
import { listChannels } from '../alerts/client.ts';
import { fetchAgents } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { type AgentChoice, AgentPicker, chosenAgents } from '../tasks/AgentPicker.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { fieldErrors, saveMonitor } from './client.ts';
import { durationText } from './format.ts';

const KINDS = ['http', 'tcp', 'icmp', 'dns', 'grpc'] as const;
type Kind = (typeof KINDS)[number];
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
/** As @falconet/protocol/probes' DNS_TYPES (that module brings zod). */
const DNS_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SRV', 'TXT', 'CAA', 'NAPTR'];
const TARGET_HINT: Record<Kind, string> = {
  http: 'https://example.com/health',
  tcp: 'db.internal:5432',
  icmp: '10.0.0.1',
  dns: '1.1.1.1:53',
  grpc: 'api.internal:50051',
};

/** The options each kind's own fields edit; the rest of a kind's options are edited as JSON under "Other options". */
const FORM_OPTIONS: Record<Kind, readonly string[]> = {
  http: ['method', 'valid_status_codes', 'keyword', 'keyword_absent', 'follow_redirects'],
  tcp: ['tls'],
  icmp: [],
  dns: ['query_name', 'query_type', 'valid_rcodes'],
  grpc: ['service', 'tls'],
};

type Options = Record<string, unknown>;

interface Form {
  name: string;
  kind: Kind;
  target: string;
  interval: string;
  timeout: string;
  method: string;
  statusCodes: string;
  keyword: string;
  keywordAbsent: string;
  followRedirects: boolean;
  tls: boolean;
  queryName: string;
  queryType: string;
  rcodes: string;
  service: string;
  failing: string;
  channels: string[];
  paused: boolean;
}

const list = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** Drops what equals the schema's defaults (empty texts, lists and objects, false), so "Other options" shows only what was set. */
function pruneDefaults(o: Options): Options {
  const out: Options = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === '' || v === false || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    if (k === 'max_redirects' && v === 10) continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const inner = pruneDefaults(v as Options);
      if (Object.keys(inner).length) out[k] = inner;
      continue;
    }
    out[k] = v;
  }
  return out;
}

function initialForm(m: Monitor | undefined): Form {
  const p = m?.spec.probe;
  const o = (p?.options ?? {}) as Options;
  return {
    name: m?.spec.name ?? '',
    kind: (p?.kind as Kind | undefined) ?? 'http',
    target: p?.target ?? '',
    interval: p ? durationText(p.interval) : '30s',
    timeout: p ? durationText(p.timeout) : '5s',
    method: typeof o.method === 'string' ? o.method : 'GET',
    statusCodes: Array.isArray(o.valid_status_codes) ? o.valid_status_codes.join(', ') : '',
    keyword: typeof o.keyword === 'string' ? o.keyword : '',
    keywordAbsent: typeof o.keyword_absent === 'string' ? o.keyword_absent : '',
    followRedirects: o.follow_redirects !== false,
    tls: o.tls === true,
    queryName: typeof o.query_name === 'string' ? o.query_name : '',
    queryType: typeof o.query_type === 'string' ? o.query_type : 'A',
    rcodes: Array.isArray(o.valid_rcodes) ? o.valid_rcodes.join(', ') : 'NOERROR',
    service: typeof o.service === 'string' ? o.service : '',
    failing: String(m?.spec.alert_failing_locations ?? 1),
    channels: m?.spec.channels ?? [],
    paused: m?.spec.paused ?? false,
  };
}

/** The options the kind's fields describe. A value the server will refuse (a status code that is no number) goes as typed, so its refusal names the field. */
function kindOptions(f: Form): Options {
  switch (f.kind) {
    case 'http':
      return {
        method: f.method,
        valid_status_codes: list(f.statusCodes).map((c) => (/^\d+$/.test(c) ? Number(c) : c)),
        keyword: f.keyword,
        keyword_absent: f.keywordAbsent,
        follow_redirects: f.followRedirects,
      };
    case 'tcp':
      return { tls: f.tls };
    case 'dns':
      return { query_name: f.queryName, query_type: f.queryType, valid_rcodes: list(f.rcodes).map((c) => c.toUpperCase()) };
    case 'grpc':
      return { service: f.service, tls: f.tls };
    default:
      return {};
  }
}

/** Which part of the form a field the server names belongs to: a field of the form, "other" (the JSON) or '' (the form's message). */
function slotOf(key: string, kind: Kind): string {
  const [head, second, third] = key.split('.');
  if (head === 'probe') {
    if (second === 'options') return third && FORM_OPTIONS[kind].includes(third) ? `opt.${third}` : 'other';
    if (second === undefined) return 'kind';
    return ['kind', 'target', 'interval', 'timeout'].includes(second) ? second : '';
  }
  return ['name', 'agents', 'alert_failing_locations', 'channels', 'paused'].includes(head as string) ? (head as string) : '';
}

/**
 * Create or edit one monitor: the probe (its kind's own options as fields, the rest as JSON), the
 * agents that run it, when to alert and whom to tell. The server checks the spec; what it refuses
 * shows beside the field it names.
 */
export function MonitorForm({ monitor, onDone }: { monitor?: Monitor; onDone(saved?: Monitor): void }) {
  const { t } = useI18n();
  const [f, setF] = useState<Form>(() => initialForm(monitor));
  const [choice, setChoice] = useState<AgentChoice>({ agents: monitor?.spec.agents.ids ?? [], labels: monitor?.spec.agents.labels ?? {} });
  const [other, setOther] = useState(() => {
    const o = { ...((monitor?.spec.probe.options ?? {}) as Options) };
    for (const k of FORM_OPTIONS[initialForm(monitor).kind]) delete o[k];
    const kept = pruneDefaults(o);
    return Object.keys(kept).length ? JSON.stringify(kept, null, 2) : '';
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const agents = useQuery({ queryKey: ['agents'], queryFn: fetchAgents, staleTime: 30_000 });
  const channels = useQuery({ queryKey: ['alert-channels'], queryFn: listChannels, staleTime: 30_000 });
  const set = (k: keyof Form) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const check = (k: keyof Form) => (e: { target: { checked: boolean } }) => setF({ ...f, [k]: e.target.checked });

  // The server's refusals by the part of the form that shows them.
  const bySlot: Record<string, string> = {};
  for (const [key, text] of Object.entries(errors)) {
    const slot = key ? slotOf(key, f.kind) : '';
    const line = slot === '' && key ? `${key}: ${text}` : text;
    bySlot[slot] = bySlot[slot] ? `${bySlot[slot]}; ${line}` : line;
  }
  const err = (slot: string) => bySlot[slot];
  const chosen = chosenAgents(agents.data?.items ?? [], choice).length;

  async function submit(e: FormEvent) {
    e.preventDefault();
    let more: Options = {};
    try {
      more = other.trim() ? (JSON.parse(other) as Options) : {};
      if (typeof more !== 'object' || more === null || Array.isArray(more)) throw new Error(t('monitors.otherNotObject'));
    } catch (x) {
      setErrors({ 'probe.options': t('monitors.otherNotJson', (x as Error).message) });
      return;
    }
    const spec = {
      name: f.name,
      probe: {
        kind: f.kind,
        target: f.target.trim(),
        interval: f.interval.trim(),
        timeout: f.timeout.trim(),
        ...(monitor?.spec.probe.labels && Object.keys(monitor.spec.probe.labels).length ? { labels: monitor.spec.probe.labels } : {}),
        options: { ...more, ...kindOptions(f) },
      },
      agents: { ids: choice.agents, labels: choice.labels },
      alert_failing_locations: /^\d+$/.test(f.failing.trim()) ? Number(f.failing) : f.failing,
      channels: f.channels,
      paused: f.paused,
    } as unknown as MonitorSpecInput;
    setErrors({});
    setBusy(true);
    try {
      onDone(await saveMonitor(spec, monitor?.id));
    } catch (x) {
      setErrors(fieldErrors((x as Error).message));
    } finally {
      setBusy(false);
    }
  }

  const option = (name: string, label: string, control: ReactNode, help?: string) => (
    <Field label={label} error={err(`opt.${name}`)} help={help}>
      {control}
    </Field>
  );

  return (
    <form className="form-card monitor-form" onSubmit={submit} data-testid="monitor-form" noValidate>
      <h3>{monitor ? t('monitors.editTitle', monitor.spec.name) : t('monitors.newTitle')}</h3>
      <div className="form-grid">
        <Field label={t('monitors.field.name')} error={err('name')}>
          <input value={f.name} onChange={set('name')} data-field="name" />
        </Field>
        <Field label={t('monitors.field.kind')} error={err('kind')}>
          <select value={f.kind} onChange={set('kind')} data-field="kind">
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {t(`monitors.kind.${k}`)}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('monitors.field.target')} error={err('target')} wide>
          <input value={f.target} onChange={set('target')} placeholder={TARGET_HINT[f.kind]} data-field="target" />
        </Field>
        <Field label={t('monitors.field.interval')} error={err('interval')} help={t('monitors.field.intervalHint')}>
          <input value={f.interval} onChange={set('interval')} data-field="interval" />
        </Field>
        <Field label={t('monitors.field.timeout')} error={err('timeout')} help={t('monitors.field.timeoutHint')}>
          <input value={f.timeout} onChange={set('timeout')} data-field="timeout" />
        </Field>
        {f.kind === 'http' ? (
          <>
            {option(
              'method',
              t('monitors.opt.method'),
              <select value={f.method} onChange={set('method')} data-field="method">
                {HTTP_METHODS.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>,
            )}
            {option(
              'valid_status_codes',
              t('monitors.opt.statusCodes'),
              <input value={f.statusCodes} onChange={set('statusCodes')} placeholder="200, 301" data-field="valid_status_codes" />,
              t('monitors.opt.statusCodesHint'),
            )}
            {option('keyword', t('monitors.opt.keyword'), <input value={f.keyword} onChange={set('keyword')} data-field="keyword" />)}
            {option(
              'keyword_absent',
              t('monitors.opt.keywordAbsent'),
              <input value={f.keywordAbsent} onChange={set('keywordAbsent')} data-field="keyword_absent" />,
            )}
          </>
        ) : null}
        {f.kind === 'dns' ? (
          <>
            {option(
              'query_name',
              t('monitors.opt.queryName'),
              <input value={f.queryName} onChange={set('queryName')} data-field="query_name" />,
            )}
            {option(
              'query_type',
              t('monitors.opt.queryType'),
              <select value={f.queryType} onChange={set('queryType')} data-field="query_type">
                {DNS_TYPES.map((q) => (
                  <option key={q}>{q}</option>
                ))}
              </select>,
            )}
            {option(
              'valid_rcodes',
              t('monitors.opt.rcodes'),
              <input value={f.rcodes} onChange={set('rcodes')} data-field="valid_rcodes" />,
              'NOERROR, NXDOMAIN',
            )}
          </>
        ) : null}
        {f.kind === 'grpc'
          ? option('service', t('monitors.opt.service'), <input value={f.service} onChange={set('service')} data-field="service" />)
          : null}
        <Field label={t('monitors.field.failing')} error={err('alert_failing_locations')} help={t('monitors.field.failingHint', chosen)}>
          <input value={f.failing} onChange={set('failing')} inputMode="numeric" data-field="alert_failing_locations" />
        </Field>
      </div>
      <div className="btn-row monitor-checks">
        {f.kind === 'http' ? (
          <label className="check">
            <input type="checkbox" checked={f.followRedirects} onChange={check('followRedirects')} data-field="follow_redirects" />
            {t('monitors.opt.followRedirects')}
          </label>
        ) : null}
        {f.kind === 'tcp' || f.kind === 'grpc' ? (
          <label className="check">
            <input type="checkbox" checked={f.tls} onChange={check('tls')} data-field="tls" />
            {t('monitors.opt.tls')}
          </label>
        ) : null}
        <label className="check">
          <input type="checkbox" checked={f.paused} onChange={check('paused')} data-field="paused" />
          {t('monitors.field.paused')}
        </label>
      </div>
      {err('opt.tls') || err('opt.follow_redirects') || err('paused') ? (
        <p className="field-error">{[err('opt.tls'), err('opt.follow_redirects'), err('paused')].filter(Boolean).join('; ')}</p>
      ) : null}
      <AgentPicker agents={agents.data?.items ?? []} value={choice} onChange={setChoice} />
      {err('agents') ? (
        <p className="field-error" data-testid="field-error-agents">
          {err('agents')}
        </p>
      ) : null}
      <fieldset className="fields">
        <legend>{t('monitors.field.channels')}</legend>
        {(channels.data?.items ?? []).length === 0 ? <span className="field-help">{t('monitors.noChannels')}</span> : null}
        <div className="btn-row">
          {(channels.data?.items ?? []).map((c) => (
            <label key={c.id} className="check">
              <input
                type="checkbox"
                checked={f.channels.includes(c.id)}
                onChange={(e) => setF({ ...f, channels: e.target.checked ? [...f.channels, c.id] : f.channels.filter((x) => x !== c.id) })}
              />
              {c.name}
            </label>
          ))}
        </div>
        {err('channels') ? <small className="field-error">{err('channels')}</small> : null}
      </fieldset>
      <details className="more" open={other.trim() !== '' || err('other') !== undefined}>
        <summary>{t('monitors.otherOptions')}</summary>
        <Field label={t('monitors.otherOptions')} error={err('other')} help={t('monitors.otherOptionsHint')}>
          <textarea value={other} onChange={(e) => setOther(e.target.value)} rows={4} spellCheck={false} data-field="options" />
        </Field>
      </details>
      <FormMessage error={err('')} testid="monitor-form-error" />
      <div className="btn-row">
        <Button type="submit" variant="primary" busy={busy} data-testid="monitor-save">
          {t('monitors.save')}
        </Button>
        <Button onClick={() => onDone()}>{t('monitors.cancel')}</Button>
      </div>
    </form>
  );
}
