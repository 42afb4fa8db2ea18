import { isSea } from 'node:sea';

/**
 * The command line that starts this program again with `args`. A single-file build (npm run
 * package) is its own script and takes its Node flags from inside, so neither goes on the line;
 * run from Node, the flags and the entry script do.
 */
export function selfCommand(nodeFlags: readonly string[], args: readonly string[]): { file: string; args: string[] } {
  if (isSea()) return { file: process.execPath, args: [...args] };
  const entry = process.argv[1];
  if (!entry) throw new Error('cannot find the entry script to start the agent with');
  return { file: process.execPath, args: [...nodeFlags, entry, ...args] };
}
