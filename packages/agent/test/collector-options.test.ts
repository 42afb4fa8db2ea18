import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectorOptionsSchema, gatherCollectorOptions, optionKit } from '../src/collectors/options.ts';
import { type CollectorDefinition, defineCollector, loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { agentConfigSchema } from '../src/config.ts';

const PLATFORMS = ['linux', 'darwin', 'win32'] as const;

async function everyPlatform(): Promise<CollectorDefinition[]> {
  return (await Promise.all(PLATFORMS.map((p) => loadCollectorDefinitions(p)))).flat();
}

const noop = () => ({ update() {} });

describe('collector options gathered from the collectors', () => {
  it("every collector's declared options are collector_options.<name>, with its keys and defaults", async () => {
    const declaring = (await everyPlatform()).filter((d) => d.options);
    expect(declaring.map((d) => d.name)).toEqual(expect.arrayContaining(['cpu', 'filesystem', 'netdev', 'textfile', 'vmstat']));
    const gathered = collectorOptionsSchema.parse({}) as Record<string, unknown>;
    for (const def of declaring) {
      const own = def.options?.(optionKit).parse({});
      expect(gathered[def.name], def.name).toEqual(own);
      expect(Object.keys(collectorOptionsSchema.shape[def.name]?.parse({}) as object), def.name).toEqual(Object.keys(own as object));
    }
    // Nothing else: every key of collector_options belongs to a collector that declares it.
    expect(Object.keys(collectorOptionsSchema.shape).sort()).toEqual([...new Set(declaring.map((d) => d.name))].sort());
  });

  it('the same keys on every platform: macOS and Windows read the Linux declaration of filesystem and netdev', async () => {
    for (const platform of ['darwin', 'win32'] as const) {
      const defs = await loadCollectorDefinitions(platform);
      const config = agentConfigSchema.parse({ collector_options: { filesystem: { mount_timeout: '3s' } } });
      expect(config.collector_options.filesystem).toMatchObject({ mount_timeout: 3000 });
      for (const name of ['filesystem', 'netdev'])
        expect(defs.find((d) => d.name === name)?.create(config), `${platform} ${name}`).toBeTruthy();
    }
  });

  it("a collector's create() is handed its own options, parsed", () => {
    let seen: { level: number } | undefined;
    const def = defineCollector({
      name: 'probe',
      defaultEnabled: false,
      description: 'test',
      options: ({ z }) => z.object({ level: z.number().default(3) }).strict(),
      create: (_config, options) => {
        seen = options;
        return noop();
      },
    });
    const schema = gatherCollectorOptions([def]);
    def.create({ collector_options: schema.parse({ probe: { level: 7 } }) } as never);
    expect(seen).toEqual({ level: 7 });
    expect(schema.parse({})).toEqual({ probe: { level: 3 } });
    expect(schema.safeParse({ probe: { nope: 1 } }).success).toBe(false);
  });

  it('one declaration shared by two platform files is fine; two different ones under one name are refused', () => {
    const options = optionKit.z.object({}).strict();
    const declare = () => options;
    const def = (d: () => typeof options) =>
      defineCollector({ name: 'twice', defaultEnabled: true, description: 'test', options: d, create: noop });
    expect(Object.keys(gatherCollectorOptions([def(declare), def(declare)]).shape)).toEqual(['twice']);
    expect(() => gatherCollectorOptions([def(declare), def(() => options)])).toThrow(
      'collector "twice" declares its options in two files; declare them in one and import them in the other',
    );
  });

  it('loading every collector file loads no zod: the running agent never holds the schema', () => {
    const registry = pathToFileURL(join(import.meta.dirname, '../src/collectors/registry.ts')).href;
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
      const { loadCollectorDefinitions } = await import(${JSON.stringify(registry)});
      let n = 0;
      for (const platform of ['linux', 'darwin', 'win32']) n += (await loadCollectorDefinitions(platform)).length;
      console.log(JSON.stringify({ n, schema: loaded.filter((u) => /\\/zod\\/|\\/collectors\\/options\\.ts$|\\/src\\/config\\.ts$/.test(u)) }));
    `;
    const out = execFileSync(
      process.execPath,
      ['--conditions=source', '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const { n, schema } = JSON.parse(out.trim().split('\n').at(-1) as string) as { n: number; schema: string[] };
    expect(n).toBeGreaterThan(40);
    expect(schema).toEqual([]);
  });
});
