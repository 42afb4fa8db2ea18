import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pb } from '@falconet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { updateSchema } from '../src/update/config.ts';
import { type PendingStatus, StatusQueue } from '../src/update/status-queue.ts';
import { rollBack, runTrial, swapIn, trialAndExec } from '../src/update/trial.ts';
import { type StagedUpdate, Updater } from '../src/update/updater.ts';

// Small shell scripts stand in for the new binary: the trial only needs a program that writes the
// trial file, exits, or hangs; a real single-file build is exercised by e2e/self-update.test.ts.
const S = pb.UpdateState;
const log = pino({ level: 'silent' });

const PASSES =
  '#!/bin/sh\ntrap \'echo stopped > "$(dirname "$FALCONET_UPDATE_TRIAL")/child-stopped"; exit 0\' TERM\necho "$@" > "$(dirname "$FALCONET_UPDATE_TRIAL")/child-args"\necho \'{"ok":true}\' > "$FALCONET_UPDATE_TRIAL"\nwhile :; do sleep 0.1; done\n';
const CRASHES = '#!/bin/sh\necho "starting" >&2\necho "fatal: cannot open /nowhere" >&2\nexit 3\n';
const HANGS = '#!/bin/sh\nexec sleep 600\n';

function stage(script: string): StagedUpdate {
  const dir = tempDir('falconet-trial-');
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'data', 'update'), { recursive: true });
  const current = join(dir, 'bin', 'falconet-agent');
  writeFileSync(current, '#!/bin/sh\necho old\n', { mode: 0o755 });
  const next = join(dir, 'bin', 'falconet-agent.next');
  writeFileSync(next, script, { mode: 0o755 });
  return { rolloutId: 'r1', fromVersion: '1.0.0', toVersion: '1.1.0', current, next, updateDir: join(dir, 'data', 'update') };
}

const opts = { argv: ['run', '--data-dir', '/x'], env: { PATH: process.env.PATH }, timeoutMs: 60_000, log };

describe('the trial: the new binary as a child, judged by its trial file', { timeout: 60_000 }, () => {
  it('passes once the child writes {"ok":true}; the child gets the same arguments and is stopped with SIGTERM', async () => {
    const u = stage(PASSES);
    expect(await runTrial(u, opts)).toEqual({ ok: true });
    expect(readFileSync(join(u.updateDir, 'child-args'), 'utf8').trim()).toBe('run --data-dir /x');
    expect(existsSync(join(u.updateDir, 'child-stopped'))).toBe(true);
  });

  it('fails with the exit code and the last stderr lines when the child exits', async () => {
    const u = stage(CRASHES);
    expect(await runTrial(u, opts)).toEqual({
      ok: false,
      reason:
        'the new version exited with code 3 before a report was acknowledged; last stderr lines: starting | fatal: cannot open /nowhere',
    });
  });

  it('fails when the child neither passes nor exits in time', async () => {
    // 2 s instead of the real 60 s: only the message and the kill are under test here.
    const u = stage(HANGS);
    expect(await runTrial(u, { ...opts, timeoutMs: 2000 })).toEqual({
      ok: false,
      reason: 'no report acknowledged within 2 s; nothing on stderr',
    });
  });

  it('stops the child when the agent is stopped during the trial', async () => {
    const u = stage(HANGS);
    const abort = new AbortController();
    const trial = runTrial(u, { ...opts, signal: abort.signal });
    abort.abort();
    expect(await trial).toEqual({ ok: false, reason: 'the agent was stopped during the trial', stopped: true });
  });
});

