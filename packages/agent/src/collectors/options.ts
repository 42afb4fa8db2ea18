import { duration } from '@falconet/protocol/config';
import { z } from 'zod';

/**
 * Options of individual collectors, as node_exporter's `--collector.<name>.<option>` flags. In the
 * config file they live under `collector_options.<name>.<option_with_underscores>`; the flag
 * `--collector.filesystem.mount-points-exclude` sets `collector_options.filesystem.mount_points_exclude`.
 */

/** A regular expression given as text; validated here so a typo is reported with the config's location. */
const pattern = () =>
  z.string().superRefine((v, ctx) => {
    try {
      new RegExp(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/** device_include / device_exclude, as node_exporter's mutually exclusive device filter flags. */
const deviceFilterOptions = (excludeDefault: string) =>
  z
    .object({ device_include: pattern().default(''), device_exclude: pattern().default(excludeDefault) })
    .strict()
    .refine((o) => !(o.device_include && o.device_exclude !== excludeDefault && o.device_exclude), {
      message: 'device_include and device_exclude are mutually exclusive; set only one',
    })
    .transform((o) => (o.device_include ? { ...o, device_exclude: '' } : o));

// node_exporter 1.5's defaults, so the same hosts expose the same series.
export const DEFAULT_MOUNT_POINTS_EXCLUDE = '^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)';
export const DEFAULT_FS_TYPES_EXCLUDE =
  '^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$';
export const DEFAULT_DISK_DEVICE_EXCLUDE = '^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$';
export const DEFAULT_NETSTAT_FIELDS =
  '^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$';
export const DEFAULT_VMSTAT_FIELDS = '^(oom_kill|pgpg|pswp|pg.*fault).*';

export const collectorOptionsSchema = z
  .object({
    arp: deviceFilterOptions('').default({ device_include: '', device_exclude: '' }),
    cpu: z
      .object({
        /** node_cpu_guest_seconds_total. */
        guest: z.boolean().default(true),
        /** node_cpu_info from /proc/cpuinfo. */
        info: z.boolean().default(false),
      })
      .strict()
      .default({ guest: true, info: false }),
    diskstats: deviceFilterOptions(DEFAULT_DISK_DEVICE_EXCLUDE).default({
      device_include: '',
      device_exclude: DEFAULT_DISK_DEVICE_EXCLUDE,
    }),
    filesystem: z
      .object({
        mount_points_exclude: pattern().default(DEFAULT_MOUNT_POINTS_EXCLUDE),
        fs_types_exclude: pattern().default(DEFAULT_FS_TYPES_EXCLUDE),
        /**
         * How long statfs() may take before the mount is reported as a device error and left alone
         * until it answers. node_exporter waits 5s; 2s keeps the first scrape after a mount hangs well
         * inside the collector timeout, so the other mounts are still reported.
         */
        mount_timeout: duration()
          .default(2_000)
          .refine((ms) => ms >= 1 && ms <= 600_000, 'must be between 1ms and 10m'),
      })
      .strict()
      .default({ mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE, fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE, mount_timeout: 2_000 }),
    hwmon: z
      .object({ chip_include: pattern().default(''), chip_exclude: pattern().default('') })
      .strict()
      .default({ chip_include: '', chip_exclude: '' }),
    netclass: z
      .object({ ignored_devices: pattern().default('^$'), ignore_invalid_speed: z.boolean().default(false) })
      .strict()
      .default({ ignored_devices: '^$', ignore_invalid_speed: false }),
    netdev: deviceFilterOptions('').default({ device_include: '', device_exclude: '' }),
    netstat: z
      .object({ fields: pattern().default(DEFAULT_NETSTAT_FIELDS) })
      .strict()
      .default({ fields: DEFAULT_NETSTAT_FIELDS }),
    stat: z
      .object({
        /** node_softirqs_total per vector. */
        softirq: z.boolean().default(false),
      })
      .strict()
      .default({ softirq: false }),
    textfile: z
      .object({
        /** Directory of `*.prom` files; empty reads none. */
        directory: z.string().default(''),
      })
      .strict()
      .default({ directory: '' }),
    vmstat: z
      .object({ fields: pattern().default(DEFAULT_VMSTAT_FIELDS) })
      .strict()
      .default({ fields: DEFAULT_VMSTAT_FIELDS }),
  })
  .strict();

export type CollectorOptions = z.output<typeof collectorOptionsSchema>;

/** Every option at its default, for collector sets built without a configuration (tests, `once`). */
export function defaultCollectorOptions(): CollectorOptions {
  return collectorOptionsSchema.parse({});
}

/**
 * What a `--collector.<name>.<option>` flag takes, from the schema: `boolean` options are switches
 * (`--collector.cpu.info`, `--no-collector.cpu.info`), the others take a value. Undefined for an
 * unknown option.
 */
export function collectorOptionKind(collector: string, option: string): 'string' | 'boolean' | undefined {
  const shape = collectorOptionsSchema.shape as Record<string, z.ZodType>;
  const inner = unwrapObject(shape[collector]);
  const field = inner?.shape[option.replaceAll('-', '_')] as z.ZodType | undefined;
  if (!field) return undefined;
  return innerType(field) === 'boolean' ? 'boolean' : 'string';
}

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; schema?: z.ZodType };

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (;;) {
    const def = (cur as unknown as { _zod: { def: Def } })._zod.def;
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'prefault') && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

function unwrapObject(s: z.ZodType | undefined): z.ZodObject | undefined {
  if (!s) return undefined;
  const u = unwrap(s);
  return u instanceof z.ZodObject ? u : undefined;
}

function innerType(s: z.ZodType): string {
  return (unwrap(s) as unknown as { _zod: { def: Def } })._zod.def.type;
}

// Kept where the collectors import them from; they live in a module without zod, which the running agent does not load.
export { deviceFilter, optionalRegExp } from './filters.ts';
