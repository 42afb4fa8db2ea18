import type { LogLine } from '@falconet/protocol/api';
import { levelName } from './levels.ts';
import type { StoredLogLine } from './types.ts';

/** A stored line as the API and the live tail show it. */
export function apiLine(l: StoredLogLine): LogLine {
  const r = l.record;
  return {
    id: l.id,
    timeMs: r.timeMs,
    observedMs: r.observedMs,
    agentId: l.agentId,
    host: l.host,
    source: r.source,
    stream: r.stream,
    level: levelName(r.level),
    message: r.message,
    labels: r.labels,
    fields: r.fields,
  };
}