describe('swap and rollback: the file moves', { timeout: 60_000 }, () => {
  it('swapIn keeps the old binary as .previous and puts .next at the current path', () => {
    const u = stage('#!/bin/sh\necho new\n');
    swapIn(u);
    expect(readFileSync(u.current, 'utf8')).toBe('#!/bin/sh\necho new\n');
    expect(statSync(u.current).mode & 0o777).toBe(0o755);
    expect(readFileSync(u.current.replace(/falconet-agent$/, 'falconet-agent.previous'), 'utf8')).toBe('#!/bin/sh\necho old\n');
    expect(existsSync(u.next)).toBe(false);
  });

  it('rollBack removes .next, queues ROLLED_BACK with the reason, and remembers the version', () => {
    const u = stage(CRASHES);
    rollBack(u, 'the new version exited with code 3');
    expect(existsSync(u.next)).toBe(false);
    expect(readFileSync(u.current, 'utf8')).toBe('#!/bin/sh\necho old\n');
    expect(new StatusQueue(u.updateDir).pending.map((s) => [s.state, s.reason])).toEqual([
      [S.UPDATE_STATE_ROLLED_BACK, 'the new version exited with code 3'],
    ]);
    expect(JSON.parse(readFileSync(join(u.updateDir, 'rolled-back.json'), 'utf8'))).toEqual(['1.1.0']);
  });

  it('trialAndExec: passed -> swapped, then exec of the current path without the trial variable', async () => {
    const u = stage(PASSES);
    const calls: [string, string[], NodeJS.ProcessEnv][] = [];
    await trialAndExec(u, { ...opts, env: { ...opts.env, FALCONET_UPDATE_TRIAL: 'stale' }, execve: (f, a, e) => calls.push([f, a, e]) });
    expect(calls).toEqual([[u.current, [u.current, 'run', '--data-dir', '/x'], { PATH: process.env.PATH }]]);
    expect(readFileSync(u.current, 'utf8')).toBe(PASSES);
    expect(JSON.parse(readFileSync(join(u.updateDir, 'swapped.json'), 'utf8'))).toEqual({
      rolloutId: 'r1',
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
    });
    expect(new StatusQueue(u.updateDir).pending.map((s) => s.state)).toEqual([S.UPDATE_STATE_SWAPPED]);
  });

  it('trialAndExec: failed -> rolled back, then exec of the old binary at the same path', async () => {
    const u = stage(CRASHES);
    const calls: string[] = [];
    await trialAndExec(u, { ...opts, execve: (f) => calls.push(f) });
    expect(calls).toEqual([u.current]);
    expect(readFileSync(u.current, 'utf8')).toBe('#!/bin/sh\necho old\n');
    expect(existsSync(u.next)).toBe(false);
    expect(new StatusQueue(u.updateDir).pending.map((s) => s.state)).toEqual([S.UPDATE_STATE_SWAPPED, S.UPDATE_STATE_ROLLED_BACK]);
  });

  it('trialAndExec: passed but the swap fails -> rolled back with the reason, the old binary exec-ed', async () => {
    const u = stage(PASSES);
    // A directory where the .previous link goes makes the swap fail before the rename.
    mkdirSync(join(u.current, '..', 'falconet-agent.previous', 'x'), { recursive: true });
    const calls: string[] = [];
    await trialAndExec(u, { ...opts, execve: (f) => calls.push(f) });
    expect(calls).toEqual([u.current]);
    expect(readFileSync(u.current, 'utf8')).toBe('#!/bin/sh\necho old\n');
    const last = new StatusQueue(u.updateDir).pending.at(-1);
    expect(last?.state).toBe(S.UPDATE_STATE_ROLLED_BACK);
    expect(last?.reason).toMatch(/^the new version passed its trial, but the swap failed: /);
  });

  it('the binary exec-ed after a swap reports SUCCEEDED (or FAILED when another version came up)', () => {
    for (const [version, state] of [
      ['1.1.0', S.UPDATE_STATE_SUCCEEDED],
      ['1.0.0', S.UPDATE_STATE_FAILED],
    ] as const) {
      const u = stage(PASSES);
      writeFileSync(join(u.updateDir, 'swapped.json'), JSON.stringify({ rolloutId: 'r1', fromVersion: '1.0.0', toVersion: '1.1.0' }));
      const updater = new Updater({
        config: updateSchema.parse({}),
        dataDir: join(u.updateDir, '..'),
        log,
        self: { version, target: 'linux-x64', binary: u.current },
        env: {},
        onStaged: () => undefined,
      });
      expect(updater.pendingStatuses).toBe(1);
      expect(new StatusQueue(u.updateDir).pending[0]).toMatchObject({ rolloutId: 'r1', state, toVersion: '1.1.0' });
      expect(existsSync(join(u.updateDir, 'swapped.json'))).toBe(false);
    }
  });
});

describe('the status queue: kept on disk until the server has it', () => {
  const status = (rolloutId: string): pb.UpdateStatus => ({
    rolloutId,
    state: S.UPDATE_STATE_REFUSED,
    fromVersion: '1.0.0',
    toVersion: '0.9.0',
    reason: 'downgrade from 1.0.0 to 0.9.0 refused',
    timeMs: 1,
  });

  it('survives a restart, and leaves only once a report written after it is acknowledged', () => {
    const dir = join(tempDir(), 'update');
    const q = new StatusQueue(dir);
    q.push(status('a'));
    q.push(status('b'));
    expect(new StatusQueue(dir).pending.map((s) => s.rolloutId)).toEqual(['a', 'b']);
    const [a, b] = q.unwritten() as [PendingStatus, PendingStatus];
    q.written(a.id, 10); // written after report 10
    expect(q.unwritten().map((s) => s.rolloutId)).toEqual(['b']);
    expect(q.acked(10)).toBe(0); // report 10 was sent before the status: proves nothing
    q.written(b.id, 12);
    expect(q.acked(11)).toBe(1);
    expect(new StatusQueue(dir).pending.map((s) => s.rolloutId)).toEqual(['b']);
    q.reconnected(); // the stream was lost before report 13 was acknowledged: b goes again
    expect(q.unwritten().map((s) => s.rolloutId)).toEqual(['b']);
    q.written(b.id, 0);
    expect(q.acked(1)).toBe(1);
    expect(existsSync(join(dir, 'statuses.json'))).toBe(false);
  });

  it('ignores a file that is not its own', () => {
    const dir = join(tempDir(), 'update');
    mkdirSync(dir);
    writeFileSync(join(dir, 'statuses.json'), 'not json');
    expect(new StatusQueue(dir).pending).toEqual([]);
  });
});
