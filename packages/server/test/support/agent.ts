/** Test support: a real Agent in the test's process, reporting to an in-process server over gRPC. */
import { Agent, agentConfigSchema } from '@falconet/agent';
import pino from 'pino';
import { tempDir } from '../../../../testing/processes.ts';
import type { FalconetServer } from '../../src/app.ts';

/** Starts an agent of its own data directory, without an exporter, reporting to `server`; `config` goes over that. */
export async function startTestAgent(server: FalconetServer, config: Record<string, unknown> = {}): Promise<Agent> {
  const agent = new Agent(
    agentConfigSchema.parse({ server: { url: `127.0.0.1:${server.addresses?.grpc.port}` }, listen: '', data_dir: tempDir(), ...config }),
    pino({ level: 'silent' }),
  );
  await agent.start();
  return agent;
}
