import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProc, freePort, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

/** An agent pointed at the wrong place says what it found there and what to do, on real sockets. */
describe('connection errors say what to do', () => {
  let server: ServerProc | undefined;
  const agents: AgentProc[] = [];

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
  });

  it("an agent dialling the server's HTTP port is told to use the gRPC port", async () => {
    server = await startServer();
    const agent = await startAgent({ server: `127.0.0.1:${server.httpPort}` });
    agents.push(agent);
    const line = JSON.parse(await agent.waitFor(/"cannot reach server/)) as { msg: string; attempt: number };
    expect(line.msg).toMatch(
      new RegExp(
        `^cannot reach server: 127\\.0\\.0\\.1:${server.httpPort} answers HTTP, not gRPC: .* agents use its gRPC port \\(7071 by default\\); retrying in [\\d.]+ s \\(attempt 2\\)$`,
      ),
    );
  });

  it('connection refused names the address and what to check', async () => {
    const port = await freePort();
    const agent = await startAgent({ server: `127.0.0.1:${port}` });
    agents.push(agent);
    const line = JSON.parse(await agent.waitFor(/"cannot reach server/)) as { msg: string };
    expect(line.msg).toMatch(
      new RegExp(`^cannot reach server: nothing accepts connections on 127\\.0\\.0\\.1:${port}: check that falconet-server runs`),
    );
  });
});
