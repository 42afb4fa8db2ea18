/**
 * The dashboard declares no server shape of its own: every REST answer and live message it reads is
 * a type of the API contract (@falconet/protocol/api), so a field the server renames fails `tsc`
 * here instead of breaking a page. This test finds the declarations that would copy one by hand.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as contract from '@falconet/protocol/api';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const SRC = join(import.meta.dirname, '../src');
const CONTRACT = join(import.meta.dirname, '../../protocol/src/api');

/** Every name the contract exports: its schemas (at run time) and its types (from its source, `export type X`). */
const contractNames = new Set([
  ...Object.keys(contract),
  ...sourceFiles(CONTRACT).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/^export (?:type|interface) (\w+)/gm)].map((m) => m[1] as string),
  ),
]);

/** An interface or object type the dashboard declares: its name, where, and its own fields. */
export interface Declaration {
  name: string;
  where: string;
  fields: string[];
}

/** `interface X {...}` and `type X = {...}` in TypeScript source, with their top-level field names. */
export function declarations(source: string, file: string): Declaration[] {
  const out: Declaration[] = [];
  const head = /^[ \t]*(?:export\s+)?(?:interface\s+(\w+)(?:<[^>{]*>)?(?:\s+extends\s+[^{]+)?|type\s+(\w+)(?:<[^>=]*>)?\s*=)\s*\{/gm;
  for (let m = head.exec(source); m; m = head.exec(source)) {
    const open = head.lastIndex - 1;
    let depth = 0;
    let end = open;
    for (let i = open; i < source.length; i++) {
      const c = source[i];
      if (c === '{' || c === '(' || c === '[' || c === '<') depth++;
      else if (c === '}' || c === ')' || c === ']' || (c === '>' && source[i - 1] !== '=')) depth--;
      if (depth === 0) {
        end = i;
        break;
      }
    }
    const fields: string[] = [];
    depth = 0;
    let piece = '';
    for (const c of `${source.slice(open + 1, end)};`) {
      if (c === '{' || c === '(' || c === '[' || c === '<') depth++;
      else if (c === '}' || c === ')' || c === ']' || c === '>') depth--;
      if (depth === 0 && (c === ';' || c === '\n' || c === ',')) {
        const field = /^\s*(?:readonly\s+)?['"]?([\w$]+)['"]?\??\s*:/.exec(piece);
        if (field) fields.push(field[1] as string);
        piece = '';
      } else piece += c;
    }
    out.push({ name: (m[1] ?? m[2]) as string, where: `${file}:${source.slice(0, m.index).split('\n').length}`, fields });
  }
  return out;
}

/** The contract's object schemas by export name, with their field names. */
function contractObjects(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of Object.entries(contract)) {
    if (value instanceof z.ZodObject) out.set(name, Object.keys(value.shape));
  }
  return out;
}

/** What is wrong with these declarations: a contract name declared again, or a contract shape copied. */
export function copiesOfTheContract(decls: Declaration[]): string[] {
  const objects = contractObjects();
  const problems: string[] = [];
  for (const d of decls) {
    if (contractNames.has(d.name)) {
      problems.push(`${d.where}: ${d.name} is the contract's; import type { ${d.name} } from '@falconet/protocol/api'`);
      continue;
    }
    // Three fields or more, every one of them a field of one contract object: a hand copy of (part of) it.
    if (d.fields.length < 3) continue;
    for (const [name, keys] of objects) {
      if (d.fields.every((f) => keys.includes(f))) {
        problems.push(`${d.where}: ${d.name} {${d.fields.join(', ')}} mirrors the contract's ${name}; import its type instead`);
        break;
      }
    }
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('the API contract in the dashboard', () => {
  it('declares no interface or type of its own for a server answer or live message', () => {
    const decls = sourceFiles(SRC).flatMap((f) => declarations(readFileSync(f, 'utf8'), relative(SRC, f)));
    expect(decls.length).toBeGreaterThan(5);
    expect(copiesOfTheContract(decls)).toEqual([]);
  });

  it('imports the contract for types only, and its enum values from the zod-free api/enums', () => {
    const problems = sourceFiles(SRC).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/^import\s+(type\s+)?[^;]*?from\s+'(@falconet\/protocol[^']*)'/gms)]
        .filter(([, typeOnly, from]) => !(from === '@falconet/protocol/api/enums' || (from === '@falconet/protocol/api' && typeOnly)))
        .map(([line]) => `${relative(SRC, f)}: ${line.replace(/\s+/g, ' ')}`),
    );
    expect(problems).toEqual([]);
  });

  it('catches a hand-written copy, by name or by fields', () => {
    const copied = declarations(
      [
        'export interface Agent { id: string; hostname: string }',
        'interface Host {',
        '  id: string;',
        '  /** shown */',
        '  hostname: string;',
        '  status: "online" | "offline";',
        '}',
        'type Point2 = { x: number; y: number; z: number };',
      ].join('\n'),
      'example.ts',
    );
    expect(copied.map((d) => [d.name, d.fields])).toEqual([
      ['Agent', ['id', 'hostname']],
      ['Host', ['id', 'hostname', 'status']],
      ['Point2', ['x', 'y', 'z']],
    ]);
    expect(copiesOfTheContract(copied)).toEqual([
      expect.stringContaining("example.ts:1: Agent is the contract's"),
      expect.stringMatching(/example\.ts:2: Host \{id, hostname, status\} mirrors the contract's \w+/),
    ]);
  });
});
