import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CollectorDefinition } from '../collectors/registry.ts';

const FILE = /\.(m?js|ts|mts)$/;
const NAME = /^[a-z0-9_]+$/;

export interface ModuleLoadResult {
  definitions: CollectorDefinition[];
  /** One line per file that could not be used, naming the file and why. */
  errors: string[];
}

/** The same file at the same mtime is imported once; an edited file is imported again under a new URL. */
const cache = new Map<string, { mtimeMs: number; def: CollectorDefinition }>();

function check(def: unknown, file: string): CollectorDefinition {
  const d = def as Partial<CollectorDefinition> | undefined;
  if (!d || typeof d !== 'object')
    throw new Error('must default-export a collector definition { name, defaultEnabled, description, create }');
  if (typeof d.name !== 'string' || !NAME.test(d.name))
    throw new Error(`name must be lower-case letters, digits and _, got ${JSON.stringify(d.name)}`);
  if (typeof d.create !== 'function') throw new Error(`${d.name}: create must be a function returning { update(out, ctx) }`);
  return {
    name: d.name,
    defaultEnabled: d.defaultEnabled ?? true,
    description: typeof d.description === 'string' ? d.description : `plugin ${file}`,
    create: () => {
      const c = (d.create as () => unknown)() as { update?: unknown } | undefined;
      if (!c || typeof c.update !== 'function') throw new Error(`${d.name}: create() must return an object with update(out, ctx)`);
      return c as ReturnType<CollectorDefinition['create']>;
    },
  };
}

/**
 * Loads the collector plugins of a directory: every `.js`, `.mjs` or `.ts` file default-exports
 * a definition with the collector interface (`{ name, defaultEnabled, description, create }`).
 * A file that fails to load is reported and skipped; the others still load. TypeScript files
 * need a Node.js that strips types (22.18 or later, 23.6 or later).
 */
export async function loadModulePlugins(dir: string, builtIn: ReadonlySet<string>): Promise<ModuleLoadResult> {
  const result: ModuleLoadResult = { definitions: [], errors: [] };
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => FILE.test(f) && !f.endsWith('.d.ts')).sort();
  } catch (err) {
    result.errors.push(`${dir}: cannot read the plugin directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return result;
  }
  const seen = new Set<string>();
  for (const f of files) {
    const path = resolve(join(dir, f));
    try {
      const { mtimeMs } = await stat(path);
      let def = cache.get(path)?.mtimeMs === mtimeMs ? cache.get(path)?.def : undefined;
      if (!def) {
        const mod = (await import(`${pathToFileURL(path).href}?mtime=${mtimeMs}`)) as { default?: unknown };
        def = check(mod.default, f);
        cache.set(path, { mtimeMs, def });
      }
      if (builtIn.has(def.name)) throw new Error(`name "${def.name}" is already a built-in collector`);
      if (seen.has(def.name)) throw new Error(`name "${def.name}" is used by another plugin file`);
      seen.add(def.name);
      result.definitions.push(def);
    } catch (err) {
      result.errors.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return result;
}
