/**
 * Tasks end to end on real processes: a server, four agents (three labelled role=web), a browser
 * and a WebSocket client on /api/live.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

interface Run {
  agentId: string;
  runId: string;
  status: string;
  exitCode: number | null;
  reason: string;
}
interface Audit {
  items: { action: string; actor: string; taskId: string; agentId: string; command: string; result: string; detail: string }[];
}

/** A script the agents may run: it prints three lines with pauses, so its output arrives in pieces. */
function writeScript(dir: string): string {
  const file = join(dir, 'report.sh');
  writeFileSync(file, '#!/bin/sh\necho "start $1"\nsleep 0.6\necho "middle $1"\nsleep 0.6\necho "end $1"\n');
  chmodSync(file, 0o755);
  return file;
}

function agentConfig(dir: string, role: string, script: string): string {
  const file = join(dir, `agent-${role}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    stringify({
      labels: { role },
      tasks: {
        enabled: true,
        allow: [{ command: script, args: ['[a-z]+'] }],
        timeout: '20s',
      },
    }),
  );
  return file;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('tasks on real processes', () => {
  const dir = tempDir('falconet-tasks-e2e-');
  // The agents run as root here, so tasks run as nobody: the script must be reachable by nobody.
  chmodSync(dir, 0o755);
  const script = writeScript(dir);
  let server: ServerProc;
  const web: AgentProc[] = [];
  let db: AgentProc;
  let browser: Browser | undefined;
  const ids = new Map<AgentProc, string>();

  beforeAll(async () => {
    server = await startServer();
    const grpc = `127.0.0.1:${server.grpcPort}`;
    const started = await Promise.all([
      ...[0, 1, 2].map(() => startAgent({ server: grpc, args: ['--config', agentConfig(dir, 'web', script)] })),
      startAgent({ server: grpc, args: ['--config', agentConfig(dir, 'db', script)] }),
    ]);
    web.push(...started.slice(0, 3));
    db = started[3] as AgentProc;
    for (const [i, a] of started.entries()) {
      const line = await a.waitFor(/"reporting to server"/);
      const id = (JSON.parse(line) as { agentId: string }).agentId;
      ids.set(a, id);
      await a.waitFor(/pinned the server task-signing key/);
      // The labels that choose agents for tasks are set on the server: what an agent declares never does.
      const labels = await fetch(`${server.url}/api/agents/${id}/labels`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ labels: { role: i < 3 ? 'web' : 'db' } }),
      });
      expect(labels.status).toBe(200);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([...web, db].map((a) => a?.stop()));
    await server?.stop();
  });

  it('runs a command on the three agents labelled role=web and streams its output to the browser', async () => {
    // A WebSocket client sees each piece of output as its own message, before the exit.
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/api/live`);
    const messages: Json[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe_task', taskId: '*' }));

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The overview, the Tasks page and the task's page share the page's one socket.
    const liveSockets: string[] = [];
    page.on('websocket', (s) => {
      if (new URL(s.url()).pathname === '/api/live') liveSockets.push(s.url());
    });
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Tasks' }).click();
    await page.getByLabel('Command').fill(script);
    await page.getByLabel('Arguments, one per line').fill('hello');
    // The agents are chosen with the picker: a search for the label, its option, the three it selects.
    await page.getByRole('combobox', { name: 'Search host names and labels' }).fill('role=web');
    await page.getByRole('option', { name: /role=web/ }).click();
    await expect.poll(() => page.getByTestId('agent-targets').textContent()).toMatch(/^Runs on 3 agents: /);
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/\/tasks\/[^/]+$/);
    const taskId = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1) as string);

    const runs = page.getByTestId('run');
    await expect.poll(() => runs.count(), { timeout: 15_000 }).toBe(3);
    // Output shows while the command still runs: a panel with the first line and not yet the last.
    await expect
      .poll(
        () =>
          page
            .getByTestId('run-output')
            .evaluateAll((els) =>
              els.some((p) => (p.textContent ?? '').includes('start hello') && !(p.textContent ?? '').includes('end hello')),
            ),
        { timeout: 15_000, interval: 50 },
      )
      .toBe(true);
    await expect
      .poll(async () => (await runs.evaluateAll((els) => els.map((e) => e.getAttribute('data-status')))).join(','), { timeout: 20_000 })
      .toBe('succeeded,succeeded,succeeded');
    const webIds = web.map((a) => ids.get(a) as string).sort();
    expect((await runs.evaluateAll((els) => els.map((e) => e.getAttribute('data-agent-id')))).sort()).toEqual(webIds);
    for (const text of await page.getByTestId('run-output').allTextContents()) {
      expect(text).toBe('start hello\nmiddle hello\nend hello\n');
    }
    await page.screenshot({ path: artifactPath('tasks-run-on-three-agents.png'), fullPage: true });

    for (const agentId of webIds) {
      const mine = messages.filter((m) => m.type === 'task_output' && m.taskId === taskId && m.agentId === agentId);
      expect(mine.map((m) => m.stream)).toEqual(['stdout', 'stdout', 'stdout', 'exit']);
      expect(mine.map((m) => m.data).slice(0, 3)).toEqual(['start hello\n', 'middle hello\n', 'end hello\n']);
      expect(mine.at(-1)?.exitCode).toBe(0);
    }
    // The db agent was not chosen.
    expect(messages.some((m) => m.type === 'task_output' && m.agentId === ids.get(db))).toBe(false);
    ws.close();
    expect(errors).toEqual([]);
    expect(liveSockets).toHaveLength(1);
  });

  it('refuses a command outside the allowlist on the agent, and the audit log says so', async () => {
    const created = await post(`${server.url}/api/tasks`, { command: '/bin/rm', args: ['-rf', '/tmp/anything'], labels: { role: 'db' } });
    expect(created.status).toBe(201);
    const taskId = created.body.task.id as string;
    const run = await eventually(async () => {
      const t = await getJson<{ runs: Run[] }>(`${server.url}/api/tasks/${taskId}`);
      return t.runs.find((r) => r.status === 'refused');
    });
    expect(run).toMatchObject({ agentId: ids.get(db), reason: 'not_allowed' });
    await db.waitFor((l) => l.includes('"task refused"') && l.includes(taskId));
    const audit = await getJson<Audit>(`${server.url}/api/tasks/audit?task=${taskId}`);
    expect(audit.items.find((e) => e.action === 'refused')).toMatchObject({
      agentId: ids.get(db),
      command: '/bin/rm -rf /tmp/anything',
      result: 'refused: not_allowed',
      detail: `"/bin/rm" is not in this agent's tasks.allow`,
      actor: 'local',
    });
  });

  it('refuses a task whose signature does not verify against the pinned key, and the audit log says so', async () => {
    // The server comes back with a different signing key, as an impostor would: the agents keep
    // the key they pinned and refuse what the new one signs.
    await server.stop();
    rmSync(join(server.dataDir, 'task-signing-key.pem'));
    server = await startServer({ dataDir: server.dataDir, httpPort: server.httpPort, grpcPort: server.grpcPort });
    for (const a of web) await a.waitFor(/task key other than the pinned one/, 60_000);
    await eventually(async () => {
      const list = await getJson<{ items: { id: string; connected: boolean }[] }>(`${server.url}/api/agents`);
      return web.every((a) => list.items.find((i) => i.id === ids.get(a))?.connected);
    }, 60_000);
    const created = await post(`${server.url}/api/tasks`, { command: script, args: ['again'], labels: { role: 'web' } });
    const taskId = created.body.task.id as string;
    const runs = await eventually(async () => {
      const t = await getJson<{ runs: Run[] }>(`${server.url}/api/tasks/${taskId}`);
      if (t.runs.length === 3 && t.runs.every((r) => r.status === 'refused')) return t.runs;
      // Said when the wait runs out, so a failure shows where the runs stood.
      throw new Error(`runs so far: ${JSON.stringify(t.runs.map((r) => [r.agentId, r.status, r.reason]))}`);
    }, 60_000);
    expect(runs.map((r) => r.reason)).toEqual(['bad_signature', 'bad_signature', 'bad_signature']);
    const audit = await getJson<Audit>(`${server.url}/api/tasks/audit?action=refused&limit=100`);
    const bad = audit.items.filter((e) => e.taskId === taskId);
    expect(bad).toHaveLength(3);
    expect(bad.every((e) => e.result === 'refused: bad_signature')).toBe(true);

    // Both refusals are in the dashboard's audit log too.
    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/tasks`);
    const refused = page.locator('[data-testid="audit-row"][data-action="refused"]');
    await expect.poll(() => refused.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
    const texts = await refused.allTextContents();
    expect(texts.some((t) => t.includes('refused: not_allowed'))).toBe(true);
    expect(texts.filter((t) => t.includes('refused: bad_signature'))).toHaveLength(3);
    await page.screenshot({ path: artifactPath('tasks-audit-refusals.png'), fullPage: true });
  });
});
