/**
 * Realistic host series for benchmarks and simulations: what node_exporter, cAdvisor and the
 * agent's own summary report, with the value shapes they really have (integer byte counters,
 * CPU seconds in hundredths, gauges that wander, per-core, per-mount, per-interface and
 * per-container families, and now and then a NaN).
 *
 * `realisticHostSeries({ seriesPerHost })` is a SeriesGenerator for testing/simulator.ts:
 * deterministic per (host, time), with per-host state so counters only go up.
 * `observedHostSeries(observed)` is one too, for hosts that send what a real agent sent: the
 * same names and labels, values shaped after the ones it reported.
 */
import type { Labels, Sample } from '@falconet/protocol';
import type { SeriesGenerator } from './simulator.ts';

type Kind =
  /** `start`: the first value (by default a deterministic one below a million). */
  | { type: 'counter'; rate: number; jitter: number; scale: number; start?: number }
  | { type: 'gauge'; base: number; amplitude: number; noise: number; scale: number; min?: number; max?: number }
  | { type: 'constant'; value: number }
  | { type: 'float'; base: number; amplitude: number }
  | { type: 'clock' };

interface SeriesSpec {
  name: string;
  labels: Readonly<Record<string, string>>;
  kind: Kind;
  /** Fraction of reports in which this series reads NaN (a sensor or division that failed). */
  nanRate?: number;
}

export interface RealisticSeriesOptions {
  /** Series per host (the families are filled in until there are this many). */
  seriesPerHost?: number;
  /** Seed so two runs produce the same values. */
  seed?: number;
}

const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const MODE_SHARE: Record<(typeof CPU_MODES)[number], number> = {
  user: 0.22,
  nice: 0.001,
  system: 0.06,
  idle: 0.69,
  iowait: 0.02,
  irq: 0.001,
  softirq: 0.008,
  steal: 0,
};

