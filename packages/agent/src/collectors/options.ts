import { z } from 'zod';
import { optionKit } from './option-kit.ts';
import { type CollectorDefinition, loadCollectorDefinitions, type OptionsDeclaration } from './registry.ts';

export { type OptionKit, optionKit } from './option-kit.ts';

/**
 * Options of individual collectors, as node_exporter's `--collector.<name>.<option>` flags. Each
 * collector declares its own in its file (`options` of its definition); the schema here gathers
 * them from every platform's collectors, so the keys are the same on every platform. In the config
 * file they live under `collector_options.<name>.<option_with_underscores>`; the flag
 * `--collector.filesystem.mount-points-exclude` sets `collector_options.filesystem.mount_points_exclude`.
 */

const PLATFORMS = ['linux', 'darwin', 'win32'] as const;

/**
 * One object of every collector's options, each at its defaults when absent. A collector with
 * files for several platforms declares its options once (the other files import the declaration);
 * two different declarations under one name are an error.
 */
export function gatherCollectorOptions(defs: readonly CollectorDefinition[]) {
  const declared = new Map<string, OptionsDeclaration>();
  for (const def of defs) {
    if (!def.options) continue;
    const other = declared.get(def.name);
    if (other && other !== def.options)
      throw new Error(`collector "${def.name}" declares its options in two files; declare them in one and import them in the other`);
    declared.set(def.name, def.options);
  }
  const entries = [...declared].sort(([a], [b]) => (a < b ? -1 : 1));
  const shape = entries.map(([name, declare]) => {
    const schema = declare(optionKit);
    return [name, schema.default(schema.parse({}))] as const;
  });
  return z.object(Object.fromEntries(shape)).strict();
}

export const collectorOptionsSchema = gatherCollectorOptions(
  (await Promise.all(PLATFORMS.map((platform) => loadCollectorDefinitions(platform)))).flat(),
);

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
