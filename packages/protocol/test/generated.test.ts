import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');

describe('generated code', () => {
  it('is what buf + ts-proto produce from the .proto today', () => {
    const out = mkdtempSync(join(tmpdir(), 'falconet-gen-'));
    const template = readFileSync(join(pkg, 'buf.gen.yaml'), 'utf8').replace('out: src/gen', `out: ${out}`);
    const tplFile = join(out, 'buf.gen.yaml');
    writeFileSync(tplFile, template);
    execFileSync(join(pkg, '../../node_modules/.bin/buf'), ['generate', '--template', tplFile], { cwd: pkg });
    const fresh = readFileSync(join(out, 'falconet/v1/agent.ts'), 'utf8');
    expect(fresh).toBe(readFileSync(join(pkg, 'src/gen/falconet/v1/agent.ts'), 'utf8'));
  });
});
