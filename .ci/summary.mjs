// Reads Vitest's JSON report and prints every skipped test, the list of skips CI allows
// (.ci/allowed-skips), and the last line `N passed, N failed, N skipped`. A skipped test that the
// list does not name counts as failed: a test that cannot run here is a defect, not a skip.
// A test command that failed though no test did (Vitest's unhandled errors) counts as one failure.
// usage: node .ci/summary.mjs REPORT.json FAILED_STEPS [TEST_EXIT_CODE]
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [reportFile, steps = '0', testExit = '0'] = process.argv.slice(2);

/** `FILE :: FULL TEST NAME :: REASON` per line; # starts a comment. */
function allowedSkips() {
  const file = join(root, '.ci/allowed-skips');
  const allowed = new Map();
  if (!existsSync(file)) return allowed;
  for (const [i, raw] of readFileSync(file, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(' :: ');
    if (parts.length !== 3 || parts.some((p) => !p.trim())) {
      console.log(`.ci/allowed-skips:${i + 1}: expected "FILE :: FULL TEST NAME :: REASON", got: ${line}`);
      process.exitCode = 1;
      continue;
    }
    allowed.set(`${parts[0].trim()} :: ${parts[1].trim()}`, parts[2].trim());
  }
  return allowed;
}

let passed = 0;
let failed = Number(steps);
const skipped = [];
try {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  for (const file of report.testResults) {
    // A suite that fails to load has no tests to count; count it once.
    if (file.status === 'failed' && file.assertionResults.length === 0) failed++;
    for (const t of file.assertionResults) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') failed++;
      else skipped.push({ file: relative(root, file.name), name: t.fullName, status: t.status });
    }
  }
} catch (err) {
  console.log(`no test report at ${reportFile}: ${err.message}`);
  failed++;
}

const allowed = allowedSkips();
console.log(`\nskips CI allows (.ci/allowed-skips): ${allowed.size === 0 ? 'none' : ''}`);
for (const [test, why] of allowed) console.log(`  ${test}: ${why}`);
console.log(`skipped tests: ${skipped.length === 0 ? 'none' : ''}`);
for (const s of skipped) {
  const why = allowed.get(`${s.file} :: ${s.name}`);
  console.log(`  ${s.file} :: ${s.name} (${s.status}): ${why ?? 'NOT ALLOWED: no reason listed, counted as failed'}`);
  if (why === undefined) failed++;
}
if (Number(testExit) !== 0 && failed === 0) {
  console.log(
    `the test command exited with ${testExit} though no test failed: errors outside the tests (Vitest's unhandled errors, above) count as one failure`,
  );
  failed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
process.exit(failed > 0 || process.exitCode ? 1 : 0);
