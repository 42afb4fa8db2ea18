import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseExposition } from '../exporter/parse.ts';
import type { MetricFamily, MetricWriter } from '../metrics.ts';
import { defineCollector } from './registry.ts';

type FileResult = { families: MetricFamily[]; mtime: number } | { error: string };

/**
 * Reads `*.prom` files that cron jobs and scripts write into one directory, as node_exporter's
 * textfile collector does. A file that does not parse is left out whole and
 * node_textfile_scrape_error turns 1; the rest of the scrape is unaffected.
 */
export class TextfileReader {
  readonly #dir: string;
  /** Last error per file, so a file that stays broken is logged once, not on every scrape. */
  readonly #reported = new Map<string, string>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  #report(log: Logger, file: string, message: string): void {
    if (this.#reported.get(file) === message) return;
    this.#reported.set(file, message);
    log.warn({ file, err: message }, 'textfile skipped');
  }

  async update(out: MetricWriter, log: Logger): Promise<void> {
    let failed = false;
    const seen = new Set<string>();
    if (this.#dir !== '') {
      let files: string[] = [];
      try {
        files = (await readdir(this.#dir)).filter((f) => f.endsWith('.prom')).sort();
      } catch (err) {
        failed = true;
        this.#report(log, this.#dir, `cannot read the textfile directory: ${(err as Error).message}`);
      }
      // Files are read in parallel, merged in name order so the output does not depend on timing.
      const results = await Promise.all(files.map((f) => this.#readOne(join(this.#dir, f))));
      files.forEach((file, i) => {
        const r = results[i] as FileResult;
        seen.add(file);
        if ('error' in r) {
          failed = true;
          this.#report(log, file, r.error);
          return;
        }
        for (const f of r.families) {
          const existing = out.has(f.name);
          if (existing && existing.type !== f.type) {
            failed = true;
            this.#report(log, file, `${f.name} is a ${f.type} here but a ${existing.type} in an earlier file; left out`);
            continue;
          }
          out.addFamily(f);
        }
        out.gauge('node_textfile_mtime_seconds', 'Modification time of each textfile read, in seconds since the epoch.', r.mtime, { file });
        if (this.#reported.delete(file)) log.info({ file }, 'textfile parses again');
      });
    }
    for (const file of this.#reported.keys()) if (file !== this.#dir && !seen.has(file)) this.#reported.delete(file);
    if (!failed) this.#reported.delete(this.#dir);
    out.gauge('node_textfile_scrape_error', 'Whether reading or parsing any textfile failed (1) or not (0).', failed ? 1 : 0);
  }

  async #readOne(path: string): Promise<FileResult> {
    try {
      const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const parsed = parseExposition(text);
      if (parsed.hasTimestamps) return { error: 'samples carry timestamps, which the textfile collector does not accept' };
      return { families: parsed.families, mtime: st.mtimeMs / 1000 };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
}

export default defineCollector({
  name: 'textfile',
  defaultEnabled: true,
  description: 'Metrics from *.prom files in collector_options.textfile.directory, written by scripts and cron jobs.',
  create: ({ collector_options: options }) => {
    const reader = new TextfileReader(options.textfile.directory);
    return { update: (out, { log }) => reader.update(out, log) };
  },
});
