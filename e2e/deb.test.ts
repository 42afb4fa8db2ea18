import { execFile } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyDebianRoot, inRoot } from '../testing/debian-root.ts';
import { eventually, freePort, ROOT, tempDir } from '../testing/processes.ts';
import { bareEnv, type Release, sharedRelease } from '../testing/release.ts';

// The .deb packages npm run package writes, installed with the real dpkg in a debootstrap bookworm
// root (chroot), through install, upgrade, remove and purge; their units checked by the root's own
// systemd-analyze.

const run = promisify(execFile);

let release: Release;
/** The same sources built as a later version: what an upgrade installs. */
let next: Release;
const roots: string[] = [];

const NEXT_VERSION = '0.2.0';
// systemd in the root: its systemd-analyze checks the installed units, and its systemctl is there as
// on a real host (not running, so the maintainer scripts must say they did not start anything).
const ROOT_OPTIONS = { include: ['systemd'] };

beforeAll(async () => {
  release = await sharedRelease();
  next = await sharedRelease({ version: NEXT_VERSION, targets: ['linux-x64'] });
}, 1_800_000);

afterAll(async () => {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  for (const root of roots) {
    // inRoot unmounts after each command; never remove a tree that still has the host's /dev in it.
    if (mounts.includes(` ${root}/`)) throw new Error(`${root} still has mounts; left in place`);
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

function deb(r: Release, name: 'falconet-agent' | 'falconet-server', arch: 'amd64' | 'arm64' = 'amd64'): string {
  return join(r.dir, `${name}_${r.version}_${arch}.deb`);
}

async function newRoot(): Promise<string> {
  const root = await copyDebianRoot(ROOT_OPTIONS);
  roots.push(root);
  return root;
}

/** Runs in the root, returning stdout and stderr together; a failing command throws with both. */
async function sh(root: string, script: string): Promise<string> {
  try {
    const { stdout, stderr } = await inRoot(root, ['sh', '-ec', script]);
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`in ${root}: ${script}\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

/** Copies a package into the root's /tmp and installs it (dpkg -i), returning dpkg's output. */
async function install(root: string, file: string, ...flags: string[]): Promise<string> {
  const base = file.split('/').pop() as string;
  copyFileSync(file, join(root, 'tmp', base));
  return await sh(root, `dpkg ${flags.join(' ')} -i /tmp/${base}; rm /tmp/${base}`);
}

/** `stat` of a path in the root: "MODE OWNER GROUP". */
const mode = (root: string, path: string) => sh(root, `stat -c '%a %U %G' ${path}`).then((s) => s.trim());
const status = (root: string, pkg: string) => sh(root, `dpkg-query -W -f='\${db:Status-Abbrev}' ${pkg} 2>/dev/null || true`);
const asFalconet = (command: string) => `setpriv --reuid=falconet --regid=falconet --init-groups -- ${command}`;

async function dpkgDeb(...args: string[]): Promise<string> {
  return (await run('dpkg-deb', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

describe('the .deb files', () => {
  it('are written for both architectures, listed in the signed SHA256SUMS and verified by the agent', async () => {
    const sums = readFileSync(join(release.dir, 'SHA256SUMS'), 'utf8');
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      for (const arch of ['amd64', 'arm64'] as const) {
        const file = deb(release, name, arch);
        expect(existsSync(file), file).toBe(true);
        expect(sums).toContain(`  ${name}_${release.version}_${arch}.deb\n`);
        const { stdout } = await run(release.file('falconet-agent', 'linux-x64'), ['verify', file], { env: bareEnv() });
        expect(stdout).toContain(`${name}_${release.version}_${arch}.deb`);
      }
    }
    // From the attacker's seat: a package changed after signing is named as changed.
    const dir = tempDir('falconet-deb-tampered-');
    try {
      for (const f of ['SHA256SUMS', 'SHA256SUMS.sig']) copyFileSync(join(release.dir, f), join(dir, f));
      const tampered = join(dir, `falconet-agent_${release.version}_amd64.deb`);
      copyFileSync(deb(release, 'falconet-agent'), tampered);
      appendFileSync(tampered, 'x');
      const refused = await run(release.file('falconet-agent', 'linux-x64'), ['verify', tampered], { env: bareEnv() }).then(
        () => undefined,
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
      expect(refused?.code).toBe(1);
      expect(`${refused?.stdout}${refused?.stderr}`).toMatch(/has been changed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carry the control fields, conffile, maintainer scripts and files dpkg-deb shows', async () => {
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      for (const arch of ['amd64', 'arm64'] as const) {
        const file = deb(release, name, arch);
        const info = await dpkgDeb('--info', file);
        expect(info).toContain(`Package: ${name}\n`);
        expect(info).toContain(`Version: ${release.version}\n`);
        expect(info).toContain(`Architecture: ${arch}\n`);
        expect(info).toMatch(/Maintainer: .+ <.+@.+>\n/);
        expect(info).toMatch(/Description: Falconet (agent|server): .+\n {2}\S/);
        for (const member of ['control', 'conffiles', 'md5sums', 'postinst', 'prerm', 'postrm']) expect(info).toContain(` ${member} `);
        const depends = /Depends: (.+)\n/.exec(info)?.[1] ?? '';
        // The agent carries native helpers built against bookworm's C library: it needs 2.34.
        expect(depends).toMatch(name === 'falconet-agent' ? /^libc6 \(>= 2\.34\)/ : /^libc6 \(>= 2\.\d+\)/);
        expect(depends).toMatch(/libstdc\+\+6 \(>= \d+/);
        expect(depends).toMatch(/, passwd$/);
        expect((await dpkgDeb('--field', file, 'Depends')).trim().split(', ').sort()).toEqual(depends.split(', ').sort());
        const kib = Number(/Installed-Size: (\d+)/.exec(info)?.[1]);
        const binarySize = (await run('stat', ['-c', '%s', release.file(name, arch === 'amd64' ? 'linux-x64' : 'linux-arm64')])).stdout;
        expect(kib).toBeGreaterThanOrEqual(Math.ceil(Number(binarySize) / 1024));
        expect(kib).toBeLessThan(Math.ceil(Number(binarySize) / 1024) + 64);

        const contents = (await dpkgDeb('--contents', file))
          .trim()
          .split('\n')
          .map((line) => {
            const [perm, owner, , , , path] = line.split(/\s+/);
            return `${perm} ${owner} ${path}`;
          });
        expect(contents).toEqual([
          'drwxr-xr-x root/root ./',
          'drwxr-xr-x root/root ./etc/',
          'drwxr-xr-x root/root ./etc/falconet/',
          `-rw-r----- root/root ./etc/falconet/${name}.yaml`,
          'drwxr-xr-x root/root ./lib/',
          'drwxr-xr-x root/root ./lib/systemd/',
          'drwxr-xr-x root/root ./lib/systemd/system/',
          `-rw-r--r-- root/root ./lib/systemd/system/${name}.service`,
          'drwxr-xr-x root/root ./usr/',
          'drwxr-xr-x root/root ./usr/bin/',
          `-rwxr-xr-x root/root ./usr/bin/${name}`,
          'drwxr-xr-x root/root ./usr/share/',
          'drwxr-xr-x root/root ./usr/share/doc/',
          `drwxr-xr-x root/root ./usr/share/doc/${name}/`,
          `-rw-r--r-- root/root ./usr/share/doc/${name}/README`,
          `-rw-r--r-- root/root ./usr/share/doc/${name}/copyright`,
        ]);
        const control = tempDir('falconet-deb-control-');
        try {
          await run('dpkg-deb', ['--control', file, control]);
          expect(readFileSync(join(control, 'conffiles'), 'utf8')).toBe(`/etc/falconet/${name}.yaml\n`);
          for (const script of ['postinst', 'prerm', 'postrm']) {
            const text = readFileSync(join(control, script), 'utf8');
            expect(text).toMatch(/^#!\/bin\/sh\n/);
            expect(text).toMatch(/\nset -e\n/);
            expect(text).not.toMatch(/@[A-Z]+@/);
            // POSIX sh: dash, Debian's /bin/sh, parses it.
            await run('dash', ['-n', join(control, script)]);
          }
        } finally {
          rmSync(control, { recursive: true, force: true });
        }
      }
    }
  });
});

describe('falconet-agent .deb in a Debian root', () => {
  it('installs, keeps an edited conffile over an upgrade, keeps data on remove and removes everything on purge', async () => {
    const root = await newRoot();
    // The agent joins the docker group when there is one.
    await sh(root, 'groupadd --system docker');
    const output = await install(root, deb(release, 'falconet-agent'));
    expect(output).toContain('Setting up falconet-agent');
    expect(output).toContain('systemd is not running here, so falconet-agent.service was not enabled or started');
    expect(await status(root, 'falconet-agent')).toMatch(/^ii/);

    const [account] = (await sh(root, 'getent passwd falconet')).trim().split('\n');
    const [, , uid, gid, , home, shell] = (account as string).split(':');
    expect(Number(uid)).toBeLessThan(1000);
    expect({ home, shell }).toEqual({ home: '/var/lib/falconet', shell: '/usr/sbin/nologin' });
    expect((await sh(root, 'getent group falconet')).split(':')[2]).toBe(gid);
    expect((await sh(root, 'id -nG falconet')).trim().split(' ').sort()).toEqual(['docker', 'falconet']);
    expect(existsSync(join(root, 'var/lib/falconet/.bashrc'))).toBe(false);

    expect(await mode(root, '/usr/bin/falconet-agent')).toBe('755 root root');
    expect(await mode(root, '/lib/systemd/system/falconet-agent.service')).toBe('644 root root');
    expect(await mode(root, '/etc/falconet/falconet-agent.yaml')).toBe('640 root falconet');
    expect(await mode(root, '/var/lib/falconet')).toBe('750 falconet falconet');
    expect(await sh(root, 'cat /var/lib/dpkg/info/falconet-agent.conffiles')).toBe('/etc/falconet/falconet-agent.yaml\n');
    expect(await sh(root, 'dpkg --verify falconet-agent; echo verified')).toBe('verified\n');

    // The default configuration is valid, read as the service's user, and the binary runs there.
    const checked = await sh(root, asFalconet('falconet-agent check-config --config /etc/falconet/falconet-agent.yaml'));
    expect(checked).toMatch(/127\.0\.0\.1:9101/);
    expect(await sh(root, 'falconet-agent version')).toContain(`falconet-agent ${release.version}`);
    // The unit's command line, as the unit's user (a port of its own for /metrics): the agent makes
    // its data directory under /var/lib/falconet and answers scrapes.
    const execStart = /^ExecStart=(.+)$/m.exec(readFileSync(join(root, 'lib/systemd/system/falconet-agent.service'), 'utf8'))?.[1];
    const port = await freePort();
    const running = sh(root, `echo $$ > /tmp/agent.pid; exec ${asFalconet(`${execStart} --listen 127.0.0.1:${port}`)}`).catch(
      (err: Error) => err,
    );
    try {
      const metrics = await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return res.ok && (await res.text());
      }, 60_000);
      expect(metrics).toMatch(/^node_load1 /m);
      // Not through inRoot: a second chroot would mount /proc and /sys over the running one's.
      const dataDir = statSync(join(root, 'var/lib/falconet/agent'));
      expect({ uid: dataDir.uid, gid: dataDir.gid, others: dataDir.mode & 0o007 }).toEqual({
        uid: Number(uid),
        gid: Number(gid),
        others: 0,
      });
    } finally {
      process.kill(Number(readFileSync(join(root, 'tmp/agent.pid'), 'utf8')), 'SIGTERM');
      await running;
    }

    // The admin's edit, and data the agent left.
    appendFileSync(join(root, 'etc/falconet/falconet-agent.yaml'), 'labels:\n  edited: by-admin\n');
    writeFileSync(join(root, 'var/lib/falconet/agent/keep.me'), 'data\n');

    const upgraded = await install(root, deb(next, 'falconet-agent'), '--force-confold');
    expect(upgraded).toContain(`Unpacking falconet-agent (${NEXT_VERSION}) over (${release.version})`);
    expect(await status(root, 'falconet-agent')).toMatch(/^ii/);
    expect(await sh(root, 'falconet-agent version')).toContain(`falconet-agent ${NEXT_VERSION}`);
    expect(readFileSync(join(root, 'etc/falconet/falconet-agent.yaml'), 'utf8')).toContain('edited: by-admin');
    expect(await mode(root, '/etc/falconet/falconet-agent.yaml')).toBe('640 root falconet');
    expect(await sh(root, 'ls /etc/falconet')).toBe('falconet-agent.yaml\n');
    expect(await sh(root, asFalconet('falconet-agent check-config --config /etc/falconet/falconet-agent.yaml'))).toMatch(/by-admin/);

    const removed = await sh(root, 'dpkg -r falconet-agent');
    expect(removed).toContain('Removing falconet-agent');
    expect(await status(root, 'falconet-agent')).toMatch(/^rc/);
    expect(existsSync(join(root, 'usr/bin/falconet-agent'))).toBe(false);
    expect(existsSync(join(root, 'lib/systemd/system/falconet-agent.service'))).toBe(false);
    expect(readFileSync(join(root, 'var/lib/falconet/agent/keep.me'), 'utf8')).toBe('data\n');
    expect(readFileSync(join(root, 'etc/falconet/falconet-agent.yaml'), 'utf8')).toContain('edited: by-admin');
    expect(await sh(root, 'getent passwd falconet')).toMatch(/^falconet:/);

    await sh(root, 'dpkg -P falconet-agent');
    expect(await status(root, 'falconet-agent')).toBe('');
    expect(existsSync(join(root, 'var/lib/falconet'))).toBe(false);
    expect(existsSync(join(root, 'etc/falconet'))).toBe(false);
    expect(await sh(root, 'getent passwd falconet || echo no user')).toBe('no user\n');
    expect(await sh(root, 'getent group falconet || echo no group')).toBe('no group\n');
    expect(await sh(root, 'getent group docker')).toMatch(/^docker:x:\d+:$/m);
  }, 600_000);
});

describe('falconet-agent and falconet-server side by side', () => {
  it('share the account; the units verify cleanly; purging one keeps the other', async () => {
    const root = await newRoot();
    await install(root, deb(release, 'falconet-server'));
    await install(root, deb(release, 'falconet-agent'));
    // No docker group here: the account is in its own group only.
    expect((await sh(root, 'id -nG falconet')).trim()).toBe('falconet');
    expect(await mode(root, '/etc/falconet/falconet-server.yaml')).toBe('640 root falconet');
    const checked = await sh(root, asFalconet('falconet-server check-config --config /etc/falconet/falconet-server.yaml'));
    expect(checked).toMatch(/127\.0\.0\.1:7070/);
    expect(await sh(root, 'falconet-server version')).toContain(`falconet-server ${release.version}`);

    // The root's own systemd, with both binaries where the units name them: not a word.
    const verify = await sh(
      root,
      'systemd-analyze verify /lib/systemd/system/falconet-agent.service /lib/systemd/system/falconet-server.service 2>&1',
    );
    expect(verify).toBe('');
    for (const name of ['falconet-agent', 'falconet-server']) {
      const security = await sh(
        root,
        `systemd-analyze security --no-pager --offline=true /lib/systemd/system/${name}.service 2>&1 || true`,
      );
      const exposure = /Overall exposure level for \S+: (\d+\.\d+) (\S+)/.exec(security);
      console.log(`${name}.service: systemd-analyze security --offline=true: exposure ${exposure?.[1]} ${exposure?.[2]}`);
      console.log(
        security
          .split('\n')
          .filter((l) => l.startsWith('✗'))
          .join('\n'),
      );
      expect(exposure, security).not.toBeNull();
      expect(Number(exposure?.[1])).toBeLessThan(3);
    }

    writeFileSync(join(root, 'var/lib/falconet/server.note'), 'x');
    await sh(
      root,
      'mkdir -p /var/lib/falconet/server /var/lib/falconet/agent && touch /var/lib/falconet/server/meta.db /var/lib/falconet/agent/id',
    );
    await sh(root, 'dpkg -P falconet-agent');
    expect(existsSync(join(root, 'var/lib/falconet/agent'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/falconet/server/meta.db'))).toBe(true);
    expect(existsSync(join(root, 'etc/falconet/falconet-agent.yaml'))).toBe(false);
    expect(existsSync(join(root, 'etc/falconet/falconet-server.yaml'))).toBe(true);
    expect(await sh(root, 'getent passwd falconet')).toMatch(/^falconet:/);

    await sh(root, 'dpkg -P falconet-server');
    expect(existsSync(join(root, 'var/lib/falconet'))).toBe(false);
    expect(existsSync(join(root, 'etc/falconet'))).toBe(false);
    expect(await sh(root, 'getent passwd falconet || echo no user')).toBe('no user\n');
  }, 600_000);
});

describe('the maintainer scripts under systemd', () => {
  // systemd cannot run as PID 1 in a chroot: /run/systemd/system says it does, and the root's
  // systemctl is replaced by one that records what the scripts ask of it.
  it('enable and start at install, try-restart on upgrade, stop on remove, unlink on purge', async () => {
    const root = await newRoot();
    await sh(root, 'mkdir -p /run/systemd/system && mv /usr/bin/systemctl /usr/bin/systemctl.real');
    writeFileSync(join(root, 'usr/bin/systemctl'), '#!/bin/sh\necho "$*" >> /tmp/systemctl.log\n', { mode: 0o755 });
    const calls = () => {
      const log = join(root, 'tmp/systemctl.log');
      const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      rmSync(log, { force: true });
      return lines;
    };

    const installed = await install(root, deb(release, 'falconet-agent'));
    expect(installed).not.toContain('systemd is not running');
    expect(calls()).toEqual(['daemon-reload', 'enable falconet-agent.service', 'start falconet-agent.service']);

    await install(root, deb(next, 'falconet-agent'), '--force-confold');
    expect(calls()).toEqual(['daemon-reload', 'try-restart falconet-agent.service']);

    await sh(root, 'dpkg -r falconet-agent');
    expect(calls()).toEqual(['stop falconet-agent.service', 'daemon-reload']);

    // What the real `systemctl enable` would have left.
    await sh(
      root,
      'mkdir -p /etc/systemd/system/multi-user.target.wants && ln -s /lib/systemd/system/falconet-agent.service /etc/systemd/system/multi-user.target.wants/',
    );
    await sh(root, 'dpkg -P falconet-agent');
    expect(calls()).toEqual(['daemon-reload']);
    // lstat: the link dangles once the unit is removed, and existsSync would follow it.
    expect(
      lstatSync(join(root, 'etc/systemd/system/multi-user.target.wants/falconet-agent.service'), { throwIfNoEntry: false }),
    ).toBeUndefined();
  }, 600_000);
});

describe('deb.ts alone', () => {
  it('gives the same package for the same input, and a pre-release a version that sorts before its release', async () => {
    const script = join(ROOT, 'scripts/package/deb.ts');
    const dirs = [tempDir('falconet-deb-same-'), tempDir('falconet-deb-same-')];
    try {
      const sums: string[] = [];
      for (const out of dirs) {
        // Any executable for the target serves: the packaging is what is compared.
        const args = [
          script,
          '--name',
          'falconet-server',
          '--binary',
          '/bin/true',
          '--version',
          '1.2.3-rc.1',
          '--target',
          'linux-x64',
          '--out',
          out,
        ];
        const { stdout } = await run(process.execPath, args, { cwd: ROOT, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
        expect(stdout).toBe(`${join(out, 'falconet-server_1.2.3~rc.1_amd64.deb')}\n`);
        sums.push((await run('sha256sum', [stdout.trim()])).stdout.split(' ')[0] as string);
      }
      expect(sums[0]).toBe(sums[1]);
      await run('dpkg', ['--compare-versions', '1.2.3~rc.1', 'lt', '1.2.3']);
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the build step refuses malformed input', () => {
  const script = join(ROOT, 'scripts/package/deb.ts');
  const refusal = async (args: string[]) =>
    await run(process.execPath, args, { cwd: ROOT }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: `${err.stdout}${err.stderr}` }),
    );

  it('a version dpkg would misread, before building anything', async () => {
    const out = tempDir('falconet-deb-bad-');
    try {
      // A hyphen inside the pre-release would become a Debian revision.
      const main = await refusal([
        join(ROOT, 'scripts/package/main.ts'),
        '--version',
        '1.2.3-rc-1',
        '--out',
        out,
        '--targets',
        'linux-x64',
      ]);
      expect(main.code).toBe(1);
      expect(main.out).toContain('package: --version: .deb version "1.2.3-rc-1" is not a release version');
      for (const version of ['1.2', '1.2.3; rm -rf /', '1.2.3+build.1', 'v1.2.3', '']) {
        const r = await refusal([
          script,
          '--name',
          'falconet-agent',
          '--binary',
          release.file('falconet-agent', 'linux-x64'),
          '--version',
          version,
          '--target',
          'linux-x64',
          '--out',
          out,
        ]);
        expect(r.code, version).toBe(2);
        expect(r.out).toContain(`deb: .deb version "${version}" is not a release version: write MAJOR.MINOR.PATCH`);
      }
      const name = await refusal([
        script,
        '--name',
        'falconet',
        '--binary',
        '/bin/true',
        '--version',
        '1.2.3',
        '--target',
        'linux-x64',
        '--out',
        out,
      ]);
      expect(name.out).toContain('deb: .deb name "falconet" is not one of falconet-agent, falconet-server');
      const target = await refusal([
        script,
        '--name',
        'falconet-agent',
        '--binary',
        '/bin/true',
        '--version',
        '1.2.3',
        '--target',
        'linux-riscv64',
        '--out',
        out,
      ]);
      expect(target.out).toContain('deb: .deb target "linux-riscv64" is not one of linux-x64, linux-arm64');
      const missing = await refusal([
        script,
        '--name',
        'falconet-agent',
        '--binary',
        join(out, 'nothing'),
        '--version',
        '1.2.3',
        '--target',
        'linux-x64',
        '--out',
        out,
      ]);
      expect(missing.out).toContain(`deb: ${join(out, 'nothing')}: no such executable to package as falconet-agent`);
      // Another architecture's executable, or no executable at all.
      const arch = await refusal([
        script,
        '--name',
        'falconet-agent',
        '--binary',
        '/bin/true',
        '--version',
        '1.2.3',
        '--target',
        'linux-arm64',
        '--out',
        out,
      ]);
      expect(arch.out).toContain('deb: /bin/true is an ELF executable for machine 62, not one for linux-arm64 (machine 183)');
      writeFileSync(join(out, 'script.sh'), '#!/bin/sh\necho not a binary\n');
      const text = await refusal([
        script,
        '--name',
        'falconet-agent',
        '--binary',
        join(out, 'script.sh'),
        '--version',
        '1.2.3',
        '--target',
        'linux-x64',
        '--out',
        out,
      ]);
      expect(text.out).toContain(`deb: ${join(out, 'script.sh')} is not an ELF executable, not one for linux-x64 (machine 62)`);
      rmSync(join(out, 'script.sh'));
      const args = await refusal([script, '--name', 'falconet-agent']);
      expect(args).toEqual({ code: 2, out: 'deb: missing --binary, --version, --target, --out\n' });
      // A refused build leaves nothing behind.
      expect(readdirSync(out)).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
