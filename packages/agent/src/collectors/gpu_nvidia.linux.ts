/**
 * NVIDIA GPUs through `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`, named as
 * utkuozdemir/nvidia_gpu_exporter names them (`nvidia_smi_<field>` with the unit as Prometheus
 * spells it, percentages as ratios, MiB as bytes, a `uuid` label): that exporter reads the same
 * tool, so its Grafana dashboard (14574) works on the agent's /metrics unchanged. DCGM's names
 * (DCGM_FI_DEV_*) come from another library with other fields, and need the DCGM daemon.
 */
import type { MetricWriter } from '../metrics.ts';
import { NoDataError } from '../procfs/fs.ts';
import { runTool } from './platform/tool.ts';
import { defineCollector } from './registry.ts';

type Kind = 'ratio' | 'bytes' | 'plain' | 'watts' | 'hz' | 'celsius';

/** The fields asked for, in order: nvidia-smi's name, the metric's, how the value converts, and its help. */
export const NVIDIA_FIELDS: readonly { field: string; metric: string; kind: Kind; help: string }[] = [
  { field: 'temperature.gpu', metric: 'nvidia_smi_temperature_gpu', kind: 'celsius', help: 'GPU core temperature in degrees Celsius.' },
  {
    field: 'temperature.memory',
    metric: 'nvidia_smi_temperature_memory',
    kind: 'celsius',
    help: 'HBM memory temperature in degrees Celsius.',
  },
  {
    field: 'utilization.gpu',
    metric: 'nvidia_smi_utilization_gpu_ratio',
    kind: 'ratio',
    help: 'Share of the sample period a kernel ran on the GPU.',
  },
  {
    field: 'utilization.memory',
    metric: 'nvidia_smi_utilization_memory_ratio',
    kind: 'ratio',
    help: 'Share of the sample period device memory was read or written.',
  },
  { field: 'memory.total', metric: 'nvidia_smi_memory_total_bytes', kind: 'bytes', help: 'Installed GPU memory.' },
  { field: 'memory.used', metric: 'nvidia_smi_memory_used_bytes', kind: 'bytes', help: 'GPU memory allocated by active contexts.' },
  { field: 'memory.free', metric: 'nvidia_smi_memory_free_bytes', kind: 'bytes', help: 'Free GPU memory.' },
  { field: 'power.draw', metric: 'nvidia_smi_power_draw_watts', kind: 'watts', help: 'Power drawn by the whole board.' },
  { field: 'power.limit', metric: 'nvidia_smi_power_limit_watts', kind: 'watts', help: 'The software power limit.' },
  { field: 'fan.speed', metric: 'nvidia_smi_fan_speed_ratio', kind: 'ratio', help: 'Intended fan speed as a share of its maximum.' },
  { field: 'clocks.current.graphics', metric: 'nvidia_smi_clocks_current_graphics_clock_hz', kind: 'hz', help: 'Current graphics clock.' },
  { field: 'clocks.current.memory', metric: 'nvidia_smi_clocks_current_memory_clock_hz', kind: 'hz', help: 'Current memory clock.' },
  {
    field: 'clocks.current.sm',
    metric: 'nvidia_smi_clocks_current_sm_clock_hz',
    kind: 'hz',
    help: 'Current streaming multiprocessor clock.',
  },
  {
    field: 'encoder.stats.sessionCount',
    metric: 'nvidia_smi_encoder_stats_session_count',
    kind: 'plain',
    help: 'Active encoder sessions.',
  },
  { field: 'pstate', metric: 'nvidia_smi_pstate', kind: 'plain', help: 'Performance state, 0 (P0, maximum) to 15 (P15, minimum).' },
];

/** Identity fields first: one series of nvidia_smi_gpu_info each GPU. */
const INFO_FIELDS = ['index', 'uuid', 'name', 'driver_version', 'vbios_version', 'pci.bus_id'] as const;

export const NVIDIA_QUERY = [...INFO_FIELDS, ...NVIDIA_FIELDS.map((f) => f.field)].join(',');

export interface NvidiaGpu {
  info: Record<(typeof INFO_FIELDS)[number], string>;
  /** By metric name; fields the GPU does not support ([N/A], [Not Supported]) are absent. */
  values: Map<string, number>;
}

function convert(kind: Kind, raw: string, field: string): number | undefined {
  // pstate is P0..P15; everything else is a number, or a bracketed "no value" ([N/A], [Not Supported]).
  const text = field === 'pstate' ? raw.replace(/^P/, '') : raw;
  if (text === '' || text.startsWith('[')) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v)) return undefined;
  switch (kind) {
    case 'ratio':
      return v / 100;
    case 'bytes':
      return v * 1024 * 1024;
    case 'hz':
      return v * 1e6;
    default:
      return v;
  }
}

/** One line per GPU, fields separated by ", " in the order asked (nvidia-smi's CSV without header or units). */
export function parseNvidiaSmi(text: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const cells = line.split(',').map((c) => c.trim());
    const expected = INFO_FIELDS.length + NVIDIA_FIELDS.length;
    if (cells.length !== expected) throw new Error(`nvidia-smi printed ${cells.length} fields where ${expected} were asked for: "${line}"`);
    const info = Object.fromEntries(INFO_FIELDS.map((f, i) => [f, cells[i] as string])) as NvidiaGpu['info'];
    const values = new Map<string, number>();
    NVIDIA_FIELDS.forEach((f, i) => {
      const v = convert(f.kind, cells[INFO_FIELDS.length + i] as string, f.field);
      if (v !== undefined) values.set(f.metric, v);
    });
    gpus.push({ info, values });
  }
  return gpus;
}

export function writeNvidiaGpus(out: MetricWriter, gpus: NvidiaGpu[]): void {
  for (const g of gpus) {
    out.gauge('nvidia_smi_gpu_info', 'A GPU nvidia-smi reports; always 1.', 1, {
      uuid: g.info.uuid,
      name: g.info.name,
      index: g.info.index,
      driver_version: g.info.driver_version,
      vbios_version: g.info.vbios_version,
      pci_bus_id: g.info['pci.bus_id'],
    });
  }
  for (const f of NVIDIA_FIELDS) {
    for (const g of gpus) {
      const v = g.values.get(f.metric);
      if (v !== undefined) out.gauge(f.metric, f.help, v, { uuid: g.info.uuid });
    }
  }
}

export default defineCollector({
  name: 'gpu_nvidia',
  defaultEnabled: true,
  description: 'NVIDIA GPUs from nvidia-smi: utilisation, memory, temperature, power, clocks (nvidia_gpu_exporter names).',
  options: ({ z }) =>
    z
      .object({
        /** The nvidia-smi to run: a name looked up in PATH, or a path. */
        command: z.string().min(1).default('nvidia-smi'),
      })
      .strict(),
  create: (_config, opts) => ({
    async update(out, { signal }) {
      const r = await runTool(opts.command, [`--query-gpu=${NVIDIA_QUERY}`, '--format=csv,noheader,nounits'], signal);
      // nvidia-smi installed without a GPU or driver says so on stdout and exits 6 or 9.
      if (r.code !== 0)
        throw new NoDataError(`${opts.command} exited ${r.code}: ${r.stdout.trim().split('\n')[0] || 'no NVIDIA GPU or driver'}`);
      const gpus = parseNvidiaSmi(r.stdout);
      if (gpus.length === 0) throw new NoDataError('nvidia-smi lists no GPU');
      writeNvidiaGpus(out, gpus);
    },
  }),
});