/** The series families of one host, in a fixed order; their count is at least `target`. */
function hostSpecs(host: number, target: number): SeriesSpec[] {
  const specs: SeriesSpec[] = [];
  const add = (name: string, labels: Record<string, string>, kind: Kind, nanRate?: number) =>
    specs.push(nanRate ? { name, labels, kind, nanRate } : { name, labels, kind });
  const cores = 2 + (host % 4) * 2;
  const memTotal = 2 ** 30 * 2 ** (2 + (host % 4));
  // The agent's own summary gauges: computed ratios, so arbitrary floats.
  add('falconet_cpu_usage_percent', {}, { type: 'float', base: 30 + (host % 40), amplitude: 20 });
  add('falconet_memory_used_percent', {}, { type: 'float', base: 40 + (host % 30), amplitude: 5 });
  add('falconet_disk_used_percent', {}, { type: 'float', base: 20 + (host % 50), amplitude: 0.5 });
  add('falconet_network_receive_bytes_per_second', {}, { type: 'float', base: 2e5, amplitude: 1.5e5 });
  add('falconet_network_transmit_bytes_per_second', {}, { type: 'float', base: 8e4, amplitude: 6e4 });
  add('falconet_uptime_seconds', {}, { type: 'counter', rate: 1, jitter: 0, scale: 100 });
  add('node_load1', {}, { type: 'gauge', base: cores * 0.3, amplitude: cores * 0.2, noise: 0.3, scale: 100, min: 0 });
  add('node_load5', {}, { type: 'gauge', base: cores * 0.3, amplitude: cores * 0.15, noise: 0.1, scale: 100, min: 0 });
  add('node_load15', {}, { type: 'gauge', base: cores * 0.3, amplitude: cores * 0.1, noise: 0.05, scale: 100, min: 0 });
  add('node_boot_time_seconds', {}, { type: 'constant', value: 1_735_000_000 + host * 37 });
  add('node_time_seconds', {}, { type: 'clock' });
  add('node_context_switches_total', {}, { type: 'counter', rate: 3000 * cores, jitter: 0.3, scale: 1 });
  add('node_intr_total', {}, { type: 'counter', rate: 2000 * cores, jitter: 0.3, scale: 1 });
  add('node_forks_total', {}, { type: 'counter', rate: 5, jitter: 1, scale: 1 });
  add('node_procs_running', {}, { type: 'gauge', base: 2, amplitude: 1, noise: 1, scale: 1, min: 0 });
  add('node_procs_blocked', {}, { type: 'gauge', base: 0, amplitude: 0, noise: 0.4, scale: 1, min: 0 });
  add(
    'node_hwmon_temp_celsius',
    { chip: 'platform_coretemp_0', sensor: 'temp1' },
    { type: 'gauge', base: 48, amplitude: 6, noise: 1, scale: 1000 },
    0.02,
  );
  for (const m of ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SwapTotal', 'SwapFree', 'Active', 'Inactive', 'Dirty']) {
    const share = {
      MemTotal: 1,
      MemFree: 0.2,
      MemAvailable: 0.5,
      Buffers: 0.02,
      Cached: 0.3,
      SwapTotal: 0.25,
      SwapFree: 0.24,
      Active: 0.35,
      Inactive: 0.25,
      Dirty: 0.0005,
    }[m] as number;
    const constant = m === 'MemTotal' || m === 'SwapTotal';
    add(
      `node_memory_${m}_bytes`,
      {},
      constant
        ? { type: 'constant', value: memTotal * share }
        : { type: 'gauge', base: memTotal * share, amplitude: memTotal * share * 0.05, noise: 4096 * 64, scale: 1 / 4096 },
    );
  }
  for (let c = 0; c < cores; c++) {
    for (const mode of CPU_MODES) {
      add('node_cpu_seconds_total', { cpu: String(c), mode }, { type: 'counter', rate: MODE_SHARE[mode], jitter: 0.5, scale: 100 });
    }
  }
  const mounts = [
    ['/', '/dev/vda1', 'ext4'],
    ['/boot', '/dev/vda15', 'vfat'],
    ['/var/lib/docker', '/dev/vdb', 'xfs'],
  ] as const;
  for (const [mountpoint, device, fstype] of mounts) {
    const labels = { device, fstype, mountpoint };
    const size = 2 ** 30 * (mountpoint === '/boot' ? 1 : 100);
    add('node_filesystem_size_bytes', labels, { type: 'constant', value: size });
    add('node_filesystem_free_bytes', labels, {
      type: 'gauge',
      base: size * 0.6,
      amplitude: size * 0.001,
      noise: 4096 * 16,
      scale: 1 / 4096,
    });
    add('node_filesystem_avail_bytes', labels, {
      type: 'gauge',
      base: size * 0.55,
      amplitude: size * 0.001,
      noise: 4096 * 16,
      scale: 1 / 4096,
    });
    add('node_filesystem_files', labels, { type: 'constant', value: 6_553_600 });
    add('node_filesystem_files_free', labels, { type: 'gauge', base: 6_000_000, amplitude: 1000, noise: 20, scale: 1 });
  }
  for (const device of ['eth0', 'lo']) {
    const rate = device === 'lo' ? 2e4 : 2e5;
    for (const dir of ['receive', 'transmit']) {
      add(`node_network_${dir}_bytes_total`, { device }, { type: 'counter', rate, jitter: 0.6, scale: 1 });
      add(`node_network_${dir}_packets_total`, { device }, { type: 'counter', rate: rate / 800, jitter: 0.6, scale: 1 });
      add(`node_network_${dir}_errs_total`, { device }, { type: 'counter', rate: 0, jitter: 0, scale: 1 });
      add(`node_network_${dir}_drop_total`, { device }, { type: 'counter', rate: 0.001, jitter: 1, scale: 1 });
    }
  }
  for (const device of ['vda', 'vdb']) {
    add('node_disk_reads_completed_total', { device }, { type: 'counter', rate: 20, jitter: 0.8, scale: 1 });
    add('node_disk_writes_completed_total', { device }, { type: 'counter', rate: 40, jitter: 0.8, scale: 1 });
    add('node_disk_read_bytes_total', { device }, { type: 'counter', rate: 20 * 16384, jitter: 0.8, scale: 1 / 512 });
    add('node_disk_written_bytes_total', { device }, { type: 'counter', rate: 40 * 8192, jitter: 0.8, scale: 1 / 512 });
    add('node_disk_io_time_seconds_total', { device }, { type: 'counter', rate: 0.05, jitter: 0.8, scale: 1000 });
  }
  // Containers fill the rest, cAdvisor style: CPU in nanosecond-precise seconds, memory, network, fs.
  for (let k = 0; specs.length < target; k++) {
    const labels = {
      id: `/docker/${(host * 7919 + k * 104729).toString(16).padStart(12, '0')}`,
      image: `app-${k % 5}:1.${k % 3}`,
      name: `svc-${k}`,
    };
    add('container_cpu_usage_seconds_total', labels, { type: 'counter', rate: 0.05 + (k % 10) / 20, jitter: 0.5, scale: 1e9 });
    add('container_memory_usage_bytes', labels, {
      type: 'gauge',
      base: 2 ** 27 * (1 + (k % 8)),
      amplitude: 2 ** 22,
      noise: 2 ** 16,
      scale: 1 / 4096,
    });
    add('container_memory_working_set_bytes', labels, {
      type: 'gauge',
      base: 2 ** 26 * (1 + (k % 8)),
      amplitude: 2 ** 21,
      noise: 2 ** 16,
      scale: 1 / 4096,
    });
    add('container_network_receive_bytes_total', labels, { type: 'counter', rate: 5000 * (1 + (k % 4)), jitter: 0.7, scale: 1 });
    add('container_network_transmit_bytes_total', labels, { type: 'counter', rate: 3000 * (1 + (k % 4)), jitter: 0.7, scale: 1 });
    add('container_fs_usage_bytes', labels, { type: 'gauge', base: 2 ** 28, amplitude: 2 ** 20, noise: 4096, scale: 1 / 4096 });
    add('container_spec_memory_limit_bytes', labels, { type: 'constant', value: 2 ** 30 });
    add('container_last_seen', labels, { type: 'clock' });
  }
  return specs.slice(0, target);
}

