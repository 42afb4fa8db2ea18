import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../testing/processes.ts';

/** CI's last lines: what passed, failed and skipped, and every skip named with its reason or refused. */
describe('.ci/summary.mjs', () => {
  const summarize = (statuses: string[], steps = 0, testExit = 0) => {
    const report = join(tempDir('falconet-ci-'), 'vitest.json');
    const assertionResults = statuses.map((status, i) => ({ fullName: `case ${i}`, status }));
    writeFileSync(report, JSON.stringify({ testResults: [{ name: join(ROOT, 'e2e/some.test.ts'), status: 'passed', assertionResults }] }));
    const r = spawnSync(process.execPath, [join(ROOT, '.ci/summary.mjs'), report, String(steps), String(testExit)], { encoding: 'utf8' });
    return { code: r.status, lines: r.stdout.trimEnd().split('\n') };
  };

  it('counts a test command that failed with every test passed (unhandled errors) as one failure', () => {
    const r = summarize(['passed', 'passed'], 0, 1);
    expect(r.lines.at(-2)).toMatch(/^the test command exited with 1 though no test failed/);
    expect(r.lines.at(-1)).toBe('2 passed, 1 failed, 0 skipped');
    expect(r.code).toBe(1);
    // Failed tests already say why the command failed: no extra count.
    expect(summarize(['passed', 'failed'], 0, 1).lines.at(-1)).toBe('1 passed, 1 failed, 0 skipped');
  });

  it('counts passed, failed and skipped tests, and failed steps as failures', () => {
    const r = summarize(['passed', 'passed', 'failed'], 1);
    expect(r.lines.at(-1)).toBe('2 passed, 2 failed, 0 skipped');
    expect(r.code).toBe(1);
    expect(summarize(['passed']).code).toBe(0);
  });

  it('names a skipped test and fails it when .ci/allowed-skips gives no reason for it', () => {
    const r = summarize(['passed', 'skipped', 'todo']);
    expect(r.lines).toContain('  e2e/some.test.ts :: case 1 (skipped): NOT ALLOWED: no reason listed, counted as failed');
    expect(r.lines).toContain('  e2e/some.test.ts :: case 2 (todo): NOT ALLOWED: no reason listed, counted as failed');
    expect(r.lines.at(-1)).toBe('1 passed, 2 failed, 2 skipped');
    expect(r.code).toBe(1);
  });

  it('a test that cannot load counts once', () => {
    const report = join(tempDir('falconet-ci-'), 'vitest.json');
    writeFileSync(
      report,
      JSON.stringify({ testResults: [{ name: join(ROOT, 'e2e/broken.test.ts'), status: 'failed', assertionResults: [] }] }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, '.ci/summary.mjs'), report, '0'], { encoding: 'utf8' });
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed, 0 skipped');
  });
});
