import type { AlertChannel, ChannelField, ChannelKind } from '@falconet/protocol/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { CHANNEL_BRANDS } from '../i18n/channel-types.ts';
import { isMessageKey, useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field, FormMessage } from '../ui/Field.tsx';
import { listChannelKinds, saveChannel } from './client.ts';

/** What the API shows of a channel beside its settings. */
const META = ['id', 'source', 'createdBy', 'createdMs', 'updatedMs', 'health'];

type Value = string | boolean | string[] | [string, string][];
type Values = Record<string, Value>;

const valueAt = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

function setAt(o: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let at = o;
  for (const k of keys.slice(0, -1)) {
    at[k] ??= {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys.at(-1) as string] = v;
}

function deleteAt(o: Record<string, unknown>, path: string): void {
  const keys = path.split('.');
  const parent = valueAt(o, keys.slice(0, -1).join('.')) ?? o;
  if (keys.length === 1) delete o[path];
  else if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[keys.at(-1) as string];
}

/** A field's starting value: the channel's (secrets blank, kept unless retyped), else its default. */
function initial(f: ChannelField, channel: AlertChannel | undefined): Value {
  const v = channel ? valueAt(channel, f.name) : f.default;
  switch (f.type) {
    case 'boolean':
      return v === true;
    case 'string_list':
      return Array.isArray(v) ? v.map(String) : [];
    case 'map':
      return v && typeof v === 'object'
        ? Object.entries(v as Record<string, unknown>).map(([k, x]): [string, string] => [k, f.secret ? '' : String(x)])
        : [];
    default:
      return f.secret || v === undefined || v === null ? '' : String(v);
  }
}

/** A channel type as people call it: translated where it has a local name, else the service's own. */
export function channelTypeName(t: ReturnType<typeof useI18n>['t'], type: string): string {
  const key = `channelType.${type}`;
  return isMessageKey(key) ? t(key) : (CHANNEL_BRANDS[type] ?? type);
}

/** A field's label: the dashboard's words for it when it has them, else its name made readable. */
function fieldLabel(t: ReturnType<typeof useI18n>['t'], f: ChannelField, type: string): string {
  // A type's own words first: the same name (url, token, api_url) means another thing per service.
  const own = `channelType.${type}.field.${f.name}`;
  if (isMessageKey(own)) return t(own);
  const key = `forms.channel.field.${f.name}`;
  return isMessageKey(key) ? t(key) : f.name.replace(/[._]/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

/** A field's help: the server's own words in English, the dashboard's in another language when it has them. */
function fieldHelp(t: ReturnType<typeof useI18n>['t'], lang: string, f: ChannelField, type: string): string {
  if (lang === 'en') return f.help;
  const own = `channelType.${type}.help.${f.name}`;
  if (isMessageKey(own)) return t(own);
  const key = `forms.channel.help.${f.name}`;
  // The shared words hold for the types they were written for; another type's field keeps the server's own help.
  return isMessageKey(key) && !isMessageKey(`channelType.${type}.field.${f.name}`) ? t(key) : f.help;
}

/**
 * Create or edit a notification channel: its type's settings as fields built from the type's
 * schema (GET /api/alerts/channel-kinds). Secrets are password fields that start empty: left
 * empty, the stored secret is kept (the masked value goes back, as the API expects).
 */
export function ChannelEditor({ channel, onDone }: { channel?: AlertChannel; onDone: () => void }) {
  const { t, lang } = useI18n();
  const client = useQueryClient();
  const kinds = useQuery({ queryKey: ['alerts', 'channel-kinds'], queryFn: listChannelKinds, staleTime: Number.POSITIVE_INFINITY });
  const [type, setType] = useState(channel?.type ?? 'webhook');
  const [name, setName] = useState(channel?.name ?? '');
  const [sendResolved, setSendResolved] = useState(channel ? channel.send_resolved !== false : true);
  const [values, setValues] = useState<Record<string, Values>>({});
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const kind: ChannelKind | undefined = kinds.data?.items.find((k) => k.type === type);
  const own = (f: ChannelField): Value => values[type]?.[f.name] ?? initial(f, channel?.type === type ? channel : undefined);
  const set = (f: ChannelField, v: Value) => setValues({ ...values, [type]: { ...values[type], [f.name]: v } });

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!kind) return;
    setError(undefined);
    setBusy(true);
    // What the form does not show (templates, retry...) is kept as it was.
    const spec: Record<string, unknown> = channel ? Object.fromEntries(Object.entries(channel).filter(([k]) => !META.includes(k))) : {};
    Object.assign(spec, { name, type, send_resolved: sendResolved });
    for (const f of kind.fields) {
      const v = own(f);
      const stored = channel?.type === type ? valueAt(channel, f.name) : undefined;
      if (f.type === 'boolean') setAt(spec, f.name, v);
      else if (f.type === 'string_list') {
        const list = (v as string[]).map((x) => x.trim()).filter(Boolean);
        if (list.length) setAt(spec, f.name, list);
        else deleteAt(spec, f.name);
      } else if (f.type === 'map') {
        const rows = (v as [string, string][]).filter(([k]) => k.trim());
        const old = (stored ?? {}) as Record<string, string>;
        // A secret map value left blank keeps the stored one: its mask goes back.
        if (rows.length)
          setAt(spec, f.name, Object.fromEntries(rows.map(([k, x]) => [k.trim(), f.secret && x === '' && k in old ? old[k] : x])));
        else deleteAt(spec, f.name);
      } else if (v === '') {
        if (f.secret && typeof stored === 'string' && stored) setAt(spec, f.name, stored);
        else deleteAt(spec, f.name);
      } else setAt(spec, f.name, f.type === 'number' ? Number(v) : v);
    }
    try {
      await saveChannel(spec as Parameters<typeof saveChannel>[0], channel?.id);
      await client.invalidateQueries({ queryKey: ['alerts'] });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const input = (f: ChannelField) => {
    const v = own(f);
    const storedSecret = f.secret && channel?.type === type && Boolean(valueAt(channel, f.name));
    switch (f.type) {
      case 'boolean':
        return (
          <label className="check" key={f.name} title={fieldHelp(t, lang, f, type)}>
            <input type="checkbox" checked={v as boolean} onChange={(e) => set(f, e.target.checked)} data-field={f.name} />
            {fieldLabel(t, f, type)}
          </label>
        );
      case 'choice':
        return (
          <Field key={f.name} label={`${fieldLabel(t, f, type)}${f.required ? ' *' : ''}`} help={fieldHelp(t, lang, f, type)}>
            <select value={v as string} onChange={(e) => set(f, e.target.value)} data-field={f.name} required={f.required}>
              {f.required || f.default !== undefined ? null : <option value="">—</option>}
              {(f.options ?? []).map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
          </Field>
        );
      case 'string_list':
        return (
          <Field
            key={f.name}
            label={`${fieldLabel(t, f, type)}${f.required ? ' *' : ''}`}
            help={`${fieldHelp(t, lang, f, type)} ${t('forms.channel.onePerLine')}`}
          >
            <textarea
              rows={2}
              value={(v as string[]).join('\n')}
              onChange={(e) => set(f, e.target.value.split('\n'))}
              data-field={f.name}
              required={f.required}
            />
          </Field>
        );
      case 'map':
        return (
          <fieldset className="fields field-wide" key={f.name} data-field={f.name}>
            <legend>{fieldLabel(t, f, type)}</legend>
            <small className="field-help">{fieldHelp(t, lang, f, type)}</small>
            {(v as [string, string][]).map(([k, x], i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a row is its place; its key is being typed
              <div className="filter-row" key={i}>
                <input
                  aria-label={t('forms.channel.mapKey', fieldLabel(t, f, type), i + 1)}
                  value={k}
                  onChange={(e) =>
                    set(
                      f,
                      (v as [string, string][]).map((r, j): [string, string] => (j === i ? [e.target.value, r[1]] : r)),
                    )
                  }
                />
                <input
                  aria-label={t('forms.channel.mapValue', fieldLabel(t, f, type), i + 1)}
                  type={f.secret ? 'password' : 'text'}
                  autoComplete="off"
                  placeholder={f.secret && storedSecret ? t('forms.channel.secretKept') : ''}
                  value={x}
                  onChange={(e) =>
                    set(
                      f,
                      (v as [string, string][]).map((r, j): [string, string] => (j === i ? [r[0], e.target.value] : r)),
                    )
                  }
                />
                <Button
                  small
                  variant="ghost"
                  aria-label={t('forms.filters.remove', i + 1)}
                  onClick={() =>
                    set(
                      f,
                      (v as [string, string][]).filter((_, j) => j !== i),
                    )
                  }
                >
                  ✕
                </Button>
              </div>
            ))}
            <div>
              <Button small onClick={() => set(f, [...(v as [string, string][]), ['', '']])}>
                {t('forms.filters.add')}
              </Button>
            </div>
          </fieldset>
        );
      default:
        return (
          <Field key={f.name} label={`${fieldLabel(t, f, type)}${f.required ? ' *' : ''}`} help={fieldHelp(t, lang, f, type)}>
            <input
              type={f.secret ? 'password' : f.type === 'number' ? 'number' : f.name.endsWith('url') ? 'url' : 'text'}
              autoComplete={f.secret ? 'new-password' : 'off'}
              spellCheck={false}
              value={v as string}
              placeholder={storedSecret ? t('forms.channel.secretKept') : f.default !== undefined ? String(f.default) : ''}
              onChange={(e) => set(f, e.target.value)}
              data-field={f.name}
              required={f.required && !storedSecret}
            />
          </Field>
        );
    }
  };

  return (
    <form className="form-card alerts-form" onSubmit={submit} data-testid="channel-editor">
      <h3>{channel ? t('alerts.editRule', channel.name) : t('alerts.newChannel')}</h3>
      <div className="form-grid">
        <Field label={t('alerts.field.name')}>
          <input value={name} onChange={(e) => setName(e.target.value)} required data-field="name" />
        </Field>
        <Field label={t('alerts.field.type')}>
          <select value={type} disabled={Boolean(channel)} onChange={(e) => setType(e.target.value)} data-field="type">
            {(kinds.data?.items ?? [{ type }]).map((k) => (
              <option key={k.type} value={k.type}>
                {channelTypeName(t, k.type)}
              </option>
            ))}
          </select>
        </Field>
        <label className="check">
          <input type="checkbox" checked={sendResolved} onChange={(e) => setSendResolved(e.target.checked)} />
          {t('forms.channel.sendResolved')}
        </label>
      </div>
      {kinds.error ? <FormMessage error={(kinds.error as Error).message} /> : null}
      {kind ? (
        <div className="form-grid" data-testid="channel-fields" data-kind={kind.type}>
          {kind.fields.map(input)}
        </div>
      ) : (
        <p className="sub">{t('forms.preview.loading')}</p>
      )}
      <FormMessage error={error} />
      <div className="btn-row">
        <Button type="submit" variant="primary" busy={busy} disabled={!kind}>
          {t('alerts.save')}
        </Button>
        <Button onClick={onDone}>{t('alerts.cancel')}</Button>
      </div>
    </form>
  );
}
