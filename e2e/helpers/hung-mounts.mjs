// Runs as PID 1 of a private mount and PID namespace (see hung-mount.test.ts): mounts FUSE file
// systems whose server never answers, so statfs() on them blocks in the kernel exactly as on an
// NFS mount whose server went away, plus one healthy tmpfs; then runs the agent there.
// SIGTERM stops the agent, reports how it exited, and leaves; the namespace goes with us.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';

const [agentCli, port, dataDir, base, count] = process.argv.slice(2);
const fds = [];
for (let i = 0; i < Number(count); i++) {
  const dir = join(base, `hung${i}`);
  mkdirSync(dir, { recursive: true });
  // We hold the /dev/fuse end and never read from it: the kernel's INIT request is never
  // answered, so every call into the mount waits.
  const fd = openSync('/dev/fuse', 'r+');
  fds.push(fd);
  const r = spawnSync('mount', ['-t', 'fuse.falconet-hung', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0', 'falconet-hung', dir], {
    stdio: ['ignore', 'inherit', 'inherit', fd],
  });
  if (r.status !== 0) {
    console.log(`mount of ${dir} failed`);
    process.exit(1);
  }
}
const healthy = join(base, 'healthy');
mkdirSync(healthy, { recursive: true });
spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'falconet-healthy', healthy], { stdio: 'inherit' });
mkdirSync(join(base, 'textfile'), { recursive: true });

const agent = spawn(
  process.execPath,
  [
    '--conditions=source',
    '--disable-warning=ExperimentalWarning',
    agentCli,
    'run',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    '--collector.filesystem.mount-timeout=500ms',
    '--collector.textfile.directory',
    join(base, 'textfile'),
  ],
  { stdio: 'inherit' },
);
agent.on('exit', (code, signal) => {
  console.log(`agent exited code=${code} signal=${signal}`);
  process.exit(0);
});
process.on('SIGTERM', () => agent.kill('SIGTERM'));