/** A small fast deterministic hash to [0, 1). */
function noise(a: number, b: number, c: number): number {
  let h = (a * 0x27d4eb2d) ^ (b * 0x165667b1) ^ (c * 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

interface HostState {
  specs: SeriesSpec[];
  counters: Float64Array;
  lastMs: number;
}

/** Hosts that send `seriesPerHost` series of the families above (containers fill up the rest). */
export function realisticHostSeries(opts: RealisticSeriesOptions = {}): SeriesGenerator {
  const target = opts.seriesPerHost ?? 200;
  return generatorOf((host) => hostSpecs(host, target), opts.seed ?? 1);
}

/** One series of a real agent's reports: its name, labels and the values it had, in time order. */
export interface ObservedSeries {
  name: string;
  labels: Labels;
  /** [timestamp_ms, value]; null where the value was not a number. */
  points: [number, number | null][];
}

/** Digits after the decimal point; more than 9 (or an exponent) means an arbitrary float. */
function decimals(v: number): number {
  const s = String(v);
  if (s.includes('e')) return 10;
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}

/**
 * How a series behaves, read from the values a real agent reported: unchanged values stay
 * constant, a clock follows the clock, a rising `_total` (or a value rising one per second, an
 * uptime) counts on at the rate seen, anything else wanders within the range seen, with the
 * precision it had.
 */
function observedSpec(o: ObservedSeries): SeriesSpec {
  const seen = o.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]));
  const spec = (kind: Kind): SeriesSpec => {
    const nanRate = 1 - seen.length / o.points.length;
    return nanRate > 0 ? { name: o.name, labels: o.labels, kind, nanRate } : { name: o.name, labels: o.labels, kind };
  };
  const values = seen.map(([, v]) => v);
  const first = seen[0];
  const last = seen.at(-1);
  if (!first || !last) return spec({ type: 'constant', value: Number.NaN });
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (min === max) return spec({ type: 'constant', value: first[1] });
  if (seen.every(([t, v]) => Math.abs(v - t / 1000) < 1)) return spec({ type: 'clock' });
  const places = Math.max(...values.map(decimals));
  const rate = (last[1] - first[1]) / ((last[0] - first[0]) / 1000);
  const rising = values.every((v, i) => i === 0 || v >= (values[i - 1] as number));
  const perSecond = Math.abs(rate - 1) < 0.05;
  if (rising && (o.name.endsWith('_total') || perSecond)) {
    return spec({ type: 'counter', rate, jitter: perSecond ? 0 : 0.5, scale: 10 ** Math.min(places, 9), start: last[1] });
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const spread = (max - min) / 2;
  if (places > 6) return spec({ type: 'float', base: mean, amplitude: spread });
  return spec({ type: 'gauge', base: mean, amplitude: spread, noise: spread, scale: 10 ** places, ...(min >= 0 ? { min: 0 } : {}) });
}

