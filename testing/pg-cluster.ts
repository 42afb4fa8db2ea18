/**
 * A PostgreSQL cluster of a test's own, never the machine's shared one: initdb in a temp dir as
 * the postgres user (initdb refuses root), trust auth, its own loopback port, stopped and started
 * by the test (fast or immediate) while servers use it.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './processes.ts';

function pgBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  const bin = join(root, version ?? '', 'bin', name);
  if (!existsSync(bin)) throw new Error(`${bin} not found: install Debian's postgresql (see .ci/packages.sh)`);
  return bin;
}

export class PgCluster {
  readonly dir = tempDir('falconet-pg-cluster-');
  readonly port: number;
  constructor(port: number) {
    this.port = port;
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(this.dir, id('-u'), id('-g'));
    this.#asPostgres(pgBin('initdb'), ['-D', this.dir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  }
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
  #asPostgres(cmd: string, args: string[]): void {
    execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe', cwd: '/' });
  }
  start(): void {
    this.#asPostgres(pgBin('pg_ctl'), [
      '-D',
      this.dir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
  }
  stop(mode: 'fast' | 'immediate'): void {
    this.#asPostgres(pgBin('pg_ctl'), ['-D', this.dir, '-m', mode, '-w', 'stop']);
  }
  running(): boolean {
    return existsSync(join(this.dir, 'postmaster.pid'));
  }
}
