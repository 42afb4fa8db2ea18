/**
 * Run inside a fresh network namespace (unshare -rn) by agent-address.test.ts: a host whose
 * network comes up after the agent started. Starts a real server and agent with only loopback,
 * prints what the server lists ("before JSON"), gives the host an address and a default route,
 * restarts the server so the agent connects again, and prints what it lists then ("after JSON").
 */
import { execFileSync } from 'node:child_process';
import { eventually, getJson, startAgent, startServer } from '../../testing/processes.ts';

interface Listed {
  items: { primaryIp: string; ips: string[]; status: string }[];
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'inherit' });
ip('link', 'set', 'lo', 'up');
let server = await startServer();
const agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}` });
try {
  const listed = async () => (await getJson<Listed>(`${server.url}/api/agents`)).items[0];
  const before = await eventually(listed, 60_000);
  process.stdout.write(`before ${JSON.stringify(before)}\n`);

  ip('link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer');
  ip('addr', 'add', '10.1.2.3/24', 'dev', 'uplink');
  ip('link', 'set', 'uplink-peer', 'up');
  ip('link', 'set', 'uplink', 'up');
  ip('route', 'add', 'default', 'via', '10.1.2.1', 'dev', 'uplink');

  const { dataDir, httpPort, grpcPort, transferPort } = server;
  await server.stop();
  server = await startServer({ dataDir, httpPort, grpcPort, transferPort });
  const after = await eventually(async () => {
    const a = await listed();
    return a?.status === 'online' ? a : undefined;
  }, 90_000);
  process.stdout.write(`after ${JSON.stringify(after)}\n`);
} finally {
  await agent.stop();
  await server.stop();
}
