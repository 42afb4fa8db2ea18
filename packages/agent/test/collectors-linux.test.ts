import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { seriesValue } from '../../../testing/exposition.ts';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import { CollectorSet } from '../src/collection.ts';
import { MonotonicCpuTimes } from '../src/collectors/cpu.linux.ts';
import { writeHwmonChip } from '../src/collectors/hwmon.linux.ts';
import { collectorOptionsSchema } from '../src/collectors/options.ts';
import { osVersionNumber } from '../src/collectors/os.linux.ts';
import { loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { pageSize } from '../src/collectors/sockstat.linux.ts';
import { localZoneName } from '../src/collectors/time.common.ts';
import { type Timex, writeTimex } from '../src/collectors/timex.linux.ts';
import { agentConfigSchema } from '../src/config.ts';
import { type MetricFamily, MetricWriter } from '../src/metrics.ts';
import type { CpuTimes } from '../src/procfs/index.ts';

const log = pino({ level: 'silent' });

async function collect(names: string[], opts: { fixture?: string; options?: Record<string, unknown> } = {}) {
  const defs = (await loadCollectorDefinitions('linux')).filter((d) => names.includes(d.name));
  expect(defs.map((d) => d.name).sort()).toEqual([...names].sort());
  const config = agentConfigSchema.parse({ collector_options: opts.options ?? {} });
  const set = new CollectorSet(defs, { roots: fixtureRoots(opts.fixture ?? 'basic'), log, timeoutMs: 5000, config });
  return set.collect();
}

const fam = (families: MetricFamily[], name: string) => families.find((f) => f.name === name);
const success = (families: MetricFamily[], collector: string) => seriesValue(families, 'node_scrape_collector_success', { collector });

describe('linux collectors on the modern-kernel fixture', () => {
  it('cpu: per-CPU modes, guest apart, thermal throttles per core and package; cpu.info on request', async () => {
    const c = await collect(['cpu'], { options: { cpu: { info: true } } });
    expect(seriesValue(c.families, 'node_cpu_seconds_total', { cpu: '1', mode: 'steal' })).toBe(0);
    expect(fam(c.families, 'node_cpu_seconds_total')?.type).toBe('counter');
    expect(seriesValue(c.families, 'node_cpu_core_throttles_total', { core: '1', package: '0' })).toBe(6);
    expect(fam(c.families, 'node_cpu_package_throttles_total')?.metrics).toEqual([{ labels: { package: '0' }, value: 12 }]);
    expect(fam(c.families, 'node_cpu_info')?.metrics[1]?.labels).toMatchObject({
      cpu: '1',
      core: '1',
      vendor: 'GenuineIntel',
      cachesize: '12288 KB',
    });
    const noGuest = await collect(['cpu'], { options: { cpu: { guest: false } } });
    expect(fam(noGuest.families, 'node_cpu_guest_seconds_total')).toBeUndefined();
  });

  it('cpu counters never go backwards; a CPU that comes back after a hotplug starts afresh', () => {
    const t = (idle: number, user: number): CpuTimes => ({
      user,
      nice: 0,
      system: 0,
      idle,
      iowait: 0,
      irq: 0,
      softirq: 0,
      steal: 0,
      guest: 0,
      guestNice: 0,
    });
    const m = new MonotonicCpuTimes();
    m.update(new Map([[0, t(100, 50)]]));
    expect(m.update(new Map([[0, t(99.99, 51)]])).get(0)).toMatchObject({ idle: 100, user: 51 });
    expect(m.update(new Map([[0, t(10, 1)]])).get(0)).toMatchObject({ idle: 10, user: 1 });
  });

  it('cpufreq: Hz and the governor in use', async () => {
    const c = await collect(['cpufreq']);
    expect(seriesValue(c.families, 'node_cpu_frequency_hertz', { cpu: '0' })).toBe(1_800_000_000);
    expect(seriesValue(c.families, 'node_cpu_scaling_frequency_max_hertz', { cpu: '1' })).toBe(4_600_000_000);
    expect(seriesValue(c.families, 'node_cpu_scaling_governor', { cpu: '0', governor: 'powersave' })).toBe(1);
    expect(seriesValue(c.families, 'node_cpu_scaling_governor', { cpu: '0', governor: 'performance' })).toBe(0);
  });

  it('diskstats: node_disk_info and device-mapper names from udev, ATA details', async () => {
    const c = await collect(['diskstats']);
    expect(fam(c.families, 'node_disk_info')?.metrics.find((m) => m.labels.device === 'sda')?.labels).toEqual({
      device: 'sda',
      major: '8',
      minor: '0',
      model: 'Samsung_SSD_860_EVO_500GB',
      path: 'pci-0000:00:17.0-ata-1',
      revision: 'RVT04B6Q',
      serial: 'S3Z1NB0K123456X',
      wwn: '0x5002538e40a0eb1c',
    });
    expect(fam(c.families, 'node_disk_device_mapper_info')?.metrics[0]?.labels).toMatchObject({
      device: 'dm-0',
      name: 'ubuntu--vg-root',
      lv_name: 'root',
    });
    expect(seriesValue(c.families, 'node_disk_ata_rotation_rate_rpm', { device: 'sda' })).toBe(0);
    expect(seriesValue(c.families, 'node_disk_ata_write_cache_enabled', { device: 'sda' })).toBe(1);
    const only = await collect(['diskstats'], { options: { diskstats: { device_include: '^sda1$' } } });
    expect(fam(only.families, 'node_disk_io_now')?.metrics.map((m) => m.labels.device)).toEqual(['sda1']);
  });

  it('filesystem: fs type and mount point exclusions are options', async () => {
    const c = await collect(['filesystem'], { options: { filesystem: { fs_types_exclude: '^(rootfs|tmpfs)$' } } });
    expect(fam(c.families, 'node_filesystem_readonly')?.metrics.map((m) => m.labels.mountpoint)).toEqual(['/', '/mnt/with space']);
  });

  it('filesystem under hidepid: falls back to our own mount table; escaped mount points read right', async () => {
    const c = await collect(['filesystem'], { fixture: 'hidepid' });
    expect(fam(c.families, 'node_filesystem_readonly')?.metrics).toEqual([
      { labels: { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' }, value: 0 },
      { labels: { device: '/dev/sdb1', fstype: 'xfs', mountpoint: '/srv/data (old)' }, value: 1 },
    ]);
  });

  it('netdev: receive and transmit counters plus rx_nohandler from sysfs; device filters', async () => {
    const c = await collect(['netdev'], { options: { netdev: { device_exclude: '^(lo|docker0)$' } } });
    expect(fam(c.families, 'node_network_receive_bytes_total')?.metrics.map((m) => m.labels.device)).toEqual(['eth0', 'veth4b09a1f@if7']);
    expect(seriesValue(c.families, 'node_network_receive_nohandler_total', { device: 'eth0' })).toBe(7);
    expect(seriesValue(c.families, 'node_network_transmit_packets_total', { device: 'eth0' })).toBe(43451486);
  });

  it('netclass: up, info, carrier, mtu, speed; unreadable attributes left out; -1 speed as node_exporter reports it', async () => {
    const c = await collect(['netclass']);
    const up = Object.fromEntries((fam(c.families, 'node_network_up')?.metrics ?? []).map((m) => [m.labels.device, m.value]));
    expect(up).toEqual({ enp0s31f6: 0, eth0: 1, lo: 0, veth4b09a1f: 0 });
    expect(fam(c.families, 'node_network_info')?.metrics.find((m) => m.labels.device === 'veth4b09a1f')?.labels).toEqual({
      address: 'a6:2c:1e:00:00:01',
      broadcast: 'ff:ff:ff:ff:ff:ff',
      device: 'veth4b09a1f',
      duplex: '',
      ifalias: 'container link',
      operstate: 'down',
    });
    expect(fam(c.families, 'node_network_carrier')?.metrics.map((m) => m.labels.device)).toEqual(['enp0s31f6', 'eth0', 'lo']);
    expect(seriesValue(c.families, 'node_network_speed_bytes', { device: 'eth0' })).toBe(125_000_000);
    expect(seriesValue(c.families, 'node_network_speed_bytes', { device: 'enp0s31f6' })).toBe(-125_000);
    expect(seriesValue(c.families, 'node_network_name_assign_type', { device: 'enp0s31f6' })).toBe(4);
    expect(fam(c.families, 'node_network_carrier_changes_total')?.type).toBe('counter');
    expect(seriesValue(c.families, 'node_network_protocol_type', { device: 'lo' })).toBe(772);
    const filtered = await collect(['netclass'], { options: { netclass: { ignored_devices: '^veth', ignore_invalid_speed: true } } });
    expect(fam(filtered.families, 'node_network_up')?.metrics.map((m) => m.labels.device)).toEqual(['enp0s31f6', 'eth0', 'lo']);
    expect(seriesValue(filtered.families, 'node_network_speed_bytes', { device: 'enp0s31f6' })).toBeUndefined();
  });

  it('netstat: only the default fields, untyped; another pattern selects others', async () => {
    const c = await collect(['netstat']);
    const names = c.families.filter((f) => f.name.startsWith('node_netstat_')).map((f) => f.name);
    expect(names).toContain('node_netstat_Tcp_CurrEstab');
    expect(names).toContain('node_netstat_TcpExt_ListenDrops');
    expect(names).toContain('node_netstat_Ip6_InOctets');
    expect(names).not.toContain('node_netstat_Ip_DefaultTTL');
    expect(fam(c.families, 'node_netstat_Tcp_CurrEstab')?.type).toBe('untyped');
    const other = await collect(['netstat'], { options: { netstat: { fields: '^Ip_DefaultTTL$' } } });
    expect(other.families.filter((f) => f.name.startsWith('node_netstat_')).map((f) => f.name)).toEqual(['node_netstat_Ip_DefaultTTL']);
  });

  it('sockstat, softnet, conntrack, udp queues, arp', async () => {
    const c = await collect(['sockstat', 'softnet', 'conntrack', 'udp_queues', 'arp']);
    expect(seriesValue(c.families, 'node_sockstat_sockets_used')).toBe(174);
    expect(seriesValue(c.families, 'node_sockstat_TCP_mem_bytes')).toBe(268 * 4096);
    expect(seriesValue(c.families, 'node_sockstat_UDP6_inuse')).toBe(1);
    expect(seriesValue(c.families, 'node_sockstat_FRAG_memory')).toBe(0);
    expect(seriesValue(c.families, 'node_softnet_processed_total', { cpu: '2' })).toBe(0x3be0b);
    expect(seriesValue(c.families, 'node_softnet_dropped_total', { cpu: '0' })).toBe(2);
    expect(seriesValue(c.families, 'node_nf_conntrack_entries')).toBe(33);
    expect(seriesValue(c.families, 'node_nf_conntrack_stat_found')).toBe(17);
    expect(seriesValue(c.families, 'node_nf_conntrack_stat_search_restart')).toBe(3);
    expect(seriesValue(c.families, 'node_udp_queues', { ip: 'v4', queue: 'tx' })).toBe(16);
    expect(seriesValue(c.families, 'node_udp_queues', { ip: 'v4', queue: 'rx' })).toBe(256);
    expect(seriesValue(c.families, 'node_udp_queues', { ip: 'v6', queue: 'rx' })).toBe(0);
    expect(seriesValue(c.families, 'node_arp_entries', { device: 'eth0' })).toBe(2);
    expect(pageSize('KernelPageSize:       64 kB\n')).toBe(65536);
    expect(pageSize(undefined)).toBe(4096);
  });

  it('pressure, schedstat, entropy, filefd, vmstat, stat (with softirqs on request)', async () => {
    const c = await collect(['pressure', 'schedstat', 'entropy', 'filefd', 'vmstat', 'stat'], { options: { stat: { softirq: true } } });
    expect(seriesValue(c.families, 'node_pressure_cpu_waiting_seconds_total')).toBeCloseTo(175.374214);
    expect(seriesValue(c.families, 'node_pressure_io_stalled_seconds_total')).toBeCloseTo(6.007408);
    expect(seriesValue(c.families, 'node_pressure_memory_stalled_seconds_total')).toBeCloseTo(0.5);
    expect(seriesValue(c.families, 'node_schedstat_running_seconds_total', { cpu: '1' })).toBe(3);
    expect(seriesValue(c.families, 'node_schedstat_waiting_seconds_total', { cpu: '0' })).toBe(0.5);
    expect(seriesValue(c.families, 'node_schedstat_timeslices_total', { cpu: '1' })).toBe(2000);
    expect(seriesValue(c.families, 'node_entropy_available_bits')).toBe(256);
    expect(seriesValue(c.families, 'node_filefd_maximum')).toBe(2466181);
    expect(fam(c.families, 'node_vmstat_pgfault')?.type).toBe('untyped');
    expect(fam(c.families, 'node_vmstat_nr_free_pages')).toBeUndefined();
    expect(fam(c.families, 'node_softirqs_total')?.metrics.map((m) => m.labels.vector)).toContain('net_rx');
  });

  it('tcpstat, interrupts and processes, all off by default', async () => {
    const defs = await loadCollectorDefinitions('linux');
    for (const n of ['tcpstat', 'interrupts', 'processes']) expect(defs.find((d) => d.name === n)?.defaultEnabled).toBe(false);
    const c = await collect(['tcpstat', 'interrupts', 'processes']);
    expect(seriesValue(c.families, 'node_tcp_connection_states', { state: 'listen' })).toBe(2);
    expect(seriesValue(c.families, 'node_tcp_connection_states', { state: 'time_wait' })).toBe(1);
    expect(seriesValue(c.families, 'node_interrupts_total', { cpu: '1', type: 'LOC', info: 'Local timer interrupts', devices: '' })).toBe(
      654321,
    );
    expect(seriesValue(c.families, 'node_interrupts_total', { cpu: '0', type: '0', info: 'IO-APIC', devices: '2-edge timer' })).toBe(16);
    expect(seriesValue(c.families, 'node_processes_pids')).toBe(2);
    expect(seriesValue(c.families, 'node_processes_threads')).toBe(3);
    expect(seriesValue(c.families, 'node_processes_state', { state: 'R' })).toBe(1);
    expect(seriesValue(c.families, 'node_processes_threads_state', { thread_state: 'D' })).toBe(1);
    expect(seriesValue(c.families, 'node_processes_max_threads')).toBe(192000);
  });

  it('os, uname and time', async () => {
    const c = await collect(['os', 'uname', 'time']);
    expect(fam(c.families, 'node_os_info')?.metrics[0]?.labels).toMatchObject({
      id: 'ubuntu',
      id_like: 'debian',
      version_id: '22.04',
      version_codename: 'jammy',
    });
    expect(seriesValue(c.families, 'node_os_version', { id: 'ubuntu' })).toBe(22.04);
    expect(osVersionNumber('rolling')).toBeUndefined();
    expect(osVersionNumber('12')).toBe(12);
    expect(seriesValue(c.families, 'node_uname_info')).toBe(1);
    expect(fam(c.families, 'node_time_clocksource_available_info')?.metrics.map((m) => m.labels.clocksource)).toEqual([
      'tsc',
      'hpet',
      'acpi_pm',
    ]);
    expect(fam(c.families, 'node_time_clocksource_current_info')?.metrics[0]?.labels).toEqual({ clocksource: 'tsc', device: '0' });
    expect(Math.abs((seriesValue(c.families, 'node_time_seconds') ?? 0) - Date.now() / 1000)).toBeLessThan(60);
    expect(localZoneName(0, 'UTC')).toBe('UTC');
    expect(localZoneName(3600, 'CET-1CEST,M3.5.0,M10.5.0/3')).toBe('CET');
    expect(localZoneName(7200, 'CET-1CEST,M3.5.0,M10.5.0/3')).toBe('CEST');
  });

  it('hwmon and thermal_zone: base units in the names, labels cleaned', async () => {
    const c = await collect(['hwmon', 'thermal_zone']);
    expect(seriesValue(c.families, 'node_hwmon_temp_celsius', { chip: 'platform_coretemp_0', sensor: 'temp1' })).toBe(46);
    expect(seriesValue(c.families, 'node_hwmon_temp_crit_celsius', { chip: 'platform_coretemp_0', sensor: 'temp2' })).toBe(100);
    expect(seriesValue(c.families, 'node_hwmon_temp_crit_alarm_celsius', { sensor: 'temp1' })).toBe(0);
    expect(seriesValue(c.families, 'node_hwmon_sensor_label', { sensor: 'temp1', label: 'package_id_0' })).toBe(1);
    expect(seriesValue(c.families, 'node_hwmon_chip_names', { chip: 'platform_nct6775_656', chip_name: 'nct6779' })).toBe(1);
    expect(seriesValue(c.families, 'node_hwmon_in_volts', { sensor: 'in0' })).toBe(1.016);
    expect(seriesValue(c.families, 'node_hwmon_fan_rpm', { sensor: 'fan1' })).toBe(1180);
    expect(seriesValue(c.families, 'node_hwmon_fan_alarm', { sensor: 'fan1' })).toBe(0);
    expect(seriesValue(c.families, 'node_hwmon_power_average_watt', { sensor: 'power1' })).toBe(12.5);
    expect(seriesValue(c.families, 'node_hwmon_curr_amps', { sensor: 'curr1' })).toBe(1.5);
    expect(fam(c.families, 'node_hwmon_energy_joule_total')).toMatchObject({ type: 'counter', metrics: [{ value: 123 }] });
    expect(seriesValue(c.families, 'node_hwmon_intrusion_alarm', { sensor: 'intrusion0' })).toBe(1);
    expect(seriesValue(c.families, 'node_hwmon_update_interval_seconds')).toBe(1);
    expect(seriesValue(c.families, 'node_hwmon_voltage_regulator_version')).toBe(90);
    expect(seriesValue(c.families, 'node_hwmon_humidity', { sensor: 'humidity1' })).toBe(45);
    expect(seriesValue(c.families, 'node_thermal_zone_temp', { type: 'x86_pkg_temp', zone: '0' })).toBe(45);
    expect(seriesValue(c.families, 'node_cooling_device_max_state', { name: '0', type: 'Processor' })).toBe(3);
    const only = new MetricWriter();
    writeHwmonChip(only, { chip: 'c', sensors: new Map([['temp1', new Map([['', '42000']])]]) });
    expect(only.families().map((f) => f.name)).toEqual(['node_hwmon_temp_celsius']);
  });

  it('timex: adjtimex fields in seconds and ratios, as node_exporter scales them', () => {
    const t: Timex = {
      state: 0,
      offset: -1500,
      freq: 65536 * 10,
      maxerror: 16000000,
      esterror: 250,
      status: 0x2001,
      constant: 7,
      tick: 10000,
      ppsfreq: 0,
      jitter: 2000,
      shift: 4,
      stabil: 0,
      jitcnt: 1,
      calcnt: 2,
      errcnt: 3,
      stbcnt: 4,
      tai: 37,
    };
    const out = new MetricWriter();
    writeTimex(out, t);
    const f = out.families();
    expect(seriesValue(f, 'node_timex_sync_status')).toBe(1);
    // STA_NANO is set: offset and jitter are nanoseconds.
    expect(seriesValue(f, 'node_timex_offset_seconds')).toBe(-1.5e-6);
    expect(seriesValue(f, 'node_timex_pps_jitter_seconds')).toBe(2e-6);
    expect(seriesValue(f, 'node_timex_frequency_adjustment_ratio')).toBeCloseTo(1.00001);
    expect(seriesValue(f, 'node_timex_maxerror_seconds')).toBe(16);
    expect(seriesValue(f, 'node_timex_tai_offset_seconds')).toBe(37);
    expect(fam(f, 'node_timex_pps_error_total')?.type).toBe('counter');
    const unsynced = new MetricWriter();
    writeTimex(unsynced, { ...t, state: 5 });
    expect(seriesValue(unsynced.families(), 'node_timex_sync_status')).toBe(0);
  });

  it('timex reads the real kernel through the native binding', async () => {
    const c = await collect(['timex']);
    expect(success(c.families, 'timex')).toBe(1);
    expect(seriesValue(c.families, 'node_timex_tick_seconds')).toBeGreaterThan(0);
  });
});

describe('linux collectors on an old kernel and on a large machine', () => {
  it('old kernel: fewer columns read as zero or left out; missing sources report failure, not a crash', async () => {
    const c = await collect(['cpu', 'diskstats', 'meminfo', 'softnet', 'sockstat', 'netstat', 'pressure', 'schedstat', 'loadavg'], {
      fixture: 'old-kernel',
    });
    expect(seriesValue(c.families, 'node_cpu_seconds_total', { cpu: '0', mode: 'steal' })).toBe(0);
    expect(seriesValue(c.families, 'node_cpu_guest_seconds_total', { cpu: '0', mode: 'user' })).toBe(0);
    expect(fam(c.families, 'node_disk_discards_completed_total')).toBeUndefined();
    expect(seriesValue(c.families, 'node_disk_reads_completed_total', { device: 'sda' })).toBe(1000);
    expect(seriesValue(c.families, 'node_softnet_processed_total', { cpu: '1' })).toBe(0xc0d2);
    expect(seriesValue(c.families, 'node_sockstat_TCP6_inuse')).toBeUndefined();
    expect(seriesValue(c.families, 'node_netstat_TcpExt_ListenDrops')).toBe(4);
    expect(seriesValue(c.families, 'node_memory_MemAvailable_bytes')).toBeUndefined();
    expect(success(c.families, 'pressure')).toBe(0);
    expect(success(c.families, 'schedstat')).toBe(0);
    expect(success(c.families, 'cpu')).toBe(1);
  });

  it('more than 64 CPUs keep their own series; softnet follows the CPU column past an offline CPU', async () => {
    const c = await collect(['cpu', 'softnet', 'schedstat'], { fixture: 'many-cpus' });
    const cpus = new Set(fam(c.families, 'node_cpu_seconds_total')?.metrics.map((m) => m.labels.cpu));
    expect(cpus.size).toBe(130);
    expect(seriesValue(c.families, 'node_cpu_seconds_total', { cpu: '129', mode: 'user' })).toBeCloseTo(1.29);
    expect(seriesValue(c.families, 'node_softnet_processed_total', { cpu: '6' })).toBe(7);
    expect(seriesValue(c.families, 'node_softnet_processed_total', { cpu: '5' })).toBeUndefined();
    expect(seriesValue(c.families, 'node_schedstat_running_seconds_total', { cpu: '100' })).toBe(100);
  });
});

describe('collector options', () => {
  it('defaults are node_exporter 1.5 defaults; include and exclude together are refused', () => {
    expect(collectorOptionsSchema.parse({})).toMatchObject({
      diskstats: { device_exclude: '^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$' },
      textfile: { directory: '' },
      filesystem: { mount_timeout: 2000 },
    });
    expect(collectorOptionsSchema.safeParse({ netdev: { device_include: 'a', device_exclude: 'b' } }).error?.issues[0]?.message).toMatch(
      /mutually exclusive/,
    );
    expect(collectorOptionsSchema.safeParse({ vmstat: { fields: '([' } }).error?.issues[0]?.message).toMatch(
      /not a valid regular expression/,
    );
    expect(collectorOptionsSchema.safeParse({ nosuch: {} }).success).toBe(false);
  });
});
