import { byteSize, duration } from '@falconet/protocol/config';
import { z } from 'zod';

/**
 * `logs:` in the agent configuration (docs/logs.md): the sources the agent tails and how their
 * lines are parsed, redacted, limited and batched before they join the report stream.
 */

const sourceName = /^[a-zA-Z0-9_.-]+$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A regular expression given as a string: compiled here, so a bad one is refused with its key. */
const regex = (what: string) =>
  z.string().superRefine((v, ctx) => {
    try {
      new RegExp(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${what} is not a valid regular expression: ${(err as Error).message}` });
    }
  });

const parserSchema = z
  .object({
    /** none: the line as it is; the presets read their format's fields, time and level. */
    type: z.enum(['none', 'json', 'logfmt', 'regex', 'syslog', 'nginx', 'apache']).default('none'),
    /** For `regex`: named groups become fields (`time`, `level`, `message` are taken as such). */
    pattern: regex('logs.sources[].parser.pattern').optional(),
    /** The field holding the event's time (default: time, timestamp, ts, @timestamp). */
    time_field: z.string().optional(),
    /** The field holding the level (default: level, lvl, severity, loglevel). */
    level_field: z.string().optional(),
    /** The field holding the message (default: msg, message). */
    message_field: z.string().optional(),
  })
  .strict()
  .prefault({})
  .superRefine((p, ctx) => {
    if (p.type === 'regex' && !p.pattern) ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'type regex needs a pattern' });
    if (p.type === 'regex' && p.pattern && !/\(\?<[a-zA-Z_]/.test(p.pattern)) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'a regex parser needs at least one named group, e.g. (?<level>\\w+)' });
    }
  });

const multilineSchema = z
  .object({
    /** A line matching this begins a new event; other lines join the one before. */
    start: regex('multiline.start').optional(),
    /** A line matching this continues the event before it (e.g. "^\\s" for indented stack frames). */
    continuation: regex('multiline.continuation').optional(),
    /** An event waiting for more lines is let go after this long without one. */
    timeout: duration().default(2_000),
    /** Lines in one event, at most; past it the event is let go and a new one begun. */
    max_lines: z.number().int().min(2).max(10_000).default(500),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.start === !m.continuation)
      ctx.addIssue({ code: 'custom', message: 'give exactly one of multiline.start or multiline.continuation' });
  });

const sourceSchema = z
  .object({
    /** Names the source in each record (`source`) and in the metrics. */
    name: z.string().regex(sourceName, 'source names are letters, digits, _ . -'),
    /**
     * file: tail files by glob; journald: the systemd journal through journalctl; docker: containers'
     * output; exec: a command's stdout and stderr; stdin: the agent's own standard input.
     */
    type: z.enum(['file', 'journald', 'docker', 'exec', 'stdin']).default('file'),
    /** Glob patterns of the files to read (*, ?, ** and {a,b}); absolute paths. */
    include: z.array(z.string().startsWith('/', 'include patterns are absolute paths')).default([]),
    /** For journald: a journal directory (journalctl --directory); empty reads the system journal. */
    journal_directory: z.string().default(''),
    /** For journald: journalctl matches, e.g. _SYSTEMD_UNIT=nginx.service (entries matching any). */
    journal_matches: z.array(z.string().regex(/^[A-Z0-9_]+=/, 'a journal match is FIELD=value, the field in capitals')).default([]),
    /** For docker: the Engine API's unix socket; empty: DOCKER_HOST's, else /var/run/docker.sock. */
    docker_socket: z.string().default(''),
    /** For docker: glob patterns of container names to follow; empty follows every container. */
    containers: z.array(z.string()).default([]),
    /** For exec: the program and its arguments, run without a shell (a shell only as ["sh", "-c", "..."]). */
    command: z
      .array(z.string().min(1, 'an argument of command is empty'), {
        error: (iss) =>
          iss.code === 'invalid_type'
            ? 'command is a list of arguments run without a shell, e.g. ["/usr/bin/tool", "--follow"]; for a shell command write ["sh", "-c", "..."]'
            : undefined,
      })
      .default([]),
    /** For exec: variables added to the agent's environment for the command. */
    env: z.record(z.string(), z.string()).default({}),
    /** For exec: the command's working directory (empty: the agent's). */
    cwd: z.string().default(''),
    /** For exec: read stderr too, as stream "stderr" (stdout is stream "stdout"). */
    stderr: z.boolean().default(true),
    /** For exec: the wait before the command is started again after it exits; it doubles at each quick exit. */
    restart_delay: duration()
      .default(1_000)
      .refine((ms) => ms >= 10 && ms <= 3_600_000, 'must be between 10ms and 1h'),
    /** For exec: the longest wait; a run that lasted this long starts the doubling over. */
    restart_max_delay: duration()
      .default(60_000)
      .refine((ms) => ms >= 10 && ms <= 3_600_000, 'must be between 10ms and 1h'),
    /** Glob patterns of files to leave out. *.gz and other compressed rotations are always left out. */
    exclude: z.array(z.string()).default([]),
    /** Where a file seen for the first time is read from; a file that appears while running is read whole. */
    start_at: z.enum(['beginning', 'end']).default('beginning'),
    parser: parserSchema,
    multiline: multilineSchema.optional(),
    /** Parsed fields promoted to labels (indexed); everything else stays a field. */
    labels: z.array(z.string().regex(labelName, 'label names are letters, digits and _')).default([]),
    /** Fixed labels on every record of this source. */
    static_labels: z.record(z.string().regex(labelName, 'label names are letters, digits and _'), z.string()).default({}),
    /** Applied in order to each line before it is parsed or leaves the host. */
    redact: z.array(z.object({ pattern: regex('redact pattern'), replacement: z.string().default('[REDACTED]') }).strict()).default([]),
    /** Lines per second this source may ship (0 = unlimited), with this burst; the rest are dropped and counted. */
    rate_limit: z
      .object({ lines_per_second: z.number().min(0).default(0), burst: z.number().int().min(1).default(10_000) })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.type === 'file' && s.include.length === 0)
      ctx.addIssue({ code: 'custom', path: ['include'], message: 'a file source needs at least one include pattern' });
    if (s.type !== 'file' && s.include.length)
      ctx.addIssue({
        code: 'custom',
        path: ['include'],
        message: `${s.type === 'exec' ? 'an' : 'a'} ${s.type} source reads no files; leave include out`,
      });
    if (s.type === 'exec' && s.command.length === 0)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'an exec source needs a command, e.g. ["/usr/bin/tool", "--follow"]' });
    if (s.type !== 'exec' && s.command.length)
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: `a ${s.type} source runs no command; leave command out, or use type: exec`,
      });
    if (s.type === 'exec' && s.restart_max_delay < s.restart_delay)
      ctx.addIssue({ code: 'custom', path: ['restart_max_delay'], message: 'restart_max_delay is shorter than restart_delay' });
  });

export const logsSchema = z
  .object({
    sources: z.array(sourceSchema).default([]),
    /** A last line without a newline is shipped after this long without more bytes. */
    partial_line_timeout: duration().default(5_000),
    /** How often the include globs are listed again for new and rotated files. */
    scan_interval: duration()
      .default(1_000)
      .refine((ms) => ms >= 100 && ms <= 60_000, 'must be between 100ms and 1m'),
    /** A rotated or deleted file still open is closed after this long without new bytes. */
    rotate_wait: duration().default(5_000),
    /** Lines longer than this are cut (fields.truncated = "true"); the server's limit is 64 KiB. */
    max_line_bytes: byteSize()
      .default(64 * 1024)
      .refine((n) => n >= 256 && n <= 64 * 1024, 'must be between 256B and 64KiB'),
    batch: z
      .object({
        // Large enough that a busy file's batches, each a spool append, a positions save and a
        // report, cost little a line; a quiet source's go at max_wait anyway.
        max_lines: z.number().int().min(1).max(100_000).default(5_000),
        max_bytes: byteSize()
          .default(1024 * 1024)
          .refine((n) => n >= 1024, 'must be at least 1KiB'),
        max_wait: duration().default(250),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({})
  .superRefine((l, ctx) => {
    const seen = new Set<string>();
    l.sources.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['sources', i, 'name'], message: `source name "${s.name}" is used twice` });
      seen.add(s.name);
    });
    const stdin = l.sources.map((s, i) => [s, i] as const).filter(([s]) => s.type === 'stdin');
    for (const [s, i] of stdin.slice(1))
      ctx.addIssue({
        code: 'custom',
        path: ['sources', i, 'type'],
        message: `source "${s.name}" reads stdin, as "${stdin[0]?.[0].name}" does: the agent has one standard input`,
      });
  });

export type LogsConfig = z.output<typeof logsSchema>;
export type LogSourceConfig = LogsConfig['sources'][number];
export type ParserConfig = LogSourceConfig['parser'];
export type MultilineConfig = NonNullable<LogSourceConfig['multiline']>;
