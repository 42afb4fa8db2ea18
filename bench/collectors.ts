/**
 * Where a scrape's CPU goes: each enabled collector run alone, in process, many times, on this
 * host's /proc and /sys; then all of them with rendering and gzip, as /metrics does. For
 * profiling the hot path; the comparison with node_exporter is bench/exporter.
 */
import { constants, gzipSync } from 'node:zlib';
import { renderExposition } from '@falconet/protocol/exposition';
import pino from 'pino';
import { CollectorSet, selectCollectors } from '../packages/agent/src/collection.ts';
import { loadCollectorDefinitions } from '../packages/agent/src/collectors/registry.ts';
import { agentConfigSchema } from '../packages/agent/src/config.ts';
import { defaultRoots } from '../packages/agent/src/procfs/fs.ts';
import { emit, progress, quick } from './lib.ts';

const RUNS = quick ? 200 : 1000;
const log = pino({ level: 'silent' });
const config = agentConfigSchema.parse({});
const defs = selectCollectors(await loadCollectorDefinitions(), {});

async function cpuMsPerRun(names: string[] | undefined, render: boolean): Promise<number> {
  const set = new CollectorSet(names ? defs.filter((d) => names.includes(d.name)) : defs, {
    roots: defaultRoots,
    log,
    timeoutMs: 5000,
    config,
  });
  for (let i = 0; i < 20; i++) await set.collect();
  const c0 = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) {
    const c = await set.collect();
    if (render) gzipSync(renderExposition(c.families), { level: constants.Z_BEST_SPEED });
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / RUNS;
}

progress(`${defs.length} collectors, ${RUNS} runs each`);
const base = await cpuMsPerRun([], false);
for (const d of defs) {
  const ms = (await cpuMsPerRun([d.name], false)) - base;
  emit({ bench: 'collectors', metric: `${d.name}_cpu_ms`, value: Number(Math.max(0, ms).toFixed(3)), unit: 'ms' });
}
emit({ bench: 'collectors', metric: 'all_collect_cpu_ms', value: Number((await cpuMsPerRun(undefined, false)).toFixed(3)), unit: 'ms' });
emit({
  bench: 'collectors',
  metric: 'all_with_render_gzip_cpu_ms',
  value: Number((await cpuMsPerRun(undefined, true)).toFixed(3)),
  unit: 'ms',
});
