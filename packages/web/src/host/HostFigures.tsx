import type { Agent } from '@falconet/protocol/api';
import { useEffect, useState } from 'react';
import { duration, percent } from '../format.ts';
import { useI18n } from '../i18n.tsx';
import type { AgentStore } from '../overview/store.ts';

/** The host's system and its latest figures: this line alone follows every report, not the whole page. */
export function HostFigures({ initial, store }: { initial: Agent; store: AgentStore }) {
  const { t } = useI18n();
  const [agent, setAgent] = useState(initial);
  useEffect(() => {
    setAgent(store.get(initial.id) ?? initial);
    return store.watch(initial.id, setAgent);
  }, [initial, store]);
  const s = agent.summary;
  return (
    <p className="sub" data-testid="host-figures">
      {agent.os} · {agent.kernel} · {agent.arch} · {t('host.up', duration(s.falconet_uptime_seconds))} · CPU{' '}
      {percent(s.falconet_cpu_usage_percent)} · {t('col.memory')} {percent(s.falconet_memory_used_percent)}
    </p>
  );
}
