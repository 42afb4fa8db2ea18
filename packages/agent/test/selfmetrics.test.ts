import { describe, expect, it } from 'vitest';
import { renderExposition } from '../src/index.ts';
import { registerProcessMetrics, SelfMetrics } from '../src/selfmetrics.ts';

describe('self-metrics registry', () => {
  it('a module registers a family in one line; its reader runs at each scrape', () => {
    const m = new SelfMetrics();
    let depth = 3;
    m.gauge('falconet_agent_spool_depth_bytes', 'Bytes held in the spool.', () => depth);
    m.counter('falconet_agent_spool_dropped_samples_total', 'Samples dropped from the spool.', () => [
      [{ reason: 'size' }, 2],
      [{ reason: 'age' }, 0],
    ]);
    expect(renderExposition(m.families())).toContain('falconet_agent_spool_depth_bytes 3');
    depth = 7;
    const text = renderExposition(m.families());
    expect(text).toContain('falconet_agent_spool_depth_bytes 7');
    expect(text).toContain('# TYPE falconet_agent_spool_dropped_samples_total counter');
    expect(text).toContain('falconet_agent_spool_dropped_samples_total{reason="size"} 2');
  });

  it('a reader that throws or has nothing to say is left out; the rest still render', () => {
    const m = new SelfMetrics();
    m.gauge('a_broken', 'Throws.', () => {
      throw new Error('nope');
    });
    m.gauge('b_absent', 'Not applicable now.', () => undefined);
    m.gauge('c_fine', 'Fine.', () => 1);
    expect(m.families().map((f) => f.name)).toEqual(['c_fine']);
    m.gauge('c_fine', 'Re-registered.', () => 2);
    expect(m.families()[0]?.metrics[0]?.value).toBe(2);
    m.unregister('c_fine');
    expect(m.families()).toEqual([]);
  });

  it('process_* families as Prometheus client libraries name them', () => {
    const m = new SelfMetrics();
    registerProcessMetrics(m);
    const byName = new Map(m.families().map((f) => [f.name, f.metrics[0]?.value as number]));
    expect(byName.get('process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(byName.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(byName.get('process_open_fds')).toBeGreaterThan(2);
    expect(byName.get('process_max_fds')).toBeGreaterThan(0);
    expect(byName.get('process_virtual_memory_bytes')).toBeGreaterThan(1e6);
    expect(Math.abs((byName.get('process_start_time_seconds') as number) - (Date.now() - process.uptime() * 1000) / 1000)).toBeLessThan(5);
  });
});