/**
 * Hosts that send the series a real agent sent (see ObservedSeries): every host the same
 * names and labels, its own values (phase and noise differ per host).
 */
export function observedHostSeries(observed: readonly ObservedSeries[], opts: { seed?: number } = {}): SeriesGenerator {
  const specs = observed.map(observedSpec);
  return generatorOf(() => specs, opts.seed ?? 1);
}

/** Values for each host's specs: deterministic per (host, time), with per-host state so counters only go up. */
function generatorOf(specsOf: (host: number) => SeriesSpec[], seed: number): SeriesGenerator {
  const hosts = new Map<number, HostState>();
  return (host: number, t: number): Sample[] => {
    let st = hosts.get(host);
    if (!st) {
      const specs = specsOf(host);
      const counters = new Float64Array(specs.length);
      specs.forEach((s, i) => {
        if (s.kind.type === 'counter') counters[i] = s.kind.start ?? Math.round(noise(seed, host, i) * 1e6 * s.kind.scale) / s.kind.scale;
      });
      st = { specs, counters, lastMs: t - 10_000 };
      hosts.set(host, st);
    }
    const dt = Math.max(0, (t - st.lastMs) / 1000);
    st.lastMs = t;
    const step = Math.floor(t / 10_000);
    const phase = (t / 600_000 + host) % (2 * Math.PI);
    const out: Sample[] = new Array(st.specs.length);
    for (let i = 0; i < st.specs.length; i++) {
      const s = st.specs[i] as SeriesSpec;
      const r = noise(seed + step, host, i);
      let value: number;
      const k = s.kind;
      switch (k.type) {
        case 'counter': {
          const inc = k.rate * dt * (1 + k.jitter * (r - 0.5) * 2);
          // Counters are integers in their own unit (bytes, ticks, ns): exact decimals.
          const next = Math.round(((st.counters[i] as number) + Math.max(0, inc)) * k.scale) / k.scale;
          st.counters[i] = next;
          value = next;
          break;
        }
        case 'gauge': {
          let v = k.base + k.amplitude * Math.sin(phase + i) + k.noise * (r - 0.5) * 2;
          if (k.min !== undefined) v = Math.max(k.min, v);
          if (k.max !== undefined) v = Math.min(k.max, v);
          value = Math.round(v * k.scale) / k.scale;
          break;
        }
        case 'constant':
          value = k.value;
          break;
        case 'float':
          value = k.base + k.amplitude * Math.sin(phase + i) * (0.8 + 0.4 * r);
          break;
        case 'clock':
          value = t / 1000;
          break;
      }
      if (s.nanRate && r < s.nanRate) value = Number.NaN;
      out[i] = { name: s.name, labels: s.labels, value, timestampMs: t };
    }
    return out;
  };
}
