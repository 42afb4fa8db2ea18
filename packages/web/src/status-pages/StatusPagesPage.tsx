import type { Agent, Incident, IncidentSeverity, StatusLanguage, StatusPage, StatusPageSpecInput } from '@falconet/protocol/api';
import { INCIDENT_SEVERITIES } from '@falconet/protocol/api/enums';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { fetchAgents } from '../api.ts';
import { useSession } from '../auth/AuthGate.tsx';
import { useI18n } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { Field } from '../ui/Field.tsx';
import {
  addIncidentNote,
  createStatusPage,
  deleteIncident,
  deleteStatusPage,
  fetchIncidents,
  fetchMonitorChoices,
  fetchStatusPages,
  openIncident,
  previewStatusPage,
  updateStatusPage,
} from './api.ts';
import { StatusView } from './StatusView.tsx';
import { publicTranslator } from './translate.ts';
import './admin.css';

const EMPTY: StatusPageSpecInput = {
  slug: '',
  title: '',
  description: '',
  language: 'en',
  hosts: [],
  monitors: [],
  display_names: {},
  show_values: false,
};

/** The Status pages view: the list, a form to create or edit one, and the chosen page's incidents and preview. */
export function StatusPagesPage() {
  const { t } = useI18n();
  const session = useSession();
  // Before the first user exists (setup) the server lets this machine do everything.
  const canEdit = session?.user?.role === 'admin' || session?.user?.role === 'operator' || session?.mode === 'setup';
  const pages = useQuery({ queryKey: ['status-pages'], queryFn: fetchStatusPages });
  const client = useQueryClient();
  const [editing, setEditing] = useState<StatusPage | 'new' | undefined>();
  const [selected, setSelected] = useState<string>();
  const refresh = () => void client.invalidateQueries({ queryKey: ['status-pages'] });

  return (
    <section className="status-pages">
      <h1>{t('statusPages.title')}</h1>
      <p className="muted">{t('statusPages.intro')}</p>
      {!canEdit && <p className="muted">{t('statusPages.readOnly')}</p>}
      {pages.error ? <p role="alert">{(pages.error as Error).message}</p> : null}
      {canEdit && !editing && (
        <Button variant="primary" onClick={() => setEditing('new')} data-testid="status-new">
          {t('statusPages.new')}
        </Button>
      )}
      {editing && (
        <PageForm
          page={editing === 'new' ? undefined : editing}
          onDone={(saved) => {
            setEditing(undefined);
            if (saved) {
              setSelected(saved.id);
              refresh();
            }
          }}
        />
      )}
      {pages.data && pages.data.items.length === 0 && <p>{t('statusPages.none')}</p>}
      {pages.data && pages.data.items.length > 0 && (
        <table className="status-pages-table" data-testid="status-pages-table">
          <thead>
            <tr>
              <th>{t('statusPages.col.title')}</th>
              <th>{t('statusPages.col.slug')}</th>
              <th>{t('statusPages.col.items')}</th>
              <th>{t('statusPages.col.language')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {pages.data.items.map((p) => (
              <tr key={p.id} data-testid="status-page-row" className={selected === p.id ? 'selected' : undefined}>
                <td>
                  <button type="button" className="link-button" onClick={() => setSelected(p.id)}>
                    {p.spec.title}
                  </button>
                </td>
                <td>
                  <a href={`/status/${p.spec.slug}`} target="_blank" rel="noreferrer" title={t('statusPages.open')}>
                    /status/{p.spec.slug}
                  </a>
                </td>
                <td>{t('statusPages.items', p.spec.hosts.length, p.spec.monitors.length)}</td>
                <td>{p.spec.language === 'zh' ? '简体中文' : 'English'}</td>
                <td>
                  {canEdit && (
                    <>
                      <Button small variant="ghost" onClick={() => setEditing(p)}>
                        {t('statusPages.edit')}
                      </Button>
                      <Button
                        small
                        variant="danger"
                        onClick={() => {
                          if (!confirm(t('statusPages.deleteConfirm', p.spec.title))) return;
                          void deleteStatusPage(p.id).then(refresh);
                        }}
                      >
                        {t('statusPages.delete')}
                      </Button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages.data?.items
        .filter((p) => p.id === selected)
        .map((p) => (
          <PageDetail key={p.id} id={p.id} title={p.spec.title} canEdit={canEdit} />
        ))}
    </section>
  );
}

/** Create or edit: title, slug, language, the hosts and monitors shown, each with the name the public sees. */
function PageForm({ page, onDone }: { page: StatusPage | undefined; onDone(saved?: StatusPage): void }) {
  const { t } = useI18n();
  const [spec, setSpec] = useState<StatusPageSpecInput>(page ? { ...page.spec } : EMPTY);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const agents = useQuery({ queryKey: ['status-pages', 'agents'], queryFn: fetchAgents });
  const monitors = useQuery({ queryKey: ['status-pages', 'monitors'], queryFn: fetchMonitorChoices });
  const set = (patch: Partial<StatusPageSpecInput>) => setSpec((s) => ({ ...s, ...patch }));
  const names = spec.display_names ?? {};

  const toggle = (field: 'hosts' | 'monitors', id: string, on: boolean) => {
    const list = spec[field] ?? [];
    const next = on ? [...list, id] : list.filter((x) => x !== id);
    const display = { ...names };
    if (!on) delete display[id];
    set({ [field]: next, display_names: display });
  };
  const nameInput = (id: string, placeholder: string) => (
    <input
      aria-label={`${t('statusPages.field.displayName')}: ${placeholder}`}
      placeholder={placeholder}
      value={names[id] ?? ''}
      onChange={(e) => {
        const display = { ...names };
        if (e.target.value.trim()) display[id] = e.target.value;
        else delete display[id];
        set({ display_names: display });
      }}
    />
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onDone(page ? await updateStatusPage(page.id, spec) : await createStatusPage(spec));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="status-form" onSubmit={submit} data-testid="status-form">
      <Field label={t('statusPages.field.title')}>
        <input name="title" value={spec.title} onChange={(e) => set({ title: e.target.value })} required />
      </Field>
      <Field label={t('statusPages.field.slug')}>
        <input name="slug" value={spec.slug} onChange={(e) => set({ slug: e.target.value })} pattern="[a-z0-9]+(-[a-z0-9]+)*" required />
      </Field>
      <Field label={t('statusPages.field.description')} wide>
        <textarea name="description" value={spec.description ?? ''} onChange={(e) => set({ description: e.target.value })} rows={2} />
      </Field>
      <Field label={t('statusPages.field.language')}>
        <select name="language" value={spec.language ?? 'en'} onChange={(e) => set({ language: e.target.value as StatusLanguage })}>
          <option value="en">English</option>
          <option value="zh">简体中文</option>
        </select>
      </Field>
      <label className="check">
        <input
          type="checkbox"
          name="show_values"
          checked={spec.show_values ?? false}
          onChange={(e) => set({ show_values: e.target.checked })}
        />{' '}
        {t('statusPages.field.showValues')}
      </label>
      <fieldset className="fields">
        <legend>{t('statusPages.field.hosts')}</legend>
        {(agents.data?.items ?? []).map((a: Agent) => {
          const on = (spec.hosts ?? []).includes(a.id);
          return (
            <div key={a.id} className="status-choice">
              <label>
                <input type="checkbox" name="host" value={a.id} checked={on} onChange={(e) => toggle('hosts', a.id, e.target.checked)} />{' '}
                {a.hostname} <span className="muted">{a.id}</span>
              </label>
              {on && nameInput(a.id, a.hostname)}
            </div>
          );
        })}
      </fieldset>
      <fieldset className="fields">
        <legend>{t('statusPages.field.monitors')}</legend>
        {monitors.data?.length === 0 && <p className="muted">{t('statusPages.noMonitors')}</p>}
        {(monitors.data ?? []).map((m) => {
          const on = (spec.monitors ?? []).includes(m.id);
          return (
            <div key={m.id} className="status-choice">
              <label>
                <input
                  type="checkbox"
                  name="monitor"
                  value={m.id}
                  checked={on}
                  onChange={(e) => toggle('monitors', m.id, e.target.checked)}
                />{' '}
                {m.name}
              </label>
              {on && nameInput(m.id, m.name)}
            </div>
          );
        })}
      </fieldset>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="actions">
        <Button type="submit" variant="primary" busy={busy} data-testid="status-save">
          {t('statusPages.save')}
        </Button>
        <Button onClick={() => onDone()}>{t('statusPages.cancel')}</Button>
      </div>
    </form>
  );
}

/** One page's incidents (open, note, resolve, delete) and its preview as the public sees it. */
function PageDetail({ id, title: pageTitle, canEdit }: { id: string; title: string; canEdit: boolean }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const incidents = useQuery({ queryKey: ['status-pages', id, 'incidents'], queryFn: () => fetchIncidents(id) });
  const preview = useQuery({ queryKey: ['status-pages', id, 'preview'], queryFn: () => previewStatusPage(id) });
  const changed = () => void client.invalidateQueries({ queryKey: ['status-pages', id] });
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [severity, setSeverity] = useState<IncidentSeverity>('minor');
  const [error, setError] = useState<string>();

  const open = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await openIncident(id, { title, body, severity });
      setTitle('');
      setBody('');
      changed();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div className="status-detail">
      <h2>
        {t('statusPages.incidents')} · {pageTitle}
      </h2>
      {canEdit && (
        <form className="incident-form" onSubmit={open} data-testid="incident-form">
          <Field label={t('statusPages.incident.title')}>
            <input name="incident-title" value={title} onChange={(e) => setTitle(e.target.value)} required />
          </Field>
          <Field label={t('statusPages.incident.body')} wide>
            <textarea name="incident-body" value={body} onChange={(e) => setBody(e.target.value)} rows={3} />
          </Field>
          <Field label={t('statusPages.incident.severity')}>
            <select name="incident-severity" value={severity} onChange={(e) => setSeverity(e.target.value as IncidentSeverity)}>
              {INCIDENT_SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {t(`status.severity.${s}`)}
                </option>
              ))}
            </select>
          </Field>
          {error && <p role="alert">{error}</p>}
          <Button type="submit" variant="primary" data-testid="incident-open">
            {t('statusPages.incident.open')}
          </Button>
        </form>
      )}
      {incidents.data?.items.length === 0 && <p className="muted">{t('statusPages.incident.none')}</p>}
      <ul className="status-incidents">
        {incidents.data?.items.map((i) => (
          <IncidentRow key={i.id} pageId={id} incident={i} canEdit={canEdit} onChange={changed} />
        ))}
      </ul>
      <h2>
        {t('statusPages.preview')} · {pageTitle}
      </h2>
      {preview.data && (
        <div className="status-preview" data-testid="status-preview">
          <StatusView view={preview.data} lang={preview.data.language} t={publicTranslator(preview.data.language)} />
        </div>
      )}
    </div>
  );
}

function IncidentRow({ pageId, incident, canEdit, onChange }: { pageId: string; incident: Incident; canEdit: boolean; onChange(): void }) {
  const { t } = useI18n();
  const [note, setNote] = useState('');
  const [resolve, setResolve] = useState(false);
  return (
    <li data-testid="incident-row">
      <strong>{incident.title}</strong> <span className="muted">{t(`status.severity.${incident.severity}`)}</span>
      {incident.body && <p className="sp-body">{incident.body}</p>}
      <ul>
        {incident.updates.map((u) => (
          <li key={u.atMs + u.body} className="sp-body">
            {u.body}
          </li>
        ))}
      </ul>
      {canEdit && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void addIncidentNote(pageId, incident.id, { body: note, resolve }).then(() => {
              setNote('');
              setResolve(false);
              onChange();
            });
          }}
        >
          <input
            aria-label={t('statusPages.incident.note')}
            placeholder={t('statusPages.incident.note')}
            value={note}
            onChange={(e) => setNote(e.target.value)}
            required
          />
          {incident.resolvedMs === null && (
            <label>
              <input type="checkbox" checked={resolve} onChange={(e) => setResolve(e.target.checked)} />{' '}
              {t('statusPages.incident.resolveWith')}
            </label>
          )}
          <Button type="submit" small>
            {t('statusPages.incident.addNote')}
          </Button>
          <Button small variant="danger" onClick={() => void deleteIncident(pageId, incident.id).then(onChange)}>
            {t('statusPages.incident.delete')}
          </Button>
        </form>
      )}
    </li>
  );
}
