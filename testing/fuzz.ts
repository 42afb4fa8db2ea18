/**
 * Test support for the property-based fuzz tests (`fuzz-*.test.ts`, issue 24): every property runs
 * through `fuzz()`, with one seed and one run count for the whole set, so CI is repeatable and a
 * failure can be replayed.
 *
 *   FUZZ_SEED   the seed (default 24); `random` picks one, which a failure prints
 *   FUZZ_RUNS   cases per property (default 100; a property may scale it down, e.g. one over HTTP)
 *   FUZZ_PATH   with FUZZ_SEED, replays one failing case straight away (printed on failure)
 *   FUZZ_REPORT a file to which each property appends one JSON line {property, runs, ms} (the bench reads it)
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}="${raw}": expected a positive whole number`);
  return n;
}

const seedText = process.env.FUZZ_SEED;
export const FUZZ_SEED =
  seedText === 'random' ? (Math.random() * 2 ** 31) | 0 : seedText === undefined || seedText === '' ? 24 : Number(seedText);
if (!Number.isSafeInteger(FUZZ_SEED)) throw new Error(`FUZZ_SEED="${seedText}": expected a whole number or "random"`);
export const FUZZ_RUNS = envInt('FUZZ_RUNS', 100);

/**
 * A test timeout that grows with FUZZ_RUNS, for the long runs of the bench; `perRunMs` is what
 * one case may take at worst.
 */
export function fuzzTimeout(perRunMs = 20, scale = 1): number {
  return Math.max(20_000, Math.ceil(FUZZ_RUNS * scale) * perRunMs * 2);
}

/**
 * Checks a property with the shared seed and `FUZZ_RUNS * scale` cases. A failure says how to
 * replay it (FUZZ_SEED, FUZZ_PATH) above fast-check's own report of the shrunk counterexample.
 */
export async function fuzz<Ts extends [unknown, ...unknown[]]>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  scale = 1,
): Promise<void> {
  const numRuns = Math.max(1, Math.ceil(FUZZ_RUNS * scale));
  const path = process.env.FUZZ_PATH || undefined;
  const started = performance.now();
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, { seed: FUZZ_SEED, numRuns, ...(path ? { path } : {}) });
  if (process.env.FUZZ_REPORT) {
    const ms = Math.round(performance.now() - started);
    appendFileSync(process.env.FUZZ_REPORT, `${JSON.stringify({ property: name, runs: details.numRuns, failed: details.failed, ms })}\n`);
  }
  if (details.failed) {
    const replay = `FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${FUZZ_RUNS}${details.counterexamplePath ? ` FUZZ_PATH=${details.counterexamplePath}` : ''}`;
    const cause = details.errorInstance instanceof Error ? details.errorInstance : undefined;
    const thrown = cause ? `\nThe property threw: ${cause.name}: ${cause.message.slice(0, 2000)}` : '';
    throw new Error(`fuzz "${name}" failed; replay with ${replay}\n${fc.defaultReportMessage(details)}${thrown}`, { cause });
  }
}

/** Text that is mostly printable, now and then any code unit (lone surrogates included). */
export const anyText = (maxLength = 200): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength, unit: 'grapheme-ascii' }) },
    { weight: 1, arbitrary: fc.string({ maxLength, unit: 'binary' }) },
  );

/**
 * Text from a dictionary of the decoder's own tokens, now and then with noise in between: arbitrary
 * characters alone rarely get past a parser's first check.
 */
export function tokenText(tokens: readonly string[], maxTokens = 30): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...tokens) },
    { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: 'grapheme-ascii' }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 2, unit: 'binary' }) },
  );
  return fc.array(piece, { maxLength: maxTokens }).map((parts) => parts.join(''));
}

/** Names that are easy to get wrong in JavaScript: keys an ordinary object already has. */
export const OBJECT_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'] as const;

export { fc };
