import type { Agent } from '@falconet/protocol/api';
import { useMemo, useState } from 'react';
import { useI18n } from '../i18n.tsx';
import { useCombobox } from '../ui/combobox.ts';

/** What a task runs on: agents by id, and labels every one of which a chosen agent has. */
export interface AgentChoice {
  agents: string[];
  labels: Record<string, string>;
}

type Option = { kind: 'host'; agent: Agent } | { kind: 'label'; name: string; value: string; count: number };

const optionKey = (o: Option) => (o.kind === 'host' ? `host:${o.agent.id}` : `label:${o.name}=${o.value}`);

/** Agents with every one of these labels as trusted labels: those a label-targeted task runs on. */
export function agentsWithLabels(agents: readonly Agent[], labels: Record<string, string>): Agent[] {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return [];
  return agents.filter((a) => pairs.every(([k, v]) => a.trustedLabels[k] === v));
}

/** The agents a choice runs on: the hosts chosen, and those the labels select. */
export function chosenAgents(agents: readonly Agent[], choice: AgentChoice): Agent[] {
  const byId = new Set(choice.agents);
  const out = choice.agents.map((id) => agents.find((a) => a.id === id)).filter((a): a is Agent => a !== undefined);
  for (const a of agentsWithLabels(agents, choice.labels)) if (!byId.has(a.id)) out.push(a);
  return out;
}

/** The request's target: labels alone stay labels (the server resolves them); with hosts, the agents both choose. */
export function targetOf(agents: readonly Agent[], choice: AgentChoice): { agents: string[] } | { labels: Record<string, string> } {
  if (choice.agents.length === 0) return { labels: choice.labels };
  return { agents: chosenAgents(agents, choice).map((a) => a.id) };
}

/**
 * Choose agents by host name or by label, searching both: a list of the fleet's hosts (name, id,
 * addresses) and trusted label pairs, filtered as one types, arrows and Enter to pick; chosen
 * ones are chips with a remove button. Only trusted labels are offered: they alone choose agents.
 */
export function AgentPicker({ agents, value, onChange }: { agents: readonly Agent[]; value: AgentChoice; onChange(v: AgentChoice): void }) {
  const { t } = useI18n();
  const [text, setText] = useState('');

  const labelOptions = useMemo(() => {
    const counts = new Map<string, { name: string; value: string; count: number }>();
    for (const a of agents) {
      for (const [name, v] of Object.entries(a.trustedLabels)) {
        const k = `${name}=${v}`;
        const e = counts.get(k);
        if (e) e.count++;
        else counts.set(k, { name, value: v, count: 1 });
      }
    }
    return [...counts.values()].sort((a, b) => a.name.localeCompare(b.name) || a.value.localeCompare(b.value));
  }, [agents]);

  const q = text.trim().toLowerCase();
  const options: Option[] = useMemo(() => {
    const hosts = agents
      .filter((a) => !value.agents.includes(a.id))
      .filter((a) => !q || a.hostname.toLowerCase().includes(q) || a.id.startsWith(q) || a.ips.some((ip) => ip.startsWith(q)))
      .sort((a, b) => a.hostname.localeCompare(b.hostname))
      .slice(0, 30)
      .map((agent): Option => ({ kind: 'host', agent }));
    const labels = labelOptions
      .filter((l) => value.labels[l.name] !== l.value)
      .filter((l) => !q || `${l.name}=${l.value}`.toLowerCase().includes(q))
      .slice(0, 20)
      .map((l): Option => ({ kind: 'label', ...l }));
    return [...labels, ...hosts];
  }, [agents, labelOptions, q, value]);

  const pick = (o: Option) => {
    if (o.kind === 'host') onChange({ ...value, agents: [...value.agents, o.agent.id] });
    else onChange({ ...value, labels: { ...value.labels, [o.name]: o.value } });
    setText('');
  };
  const box = useCombobox(options, pick, { firstActive: 0, showEmpty: q !== '' });
  const chosen = chosenAgents(agents, value);
  const hostOf = (agentId: string) => agents.find((a) => a.id === agentId)?.hostname ?? agentId;

  return (
    <fieldset className="fields agent-picker" data-testid="agent-picker">
      <legend>{t('forms.agents.label')}</legend>
      <div className="picker-box">
        <div className="chips">
          {Object.entries(value.labels).map(([k, v]) => (
            <span className="chip label" key={`l:${k}`} data-testid="chosen-label">
              {k}={v}
              <button
                type="button"
                aria-label={t('forms.agents.remove', `${k}=${v}`)}
                onClick={() => onChange({ ...value, labels: Object.fromEntries(Object.entries(value.labels).filter(([x]) => x !== k)) })}
              >
                ✕
              </button>
            </span>
          ))}
          {value.agents.map((a) => (
            <span className="chip host" key={`h:${a}`} data-testid="chosen-host">
              {hostOf(a)}
              <button
                type="button"
                aria-label={t('forms.agents.remove', hostOf(a))}
                onClick={() => onChange({ ...value, agents: value.agents.filter((x) => x !== a) })}
              >
                ✕
              </button>
            </span>
          ))}
          <input
            {...box.input}
            aria-label={t('forms.agents.search')}
            placeholder={t('forms.agents.search')}
            value={text}
            data-testid="agent-search"
            onChange={(e) => {
              setText(e.target.value);
              box.typed();
            }}
            onKeyDown={(e) => {
              box.input.onKeyDown(e);
              if (e.key === 'Backspace' && text === '' && value.agents.length) {
                onChange({ ...value, agents: value.agents.slice(0, -1) });
              }
            }}
          />
        </div>
        {box.expanded ? (
          <div className="suggestions" role="listbox" id={box.listId} aria-label={t('forms.agents.label')}>
            {options.length === 0 ? <div className="empty">{t('forms.agents.none', text)}</div> : null}
            {options.map((o, i) => (
              <div key={optionKey(o)} {...box.option(i, o)} data-testid={o.kind === 'host' ? 'option-host' : 'option-label'}>
                {o.kind === 'host' ? (
                  <>
                    <span>{o.agent.hostname}</span>
                    <span className="sub">
                      {o.agent.id.slice(0, 8)}
                      {o.agent.status === 'offline' ? ` · ${t('forms.agents.offline')}` : ''}
                    </span>
                  </>
                ) : (
                  <>
                    <span className="mono">
                      {o.name}={o.value}
                    </span>
                    <span className="sub">{t('forms.agents.matching', o.count)}</span>
                  </>
                )}
              </div>
            ))}
          </div>
        ) : null}
      </div>
      <small className="field-help" data-testid="agent-targets">
        {chosen.length === 1
          ? t('forms.agents.targetsOne', (chosen[0] as Agent).hostname)
          : chosen.length
            ? t(
                'forms.agents.targets',
                chosen.length,
                chosen
                  .slice(0, 8)
                  .map((a) => a.hostname)
                  .join(', ') + (chosen.length > 8 ? ', …' : ''),
              )
            : t('forms.agents.targetsNone')}
      </small>
      <small className="field-help">{t('forms.agents.labelHelp')}</small>
    </fieldset>
  );
}
