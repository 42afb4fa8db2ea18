import { readdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { AgentConfig } from '../config.ts';
import type { MetricWriter } from '../metrics.ts';
import type { ProcRoots } from '../procfs/fs.ts';
import type { OptionKit } from './option-kit.ts';

export { NoDataError } from '../procfs/fs.ts';

export interface CollectContext {
  roots: ProcRoots;
  /** Aborted when the collector's time is up; long reads should give up. */
  signal: AbortSignal;
  log: Logger;
}

export interface Collector {
  update(out: MetricWriter, ctx: CollectContext): Promise<void> | void;
}

export type CollectorPlatform = 'linux' | 'darwin' | 'win32' | 'common';

/**
 * A collector's options, `collector_options.<name>` in the config and `--collector.<name>.<option>`
 * as flags: a zod schema with its defaults, built from the kit the config schema hands in
 * (collectors/options.ts gathers them), so the running agent loads collector files but never zod.
 */
export type OptionsDeclaration<S extends z.ZodType = z.ZodType> = (kit: OptionKit) => S;

/** The parsed options a declaration yields. */
export type OptionsOf<D extends OptionsDeclaration> = z.output<ReturnType<D>>;

export interface CollectorDefinition {
  /** The name used by `--collector.<name>` and in node_scrape_collector_* labels. */
  name: string;
  defaultEnabled: boolean;
  /** One line for `--help` and the docs. */
  description: string;
  options?: OptionsDeclaration;
  /** Most collectors need nothing from the config; those that do read it here. */
  create(config: AgentConfig): Collector;
}

/** What a collector file writes: with `options` declared, `create` is given them parsed. */
interface CollectorSpec<S extends z.ZodType> extends Omit<CollectorDefinition, 'options' | 'create'> {
  options?: OptionsDeclaration<S>;
  create(config: AgentConfig, options: z.output<S>): Collector;
}

export function defineCollector<S extends z.ZodType = z.ZodNever>(spec: CollectorSpec<S>): CollectorDefinition {
  const { options, create } = spec;
  if (!options) return spec as CollectorDefinition;
  // One function per definition: a reload keeps a collector whose create() is the same (collection.ts).
  return { ...spec, create: (config) => create(config, config.collector_options[spec.name] as z.output<S>) };
}

let bundled: { file: string; definition: CollectorDefinition }[] | undefined;

/** A bundle (npm run package) has no directory to read: it hands over every collector file it carries. */
export function useBundledCollectors(files: { file: string; definition: CollectorDefinition }[]): void {
  bundled = files;
}

const FILE = /^([a-z0-9_]+)\.(linux|darwin|win32|common)\.(ts|js)$/;

/**
 * Finds every collector for this platform: each `<name>.<platform>.ts` file in this directory
 * default-exports its definition, so adding a collector touches no other file.
 */
export async function loadCollectorDefinitions(platform: NodeJS.Platform = process.platform): Promise<CollectorDefinition[]> {
  if (bundled) {
    return bundled
      .filter(({ file }) => {
        const m = FILE.exec(file);
        return m && (m[2] === platform || m[2] === 'common');
      })
      .map(({ definition }) => definition);
  }
  const dir = new URL('.', import.meta.url);
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const defs: CollectorDefinition[] = [];
  const seen = new Map<string, string>();
  for (const file of (await readdir(dir)).sort()) {
    const m = FILE.exec(file);
    if (!m || m[3] !== ext || (m[2] !== platform && m[2] !== 'common')) continue;
    const other = seen.get(m[1] as string);
    // Two files for one collector: usually a build output left behind by a renamed source.
    if (other)
      throw new Error(`collectors ${other} and ${file} both define "${m[1]}" for ${platform}; remove one (or rebuild from a clean dist)`);
    seen.set(m[1] as string, file);
    const mod = (await import(new URL(file, dir).href)) as { default?: CollectorDefinition };
    if (!mod.default || mod.default.name !== m[1]) {
      throw new Error(`collector file ${file} must default-export defineCollector({ name: '${m[1]}', ... })`);
    }
    defs.push(mod.default);
  }
  return defs;
}
