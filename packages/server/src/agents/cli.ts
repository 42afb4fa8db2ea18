import { type FlagSpec, UsageError } from '@falconet/protocol/cli';
import { parseDuration } from '@falconet/protocol/config';
import type { ServerConfig } from '../config.ts';
import { metaDbOptions, migrateMetaDb, openMetaDb } from '../db/index.ts';
import { type Labels, parseLabelList } from './labels.ts';
import { AgentTokens } from './tokens.ts';

const BIN = 'falconet-server';

/** Flags of `create-token --agent`, on top of the server's. */
export const AGENT_TOKEN_FLAGS: FlagSpec[] = [
  { name: 'agent', type: 'string', help: 'create-token: the agent the token is for (its hostname or agent id)' },
  { name: 'expires', type: 'string', help: 'create-token: lifetime, e.g. 90d (default: never expires)' },
];

/**
 * `create-token --agent NAME [--expires D] [--label k=v,...]`: prints the token once; the server keeps
 * only its hash. Says which agent the token is bound to, or that its first registration binds it.
 */
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
  let labels: Labels = {};
  const label = args.get('label');
  if (typeof label === 'string') {
    try {
      labels = parseLabelList(label);
    } catch (err) {
      throw new UsageError(`flag --label: ${(err as Error).message}`);
    }
  }
  const meta = openMetaDb(metaDbOptions(config));
  try {
    await migrateMetaDb(meta);
    let made: Awaited<ReturnType<AgentTokens['create']>>;
    try {
      made = await new AgentTokens(meta).create(agent, { expiresInMs, labels });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const r = made.record;
    const until = r.expiresMs ? ` until ${new Date(r.expiresMs).toISOString()}` : '';
    const bound = r.bound
      ? `it is bound to agent id "${r.bound.agentId}" (host "${r.bound.hostname}") and no other`
      : `the first agent that registers with it as "${agent}" (hostname or agent id) binds it, and no other agent may use it after`;
    const trusted = Object.keys(r.labels).length
      ? `${BIN}: trusted labels ${Object.entries(r.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')} choose this agent for label-targeted tasks.\n`
      : '';
    process.stderr.write(
      `${BIN}: token ${r.id} for agent "${agent}"${until}. It is shown once; set it as the agent's server.token (FALCONET_SERVER_TOKEN).\n` +
        `${BIN}: ${bound}.\n${trusted}` +
        `${BIN}: from now on every agent must present a token of its own.\n`,
    );
    process.stdout.write(`${made.token}\n`);
  } finally {
    await meta.close();
  }
  return 0;
}
