/**
 * The GPU, S.M.A.R.T. and systemd collectors on recorded outputs of real devices (fixtures/tools,
 * fixtures/amdgpu: each says where its shape comes from), run through the agent's own collection
 * with a shell script standing in for nvidia-smi, smartctl and systemctl that records the exact
 * arguments; and on this machine as it is, where none of the devices exists and systemd is not
 * PID 1: each says so in one log line and is switched off. smartctl there is Debian's own.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesValue } from '../../../testing/exposition.ts';
import { tempDir } from '../../../testing/processes.ts';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import { CollectorSet } from '../src/collection.ts';
import { NVIDIA_QUERY } from '../src/collectors/gpu_nvidia.linux.ts';
import { loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { agentConfigSchema } from '../src/config.ts';
import type { MetricFamily } from '../src/metrics.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const TOOLS = join(FIXTURES, 'tools');
const dir = tempDir('falconet-devices-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for a tool: records its arguments, prints the fixture the first matching case names, exits with its status. */
function fakeTool(name: string, cases: [glob: string, fixture: string, exit?: number][]): { command: string; calls: () => string[] } {
  const log = join(dir, `${name}.calls`);
  writeFileSync(log, '');
  const branches = cases
    .map(([glob, fixture, exit]) => `  ${glob}) grep -v '^#' '${join(TOOLS, fixture)}'; exit ${exit ?? 0} ;;`)
    .join('\n');
  const command = join(dir, name);
  writeFileSync(
    command,
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\ncase "$*" in\n${branches}\n  *) echo "unexpected: $*" >&2; exit 64 ;;\nesac\n`,
  );
  chmodSync(command, 0o755);
  return { command, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

interface Run {
  families: MetricFamily[];
  lines: Record<string, unknown>[];
  collect(): Promise<MetricFamily[]>;
}

async function run(name: string, opts: { options?: Record<string, unknown>; sys?: string; rootfs?: string } = {}): Promise<Run> {
  const defs = (await loadCollectorDefinitions('linux')).filter((d) => d.name === name);
  expect(defs).toHaveLength(1);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const config = agentConfigSchema.parse({ collector_options: opts.options ?? {} });
  const roots = { ...fixtureRoots('basic'), ...(opts.sys ? { sys: opts.sys } : {}), ...(opts.rootfs ? { rootfs: opts.rootfs } : {}) };
  const set = new CollectorSet(defs, { roots, log, timeoutMs: 20_000, config });
  const collect = async () => (await set.collect()).families;
  return { families: await collect(), lines, collect };
}

const v = seriesValue;
const success = (f: MetricFamily[], collector: string) => v(f, 'node_scrape_collector_success', { collector });

describe('gpu_nvidia', () => {
  it('asks nvidia-smi for its fields and reports them in nvidia_gpu_exporter names, skipping [N/A]', async () => {
    const tool = fakeTool('nvidia-smi', [['*', 'nvidia-smi.csv']]);
    const { families: f } = await run('gpu_nvidia', { options: { gpu_nvidia: { command: tool.command } } });
    expect(tool.calls()).toEqual([`--query-gpu=${NVIDIA_QUERY} --format=csv,noheader,nounits`]);
    const a100 = { uuid: 'GPU-a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d' };
    const rtx = { uuid: 'GPU-5f2a3b1c-8d4e-4f6a-9b2c-1d3e5f7a9b0c' };
    expect(
      v(f, 'nvidia_smi_gpu_info', {
        ...a100,
        name: 'NVIDIA A100-SXM4-40GB',
        index: '1',
        driver_version: '535.129.03',
        pci_bus_id: '00000000:07:00.0',
      }),
    ).toBe(1);
    expect(v(f, 'nvidia_smi_utilization_gpu_ratio', a100)).toBe(0.87);
    expect(v(f, 'nvidia_smi_memory_used_bytes', a100)).toBe(32012 * 1024 * 1024);
    expect(v(f, 'nvidia_smi_memory_total_bytes', rtx)).toBe(24576 * 1024 * 1024);
    expect(v(f, 'nvidia_smi_temperature_gpu', rtx)).toBe(46);
    expect(v(f, 'nvidia_smi_temperature_memory', a100)).toBe(38);
    expect(v(f, 'nvidia_smi_temperature_memory', rtx)).toBeUndefined();
    expect(v(f, 'nvidia_smi_fan_speed_ratio', a100)).toBeUndefined();
    expect(v(f, 'nvidia_smi_power_draw_watts', rtx)).toBe(25.61);
    expect(v(f, 'nvidia_smi_clocks_current_graphics_clock_hz', a100)).toBe(1410e6);
    expect(v(f, 'nvidia_smi_pstate', rtx)).toBe(8);
    expect(v(f, 'nvidia_smi_encoder_stats_session_count', a100)).toBeUndefined();
    expect(success(f, 'gpu_nvidia')).toBe(1);
  });

  it('without nvidia-smi: one log line, then switched off', async () => {
    const r = await run('gpu_nvidia', { options: { gpu_nvidia: { command: join(dir, 'no-such-nvidia-smi') } } });
    await r.collect();
    await r.collect();
    const said = r.lines.filter((l) => l.collector === 'gpu_nvidia');
    expect(said).toHaveLength(1);
    expect(said[0]?.msg).toMatch(/^collector gpu_nvidia switched off: .*no-such-nvidia-smi is not installed/);
  });

  it('a driver that is not loaded: nvidia-smi exits 9 and says why, in that one line', async () => {
    const tool = fakeTool('nvidia-smi-nodriver', [['*', 'nvidia-smi-nodriver.txt', 9]]);
    const r = await run('gpu_nvidia', { options: { gpu_nvidia: { command: tool.command } } });
    const said = r.lines.filter((l) => l.collector === 'gpu_nvidia');
    expect(said.map((l) => l.msg)).toEqual([
      expect.stringMatching(/switched off: .* exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/),
    ]);
  });
});

describe('gpu_amd', () => {
  it('reads amdgpu cards only, in node_exporter drm names, with the card hwmon readings', async () => {
    const { families: f } = await run('gpu_amd', { sys: join(FIXTURES, 'amdgpu', 'sys') });
    const card = { card: 'card0' };
    expect(v(f, 'node_drm_card_info', { ...card, memory_vendor: 'samsung', power_performance_level: 'auto', vendor: 'amd' })).toBe(1);
    expect(f.find((x) => x.name === 'node_drm_card_info')?.metrics).toHaveLength(1);
    expect(v(f, 'node_drm_gpu_busy_percent', card)).toBe(37);
    expect(v(f, 'node_drm_memory_busy_percent', card)).toBe(12);
    expect(v(f, 'node_drm_memory_vram_size_bytes', card)).toBe(17163091968);
    expect(v(f, 'node_drm_memory_vram_used_bytes', card)).toBe(1073741824);
    expect(v(f, 'node_drm_memory_vis_vram_size_bytes', card)).toBe(268435456);
    expect(v(f, 'node_drm_memory_gtt_used_bytes', card)).toBe(52428800);
    expect(v(f, 'node_drm_gpu_temperature_celsius', { ...card, sensor: 'junction' })).toBe(61);
    expect(v(f, 'node_drm_gpu_power_watts', card)).toBe(112);
    expect(v(f, 'node_drm_gpu_power_cap_watts', card)).toBe(272);
    expect(v(f, 'node_drm_gpu_fan_rpm', card)).toBe(1187);
    expect(v(f, 'node_drm_gpu_clock_hz', { ...card, clock: 'sclk' })).toBe(2285e6);
  });

  it('is off by default, and on a host without amdgpu says so once', async () => {
    expect((await loadCollectorDefinitions('linux')).find((d) => d.name === 'gpu_amd')?.defaultEnabled).toBe(false);
    const r = await run('gpu_amd', { sys: join(dir, 'empty-sys') });
    await r.collect();
    expect(r.lines.filter((l) => l.collector === 'gpu_amd').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^collector gpu_amd switched off: no amdgpu card under .*empty-sys\/class\/drm/),
    ]);
  });
});

describe('smart', () => {
  it('scans, reads each device with -a, and reports SATA and NVMe in smartctl_exporter names', async () => {
    const tool = fakeTool('smartctl', [
      ['*--scan-open*', 'smartctl-scan.json'],
      ['*/dev/sda', 'smartctl-sata.json'],
      ['*/dev/nvme0', 'smartctl-nvme.json'],
      ['*/dev/sdb', 'smartctl-scsi-nosmart.json', 4],
    ]);
    const r = await run('smart', { options: { smart: { command: tool.command } } });
    const f = r.families;
    expect(tool.calls()).toEqual([
      '--scan-open --json',
      '--json -a --nocheck=standby -d sat /dev/sda',
      '--json -a --nocheck=standby -d nvme /dev/nvme0',
      '--json -a --nocheck=standby -d scsi /dev/sdb',
    ]);
    const sda = { device: 'sda' };
    const nvme = { device: 'nvme0' };
    expect(
      v(f, 'smartctl_device', {
        ...sda,
        interface: 'sat',
        protocol: 'ATA',
        model_name: 'Samsung SSD 860 EVO 500GB',
        serial_number: 'S3Z1NB0K123456A',
        firmware_version: 'RVT04B6Q',
      }),
    ).toBe(1);
    expect(v(f, 'smartctl_device_smart_status', sda)).toBe(1);
    expect(v(f, 'smartctl_device_temperature', { ...sda, temperature_type: 'current' })).toBe(33);
    expect(v(f, 'smartctl_device_power_on_seconds', sda)).toBe(21004 * 3600);
    expect(v(f, 'smartctl_device_power_cycle_count', sda)).toBe(1342);
    expect(v(f, 'smartctl_device_capacity_bytes', sda)).toBe(500107862016);
    const realloc = {
      ...sda,
      attribute_id: '5',
      attribute_name: 'Reallocated_Sector_Ct',
      attribute_flags_short: 'PO--CK',
      attribute_flags_long: 'prefailure,updated_online,event_count,auto_keep',
    };
    expect(v(f, 'smartctl_device_attribute', { ...realloc, attribute_value_type: 'thresh' })).toBe(10);
    expect(v(f, 'smartctl_device_attribute', { ...realloc, attribute_value_type: 'raw' })).toBe(0);
    expect(v(f, 'smartctl_device_attribute', { ...sda, attribute_name: 'Wear_Leveling_Count', attribute_value_type: 'value' })).toBe(93);
    expect(v(f, 'smartctl_device_percentage_used', nvme)).toBe(4);
    expect(v(f, 'smartctl_device_available_spare', nvme)).toBe(100);
    expect(v(f, 'smartctl_device_available_spare_threshold', nvme)).toBe(10);
    expect(v(f, 'smartctl_device_media_errors', nvme)).toBe(0);
    expect(v(f, 'smartctl_device_num_err_log_entries', nvme)).toBe(1884);
    expect(v(f, 'smartctl_device_critical_warning', nvme)).toBe(0);
    expect(v(f, 'smartctl_device_bytes_written', nvme)).toBe(61893345 * 512_000);
    expect(v(f, 'smartctl_device_power_on_seconds', nvme)).toBe(9312 * 3600);
    // The USB stick has no SMART: not reported at all.
    expect(v(f, 'smartctl_device', { device: 'sdb' })).toBeUndefined();

    // Within the interval the last figures are served, and smartctl is not run again.
    await r.collect();
    expect(tool.calls()).toHaveLength(4);
  });

  it('on this VM, with Debian\'s smartctl: "no SMART-capable device", once', async () => {
    const r = await run('smart');
    await r.collect();
    const said = r.lines.filter((l) => l.collector === 'smart');
    expect(said.map((l) => l.msg)).toEqual([expect.stringMatching(/^collector smart switched off: no SMART-capable device/)]);
  });

  it('as a user who may not open the disks: says which, and what the agent needs, once', async () => {
    const tool = fakeTool('smartctl-noroot', [
      ['*--scan-open*', 'smartctl-scan.json'],
      ['*', 'smartctl-permission-denied.json', 2],
    ]);
    const r = await run('smart', { options: { smart: { command: tool.command } } });
    await r.collect();
    expect(r.lines.filter((l) => l.collector === 'smart').map((l) => l.msg)).toEqual([
      expect.stringMatching(
        /switched off: no SMART-capable device readable: smartctl could not open \/dev\/sda, \/dev\/nvme0, \/dev\/sdb \(the agent needs root/,
      ),
    ]);
  });

  it("every JSON key of the recorded smartctl outputs is one Debian's smartctl writes", () => {
    // No disk here has SMART, so the shapes are held to the tool itself: smartctl builds its JSON
    // from key names compiled into the binary, and a misspelt or invented key would not be there.
    const smartctl = execFileSync('sh', ['-c', 'command -v smartctl'], { encoding: 'utf8' }).trim();
    const binary = readFileSync(smartctl).toString('latin1');
    const keys = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
          keys.add(k);
          walk(x);
        }
    };
    for (const f of [
      'smartctl-scan.json',
      'smartctl-sata.json',
      'smartctl-nvme.json',
      'smartctl-scsi-nosmart.json',
      'smartctl-permission-denied.json',
    ]) {
      const text = readFileSync(join(TOOLS, f), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n');
      walk(JSON.parse(text));
    }
    expect(keys.size).toBeGreaterThan(60);
    expect([...keys].filter((k) => !binary.includes(k))).toEqual([]);
  });

  it('refuses a bad interval naming the option', () => {
    expect(() => agentConfigSchema.parse({ collector_options: { smart: { interval: 'soon' } } })).toThrow(/interval/);
  });
});

describe('systemd', () => {
  const booted = join(dir, 'booted-rootfs');
  mkdirSync(join(booted, 'run', 'systemd', 'system'), { recursive: true });

  it('reports unit states, counts and whether the system runs, in node_exporter names', async () => {
    const tool = fakeTool('systemctl', [
      ['list-units*', 'systemctl-list-units.json'],
      ['show*', 'systemctl-show.txt'],
      ['is-system-running', 'systemctl-degraded.txt', 1],
      ['--version', 'systemctl-version.txt'],
    ]);
    const { families: f } = await run('systemd', { rootfs: booted, options: { systemd: { command: tool.command } } });
    expect(tool.calls()[0]).toBe('list-units --all --no-pager --output=json');
    expect(tool.calls()[1]).toBe(
      'show --property=Id,Type -- cron.service ssh.service postgresql@15-main.service apt-daily.service systemd-tmpfiles-setup.service nginx.service',
    );
    expect(v(f, 'node_systemd_unit_state', { name: 'ssh.service', state: 'active', type: 'notify' })).toBe(1);
    expect(v(f, 'node_systemd_unit_state', { name: 'ssh.service', state: 'failed', type: 'notify' })).toBe(0);
    expect(v(f, 'node_systemd_unit_state', { name: 'postgresql@15-main.service', state: 'failed', type: 'forking' })).toBe(1);
    expect(v(f, 'node_systemd_unit_state', { name: 'apt-daily.timer', state: 'active', type: '' })).toBe(1);
    // node_exporter's default unit-exclude: mounts, devices, slices are left out.
    expect(v(f, 'node_systemd_unit_state', { name: 'user.slice', state: 'active' })).toBeUndefined();
    expect(v(f, 'node_systemd_unit_state', { name: '-.mount', state: 'active' })).toBeUndefined();
    expect(f.find((x) => x.name === 'node_systemd_unit_state')?.metrics).toHaveLength(8 * 5);
    expect(v(f, 'node_systemd_units', { state: 'active' })).toBe(4);
    expect(v(f, 'node_systemd_units', { state: 'failed' })).toBe(1);
    expect(v(f, 'node_systemd_units', { state: 'activating' })).toBe(1);
    expect(v(f, 'node_systemd_system_running')).toBe(0);
    expect(v(f, 'node_systemd_version', { version: '252.39-1~deb12u2' })).toBe(252);
  });

  it('is off by default; here, where systemd is not PID 1, it says so once', async () => {
    expect((await loadCollectorDefinitions('linux')).find((d) => d.name === 'systemd')?.defaultEnabled).toBe(false);
    const r = await run('systemd', { rootfs: '/' });
    await r.collect();
    expect(r.lines.filter((l) => l.collector === 'systemd').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^collector systemd switched off: systemd is not the init system here \(no \/run\/systemd\/system\)/),
    ]);
  });
});
