/**
 * Test support: the agent's recorded machines under packages/agent/test/fixtures, each a tree of
 * `proc`, `sys` and `rootfs` that collectors and parsers read instead of this host's.
 */
import { join } from 'node:path';

/** Where the fixture trees are. */
export const FIXTURES = join(import.meta.dirname, '../packages/agent/test/fixtures');

/** The roots of one fixture tree (`basic`, `cgroup-v2`, ...), for ProcRoots. */
export function fixtureRoots(name: string): { proc: string; sys: string; rootfs: string } {
  const base = join(FIXTURES, name);
  return { proc: join(base, 'proc'), sys: join(base, 'sys'), rootfs: join(base, 'rootfs') };
}
