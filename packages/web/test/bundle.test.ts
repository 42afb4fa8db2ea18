/**
 * The dashboard takes the API contract's types, never its schemas: a build of it holds no module
 * of zod, and of the contract only the plain lists of api/enums.ts. Built in memory, nothing written.
 */
import { join } from 'node:path';
import { build, type Rollup } from 'vite';
import { describe, expect, it } from 'vitest';

describe('the dashboard bundle', () => {
  it('holds nothing of zod, and of the API contract only its enum values', async () => {
    const root = join(import.meta.dirname, '..');
    const out = await build({
      root,
      configFile: join(root, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'silent',
      build: { write: false },
    });
    const modules = (Array.isArray(out) ? out : [out as Rollup.RollupOutput]).flatMap((o) =>
      o.output.flatMap((chunk) => (chunk.type === 'chunk' ? Object.keys(chunk.modules) : [])),
    );
    expect(modules.length).toBeGreaterThan(50);
    expect(modules.filter((m) => /[\\/]node_modules[\\/]zod[\\/]/.test(m))).toEqual([]);
    expect(modules.filter((m) => /[\\/]packages[\\/]protocol[\\/]/.test(m))).toEqual([
      expect.stringMatching(/protocol[\\/]src[\\/]api[\\/]enums\.ts$/),
    ]);
  }, 120_000);
});
