/**
 * AMD GPUs from the amdgpu driver's sysfs files under /sys/class/drm/card<N>/device: busy
 * percentages, VRAM and GTT sizes and use, named as node_exporter's drm collector names them
 * (node_drm_*), plus the card's own hwmon readings (temperatures, power, fan, clocks) under the
 * card's name, so a GPU's figures carry one `card` label wherever they come from.
 */
import { join } from 'node:path';
import type { MetricWriter } from '../metrics.ts';
import { listKernelDir, NoDataError, type ProcRoots, readSysAttr, readSysNumber, sysPath } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export interface AmdGpu {
  card: string;
  vendor: string;
  uniqueId: string;
  memoryVendor: string;
  performanceLevel: string;
  busyPercent?: number | undefined;
  memoryBusyPercent?: number | undefined;
  /** Bytes, by node_drm_memory_<name>_(size|used)_bytes. */
  memory: Map<string, number>;
  /** hwmon temperatures by the driver's label (edge, junction, mem), in degrees Celsius. */
  temperatures: Map<string, number>;
  powerWatts?: number | undefined;
  powerCapWatts?: number | undefined;
  fanRpm?: number | undefined;
  /** hwmon clocks by label (sclk, mclk), in hertz. */
  clocks: Map<string, number>;
}

const MEMORY = [
  ['vram', 'mem_info_vram_total', 'mem_info_vram_used'],
  ['vis_vram', 'mem_info_vis_vram_total', 'mem_info_vis_vram_used'],
  ['gtt', 'mem_info_gtt_total', 'mem_info_gtt_used'],
] as const;

/** Whether a drm device is driven by amdgpu: its uevent names the driver (a link in sysfs, a line in the file). */
function isAmdgpu(device: string): boolean {
  return /^DRIVER=amdgpu$/m.test(readSysAttr(join(device, 'uevent')) ?? '');
}

/** Every amdgpu card under a sysfs root; connectors (card0-DP-1) and render nodes are left out. */
export function readAmdGpus(roots: ProcRoots): AmdGpu[] {
  const drm = sysPath(roots, 'class', 'drm');
  const gpus: AmdGpu[] = [];
  for (const card of listKernelDir(drm)
    .filter((n) => /^card\d+$/.test(n))
    .sort()) {
    const device = join(drm, card, 'device');
    if (!isAmdgpu(device)) continue;
    const gpu: AmdGpu = {
      card,
      vendor: readSysAttr(join(device, 'vendor')) ?? '',
      uniqueId: readSysAttr(join(device, 'unique_id')) ?? '',
      memoryVendor: readSysAttr(join(device, 'mem_info_vram_vendor')) ?? '',
      performanceLevel: readSysAttr(join(device, 'power_dpm_force_performance_level')) ?? '',
      busyPercent: readSysNumber(join(device, 'gpu_busy_percent')),
      memoryBusyPercent: readSysNumber(join(device, 'mem_busy_percent')),
      memory: new Map(),
      temperatures: new Map(),
      clocks: new Map(),
    };
    for (const [name, total, used] of MEMORY) {
      const t = readSysNumber(join(device, total));
      const u = readSysNumber(join(device, used));
      if (t !== undefined) gpu.memory.set(`${name}_size`, t);
      if (u !== undefined) gpu.memory.set(`${name}_used`, u);
    }
    for (const hw of listKernelDir(join(device, 'hwmon')).filter((n) => n.startsWith('hwmon'))) {
      const dir = join(device, 'hwmon', hw);
      for (const file of listKernelDir(dir)) {
        const temp = /^temp(\d+)_input$/.exec(file);
        if (temp) {
          const v = readSysNumber(join(dir, file));
          const label = readSysAttr(join(dir, `temp${temp[1]}_label`)) ?? `temp${temp[1]}`;
          if (v !== undefined) gpu.temperatures.set(label, v / 1000);
        }
        const freq = /^freq(\d+)_input$/.exec(file);
        if (freq) {
          const v = readSysNumber(join(dir, file));
          const label = readSysAttr(join(dir, `freq${freq[1]}_label`)) ?? `freq${freq[1]}`;
          if (v !== undefined) gpu.clocks.set(label, v);
        }
      }
      // amdgpu reports power1_average on most chips and power1_input on newer ones; microwatts.
      const power = readSysNumber(join(dir, 'power1_average')) ?? readSysNumber(join(dir, 'power1_input'));
      if (power !== undefined) gpu.powerWatts = power / 1e6;
      const cap = readSysNumber(join(dir, 'power1_cap'));
      if (cap !== undefined) gpu.powerCapWatts = cap / 1e6;
      gpu.fanRpm ??= readSysNumber(join(dir, 'fan1_input'));
    }
    gpus.push(gpu);
  }
  return gpus;
}

export function writeAmdGpus(out: MetricWriter, gpus: AmdGpu[]): void {
  for (const g of gpus) {
    const card = { card: g.card };
    out.gauge('node_drm_card_info', 'A card the amdgpu driver runs; always 1.', 1, {
      card: g.card,
      memory_vendor: g.memoryVendor,
      power_performance_level: g.performanceLevel,
      unique_id: g.uniqueId,
      vendor: 'amd',
    });
    if (g.busyPercent !== undefined) out.gauge('node_drm_gpu_busy_percent', 'How busy the GPU is, in percent.', g.busyPercent, card);
    if (g.memoryBusyPercent !== undefined)
      out.gauge('node_drm_memory_busy_percent', 'How busy the GPU memory controller is, in percent.', g.memoryBusyPercent, card);
    for (const [name, v] of g.memory) {
      const [kind, what] = [name.slice(0, name.lastIndexOf('_')), name.slice(name.lastIndexOf('_') + 1)];
      out.gauge(
        `node_drm_memory_${kind}_${what}_bytes`,
        `${kind.toUpperCase()} memory ${what === 'size' ? 'installed' : 'in use'}, in bytes.`,
        v,
        card,
      );
    }
    for (const [sensor, v] of g.temperatures)
      out.gauge('node_drm_gpu_temperature_celsius', 'A GPU temperature sensor (edge, junction, mem).', v, { ...card, sensor });
    if (g.powerWatts !== undefined)
      out.gauge('node_drm_gpu_power_watts', 'Power the GPU draws (averaged by the driver).', g.powerWatts, card);
    if (g.powerCapWatts !== undefined)
      out.gauge('node_drm_gpu_power_cap_watts', 'The power cap the driver enforces.', g.powerCapWatts, card);
    if (g.fanRpm !== undefined) out.gauge('node_drm_gpu_fan_rpm', 'The GPU fan speed.', g.fanRpm, card);
    for (const [clock, v] of g.clocks)
      out.gauge('node_drm_gpu_clock_hz', 'A GPU clock (sclk: shader, mclk: memory).', v, { ...card, clock });
  }
}

export default defineCollector({
  name: 'gpu_amd',
  // As node_exporter's drm collector, which these names follow.
  defaultEnabled: false,
  description: 'AMD GPUs from amdgpu sysfs: busy percent, VRAM and GTT, temperature, power, clocks (node_exporter drm names).',
  create: () => ({
    update(out, { roots }) {
      const gpus = readAmdGpus(roots);
      if (gpus.length === 0) throw new NoDataError(`no amdgpu card under ${sysPath(roots, 'class', 'drm')}`);
      writeAmdGpus(out, gpus);
    },
  }),
});
