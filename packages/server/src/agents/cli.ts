import { type FlagSpec, UsageError } from '@falconet/protocol/cli';
import { parseDuration } from '@falconet/protocol/config';
import type { ServerConfig } from '../config.ts';
import { metaDbOptions, migrateMetaDb, openMetaDb } from '../db/index.ts';
import { AgentTokens } from './tokens.ts';

const BIN = 'falconet-server';

/** Flags of `create-token --agent`, on top of the server's. */
export const AGENT_TOKEN_FLAGS: FlagSpec[] = [
  { name: 'agent', type: 'string', help: 'create-token: the agent the token is for (its hostname or agent id)' },
  { name: 'expires', type: 'string', help: 'create-token: lifetime, e.g. 90d (default: never expires)' },
];

/** `create-token --agent NAME [--expires D]`: prints the token once; the server keeps only its hash. */
export async function createAgentTokenCommand(args: Map<string, string | boolean>, config: ServerConfig): Promise<number> {
  const agent = args.get('agent');
  if (typeof agent !== 'string' || agent === '') throw new UsageError("create-token needs --agent NAME (the agent's hostname or agent id)");
  let expiresInMs: number | undefined;
  const expires = args.get('expires');
  if (typeof expires === 'string') {
    try {
      expiresInMs = parseDuration(expires);
    } catch (err) {
      throw new UsageError(`flag --expires: ${(err as Error).message}`);
    }
    if (!(expiresInMs > 0)) throw new UsageError('flag --expires: must be more than 0');
  }
  const meta = openMetaDb(metaDbOptions(config));
  try {
    await migrateMetaDb(meta);
    let made: Awaited<ReturnType<AgentTokens['create']>>;
    try {
      made = await new AgentTokens(meta).create(agent, { expiresInMs });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const until = made.record.expiresMs ? ` until ${new Date(made.record.expiresMs).toISOString()}` : '';
    process.stderr.write(
      `${BIN}: token ${made.record.id} for agent "${agent}"${until}. It is shown once; set it as the agent's server.token (FALCONET_SERVER_TOKEN).\n` +
        `${BIN}: from now on every agent must present a token of its own.\n`,
    );
    process.stdout.write(`${made.token}\n`);
  } finally {
    await meta.close();
  }
  return 0;
}
