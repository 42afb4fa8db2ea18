/**
 * The host page's labels and report sequence in Chromium against a real server with users: an
 * agent whose reports are refused for a sequence jump shows a warning to everyone; a viewer sees
 * no reset, an operator resets it from the page (in English and in Chinese), and the agent's next
 * report is taken. Trusted and declared labels are shown apart.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { createToken, createUser, eventually, type ServerProc, startServer } from '../testing/processes.ts';

const AGENT = 'jumpy-1';
const gauge = (value: number) => ({ name: 'jumpy_value', labels: {}, value, timestampMs: Date.now() });

let server: ServerProc;
let browser: Browser;
let token = '';

/** The agent refused for a jump: one report stored, the next far past ingest.max_sequence_jump (10^8). */
async function jump(firstSeq: number): Promise<void> {
  const s = rawStream(`127.0.0.1:${server.grpcPort}`);
  await registerOn(s, registerMessage(AGENT, { hostname: 'jumpy-host', token, labels: { role: 'self-declared' } }));
  s.send(reportMessage(firstSeq, [gauge(firstSeq)]));
  await s.next();
  s.send(reportMessage(firstSeq + 200_000_000, [gauge(2)]));
  expect((await s.ended)?.details).toMatch(/beyond the last acknowledged/);
  s.close();
}

beforeAll(async () => {
  server = await startServer();
  for (const role of ['operator', 'viewer']) await createUser(server.dataDir, `${role}-1`, role, `${role}-password`);
  token = (await createToken(server.dataDir, { agent: 'jumpy-host', labels: 'role=db' })).token;
  await jump(1);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function signedIn(role: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/agents/${AGENT}`);
  await page.getByTestId('signin-name').fill(`${role}-1`);
  await page.getByTestId('signin-password').fill(`${role}-password`);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('agent-trust').waitFor({ timeout: 15_000 });
  return page;
}

describe('labels and report sequence on the host page', () => {
  it('warns everyone of refused reports; only an operator resets the sequence, and the agent is taken again', async () => {
    const viewer = await signedIn('viewer');
    await expect.poll(() => viewer.getByTestId('sequence-refused').textContent()).toContain('sequence 200000001 is too far beyond');
    expect(await viewer.getByTestId('trusted-labels').textContent()).toBe('role=db');
    expect(await viewer.getByTestId('declared-labels').textContent()).toBe('role=self-declared');
    expect(await viewer.getByTestId('sequence-reset').count()).toBe(0);
    expect(await viewer.getByTestId('server-labels').count()).toBe(0);
    await viewer.context().close();

    const operator = await signedIn('operator');
    await operator.getByTestId('sequence-refused').waitFor();
    expect(await seriousA11yViolations(operator)).toEqual([]);
    await operator.screenshot({ path: artifactPath('host-sequence-refused.png'), fullPage: true });
    await operator.getByTestId('sequence-reset').click();
    await operator.getByTestId('sequence-reset-confirm').click();
    await expect.poll(() => operator.getByTestId('trust-message').textContent()).toBe('Sequence reset (it was 1).');
    await expect.poll(() => operator.getByTestId('sequence-refused').count()).toBe(0);

    // The agent's next report, numbered far ahead, is taken as its new start.
    const s = rawStream(`127.0.0.1:${server.grpcPort}`);
    expect((await registerOn(s, registerMessage(AGENT, { hostname: 'jumpy-host', token }))).lastSeq).toBe(0);
    s.send(reportMessage(200_000_001, [gauge(3)]));
    expect((await s.next()).body).toEqual({ $case: 'ack', value: { seq: 200_000_001, error: '' } });
    s.close();

    // In Chinese, after another refusal.
    await jump(200_000_002);
    await operator.evaluate(() =>
      (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('falconet.lang', 'zh'),
    );
    await operator.reload();
    await expect.poll(() => operator.getByTestId('sequence-refused').textContent(), { timeout: 15_000 }).toContain('此主机的上报被拒绝');
    await operator.getByRole('button', { name: '重置序号' }).click();
    await operator.getByRole('button', { name: '重置', exact: true }).click();
    await expect.poll(() => operator.getByTestId('trust-message').textContent()).toBe('序号已重置（原为 200000002）。');
    // Both resets are in the audit log, with the operator as actor (the server log carries every entry).
    await eventually(
      () => server.lines.filter((l) => l.includes('"action":"agent.sequence.reset"') && l.includes('"actor":"operator-1"')).length === 2,
    );
    await operator.context().close();
  });
});
