/**
 * Every channel type against a real receiver on loopback: an HTTP server standing in for the
 * webhook consumer and for Slack, Telegram, DingTalk, Feishu and WeCom (their documented payload
 * shapes; no traffic leaves the machine), and a real SMTP server. Signatures are checked with
 * other implementations (openssl, Python's hmac) than the one under test.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../testing/processes.ts';
import { type HttpReceiver, type SmtpReceiver, startHttpReceiver, startSmtpReceiver } from '../../../testing/receivers.ts';
import type { ChannelSpecInput } from '../src/alerts/spec.ts';
import { deliverOnce, NOW } from './support/channels.ts';

let http: HttpReceiver;
let smtp: SmtpReceiver;
beforeAll(async () => {
  http = await startHttpReceiver();
  smtp = await startSmtpReceiver();
});
afterAll(async () => {
  await http?.close();
  await smtp?.close();
});

/** A channel as the server would run it, delivering one notification; resolves with its record and the log. */
function deliver(input: ChannelSpecInput, hosts = ['web-1', 'web-<2>'], resolved: string[] = []) {
  return deliverOnce(input, {
    hosts,
    resolved,
    delivery: { timeout: '5s', initial_backoff: '100ms', max_backoff: '2s', max_attempts: 4 },
  });
}

const python = (code: string) => execFileSync('python3', ['-c', code], { encoding: 'utf8' }).trim();

describe('webhook', () => {
  it('posts an Alertmanager-style payload signed with HMAC-SHA256 over timestamp and body', async () => {
    http.respond(() => ({ status: 200 }));
    const before = http.requests.length;
    const { rec } = await deliver({
      name: 'hook',
      type: 'webhook',
      url: `${http.url}/hook`,
      secret: 's3cret',
      headers: { 'X-Team': 'ops' },
    });
    expect(rec).toMatchObject({ status: 'delivered', attempts: 1 });
    const req = http.requests[before];
    expect(req?.headers['x-team']).toBe('ops');
    expect(req?.json).toMatchObject({
      version: '4',
      receiver: 'hook',
      status: 'firing',
      groupLabels: { alertname: 'High CPU' },
      commonLabels: { alertname: 'High CPU', severity: 'critical' },
      title: '[FIRING:2] High CPU',
      alerts: [
        { status: 'firing', labels: { host: 'web-1' }, startsAt: '2025-03-01T11:59:30.000Z', endsAt: '0001-01-01T00:00:00Z', value: 97.5 },
        { labels: { host: 'web-<2>' } },
      ],
    });
    const ts = req?.headers['x-falconet-timestamp'] as string;
    expect(ts).toBe(String(NOW / 1000));
    // The receiver's side, with another implementation: openssl over "timestamp.body".
    const mac = execFileSync('openssl', ['dgst', '-sha256', '-hmac', 's3cret', '-hex'], { input: `${ts}.${req?.body}`, encoding: 'utf8' })
      .trim()
      .split(' ')
      .at(-1);
    expect(req?.headers['x-falconet-signature']).toBe(`sha256=${mac}`);
  });

  it('renders a body template into JSON, escaping inserted values', async () => {
    const before = http.requests.length;
    const { rec } = await deliver({
      name: 'hook',
      type: 'webhook',
      url: `${http.url}/custom`,
      body: '{"summary": "{{title}}", "hosts": [{{#alerts}}"{{host}}"{{^@last}},{{/@last}}{{/alerts}}], "raw": {{commonLabels | json}}}',
    });
    expect(rec.status).toBe('delivered');
    expect(http.requests[before]?.json).toEqual({
      summary: '[FIRING:2] High CPU',
      hosts: ['web-1', 'web-<2>'],
      raw: { alertname: 'High CPU', severity: 'critical' },
    });
    const broken = await deliver({ name: 'hook', type: 'webhook', url: `${http.url}/custom`, body: '{"a": {{title}}}' });
    expect(broken.rec).toMatchObject({ status: 'failed', attempts: 1 });
    expect(broken.rec.error).toBe('body template did not produce JSON');
    expect(broken.lines.at(-1)?.err).toMatch(/^body template did not produce JSON \(/);
  });

  it('retries a failing receiver with growing backoff, and honours Retry-After', async () => {
    const before = http.requests.length;
    http.respond((_r, i) => (i - before < 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    const ok = await deliver({ name: 'flaky', type: 'webhook', url: `${http.url}/flaky` });
    expect(ok.rec).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(ok.health).toMatchObject({ delivered: 1, failed: 0, attempts: 3, retries: 2, consecutiveFailures: 0 });
    const waits = ok.lines.filter((l) => l.retryInMs !== undefined).map((l) => l.retryInMs as number);
    expect(waits).toHaveLength(2);
    // Half-jitter exponential from 100 ms: [50, 100) then [100, 200).
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[1]).toBeGreaterThanOrEqual(waits[0] as number);
    expect(ok.lines.find((l) => l.retryInMs !== undefined)?.msg).toMatch(/alert notification to flaky failed; retrying in \d+ ms/);

    const start = http.requests.length;
    http.respond((_r, i) => (i === start ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const limited = await deliver({ name: 'limited', type: 'webhook', url: `${http.url}/limited` });
    expect(limited.rec.status).toBe('delivered');
    expect(limited.lines.find((l) => l.retryInMs !== undefined)?.retryInMs).toBeGreaterThanOrEqual(1000);
  });

  it('gives up after its attempts and shows why; does not retry what cannot succeed', async () => {
    http.respond(() => ({ status: 500, body: 'down for good' }));
    const failed = await deliver({ name: 'dead', type: 'webhook', url: `${http.url}/dead` });
    expect(failed.rec).toMatchObject({ status: 'failed', attempts: 4 });
    // What REST shows is a fixed phrase; the receiver's own words go to the server log only.
    expect(failed.rec.error).toBe('HTTP 500');
    expect(failed.health).toMatchObject({ failed: 1, attempts: 4, retries: 3, consecutiveFailures: 4, lastError: 'HTTP 500' });
    expect(failed.lines.at(-1)).toMatchObject({
      level: 50,
      msg: 'alert notification to dead failed after 4 attempt(s)',
      outcome: 'HTTP 500',
      err: expect.stringMatching(/^POST http:\/\/127\.0\.0\.1:\d+\/dead: HTTP 500 down for good$/),
    });

    http.respond(() => ({ status: 404, body: 'no such hook' }));
    expect((await deliver({ name: 'gone', type: 'webhook', url: `${http.url}/gone` })).rec).toMatchObject({
      status: 'failed',
      attempts: 1,
    });

    const closed = await freePort();
    const refused = await deliver({
      name: 'nobody',
      type: 'webhook',
      url: `http://127.0.0.1:${closed}/x`,
      retry: { max_attempts: 2, initial_backoff: '10ms' },
    });
    expect(refused.rec).toMatchObject({ status: 'failed', attempts: 2 });
    expect(refused.rec.error).toBe('connection refused');
    expect(refused.lines.at(-1)?.err).toMatch(/ECONNREFUSED/);
    http.respond(() => ({ status: 200 }));
  });
});

describe('chat services, in their documented payload shapes', () => {
  it('Slack: an incoming webhook with header and mrkdwn blocks; "ok" is success', async () => {
    http.respond(() => ({ status: 200, body: 'ok' }));
    const before = http.requests.length;
    const { rec } = await deliver({ name: 'slack', type: 'slack', url: `${http.url}/services/T0/B0/XXX` });
    expect(rec.status).toBe('delivered');
    const body = http.requests[before]?.json as { text: string; blocks: { type: string; text?: { type: string; text: string } }[] };
    expect(body.text).toBe('[FIRING:2] High CPU');
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect(body.blocks[1]?.text).toMatchObject({ type: 'mrkdwn' });
    // Slack markup in values is escaped.
    expect(body.blocks[1]?.text?.text).toContain('web-&lt;2&gt;');
    http.respond(() => ({ status: 200, body: 'invalid_token' }));
    const refused = await deliver({ name: 'slack', type: 'slack', url: `${http.url}/services/T0/B0/XXX` });
    expect(refused.rec.error).toBe('refused by the service');
    expect(refused.lines.at(-1)?.err).toBe('Slack answered invalid_token');
  });

  it("Telegram: sendMessage in HTML mode; a refusal names Telegram's reason without the token", async () => {
    http.respond(() => ({ status: 200, body: { ok: true, result: { message_id: 1 } } }));
    const before = http.requests.length;
    const spec = { name: 'tg', type: 'telegram' as const, bot_token: '123:SECRET', chat_id: -100123, api_url: http.url };
    expect((await deliver(spec)).rec.status).toBe('delivered');
    const req = http.requests[before];
    expect(req?.url).toBe('/bot123:SECRET/sendMessage');
    expect(req?.json).toMatchObject({ chat_id: -100123, parse_mode: 'HTML', disable_web_page_preview: true });
    const text = (req?.json as { text: string } | undefined)?.text ?? '';
    expect(text.startsWith('<b>[FIRING:2] High CPU</b>\n')).toBe(true);
    expect(text).toContain('web-&lt;2&gt;');
    http.respond(() => ({ status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } }));
    const bad = await deliver(spec);
    expect(bad.rec).toMatchObject({ status: 'failed', attempts: 1 });
    expect(bad.rec.error).toBe('HTTP 400');
    expect(bad.lines.at(-1)?.err).toContain('chat not found');
    expect(JSON.stringify(bad.lines)).not.toContain('SECRET');
  });

  it('DingTalk: a markdown robot message, signed as its documentation says', async () => {
    http.respond(() => ({ status: 200, body: { errcode: 0, errmsg: 'ok' } }));
    const before = http.requests.length;
    const secret = 'SEC0123456789abcdef';
    const { rec } = await deliver({
      name: 'ding',
      type: 'dingtalk',
      url: `${http.url}/robot/send?access_token=tok`,
      secret,
      at_mobiles: ['13800000000'],
    });
    expect(rec.status).toBe('delivered');
    const req = http.requests[before];
    const q = new URL(req?.url ?? '', http.url).searchParams;
    expect(q.get('access_token')).toBe('tok');
    expect(q.get('timestamp')).toBe(String(NOW));
    // DingTalk's own recipe (Python): HMAC-SHA256(secret, "timestamp\nsecret"), Base64, quote_plus.
    const expected = python(
      `import hmac,hashlib,base64,urllib.parse;s=${JSON.stringify(secret)};t=${JSON.stringify(String(NOW))};` +
        `print(urllib.parse.quote_plus(base64.b64encode(hmac.new(s.encode(),f"{t}\\n{s}".encode(),digestmod=hashlib.sha256).digest())))`,
    );
    expect(req?.url).toContain(`&sign=${expected}`);
    expect(req?.json).toMatchObject({
      msgtype: 'markdown',
      markdown: { title: '[FIRING:2] High CPU' },
      at: { atMobiles: ['13800000000'], isAtAll: false },
    });
    expect((req?.json as { markdown: { text: string } } | undefined)?.markdown.text).toMatch(
      /^### \[FIRING:2\] High CPU\n\n- \[critical\] web-1: .*@13800000000$/s,
    );
    http.respond(() => ({ status: 200, body: { errcode: 310000, errmsg: 'sign not match' } }));
    const bad = await deliver({ name: 'ding', type: 'dingtalk', url: `${http.url}/robot/send?access_token=tok`, secret });
    expect(bad.rec).toMatchObject({ status: 'failed', attempts: 1, error: 'refused by the service' });
    expect(bad.lines.at(-1)?.err).toBe('DingTalk errcode 310000: sign not match');
    http.respond(() => ({ status: 200, body: { errcode: 130101, errmsg: 'send too fast' } }));
    expect((await deliver({ name: 'ding', type: 'dingtalk', url: `${http.url}/robot/send` })).rec.attempts).toBe(4);
  });

  it('Feishu/Lark: an interactive card with the timestamp and signature in the body', async () => {
    http.respond(() => ({ status: 200, body: { code: 0, msg: 'success', data: {} } }));
    const before = http.requests.length;
    const secret = 'feishu-secret';
    const { rec } = await deliver(
      { name: 'lark', type: 'feishu', url: `${http.url}/open-apis/bot/v2/hook/abc`, secret },
      ['db-1'],
      ['db-2'],
    );
    expect(rec.status).toBe('delivered');
    const body = http.requests[before]?.json as Record<string, unknown> & {
      card: { header: { title: { content: string }; template: string } };
    };
    expect(body.timestamp).toBe(String(NOW / 1000));
    // Feishu's recipe (Python): HMAC-SHA256 keyed by "timestamp\nsecret" over nothing, Base64.
    const expected = python(
      `import hmac,hashlib,base64;s=${JSON.stringify(secret)};t=${JSON.stringify(String(NOW / 1000))};` +
        `print(base64.b64encode(hmac.new(f"{t}\\n{s}".encode(),b"",digestmod=hashlib.sha256).digest()).decode())`,
    );
    expect(body.sign).toBe(expected);
    expect(body.msg_type).toBe('interactive');
    expect(body.card.header).toMatchObject({ title: { content: '[FIRING:1] High CPU' }, template: 'red' });
    expect(JSON.stringify(body.card)).toContain('[resolved] db-2');
    http.respond(() => ({
      status: 200,
      body: { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time' },
    }));
    const refused = await deliver({ name: 'lark', type: 'feishu', url: `${http.url}/hook`, secret });
    expect(refused.rec.error).toBe('refused by the service');
    expect(refused.lines.at(-1)?.err).toMatch(/^Feishu code 19021: sign match fail/);
  });

  it('WeCom: markdown, or text when mobiles are to be mentioned', async () => {
    http.respond(() => ({ status: 200, body: { errcode: 0, errmsg: 'ok' } }));
    const before = http.requests.length;
    expect((await deliver({ name: 'wecom', type: 'wecom', url: `${http.url}/cgi-bin/webhook/send?key=k` })).rec.status).toBe('delivered');
    expect(http.requests[before]?.json).toMatchObject({
      msgtype: 'markdown',
      markdown: { content: expect.stringMatching(/^\*\*\[FIRING:2\] High CPU\*\*\n- \[critical\] web-1/) },
    });
    await deliver({ name: 'wecom', type: 'wecom', url: `${http.url}/cgi-bin/webhook/send?key=k`, mentioned_mobiles: ['13800000000'] });
    expect(http.requests.at(-1)?.json).toMatchObject({ msgtype: 'text', text: { mentioned_mobile_list: ['13800000000'] } });
    http.respond(() => ({ status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } }));
    const refused = await deliver({ name: 'wecom', type: 'wecom', url: `${http.url}/x` });
    expect(refused.rec.error).toBe('refused by the service');
    expect(refused.lines.at(-1)?.err).toBe('WeCom errcode 93000: invalid webhook url');
    http.respond(() => ({ status: 200 }));
  });
});

describe('email over SMTP', () => {
  it('sends the title as subject and the alerts as text to a real SMTP server', async () => {
    smtp.reject(undefined);
    const before = smtp.messages.length;
    const { rec } = await deliver({
      name: 'mail',
      type: 'email',
      smtp: { host: '127.0.0.1', port: smtp.port },
      from: 'falconet@example.com',
      to: ['ops@example.com', 'oncall@example.com'],
    });
    expect(rec).toMatchObject({ status: 'delivered', attempts: 1 });
    const m = smtp.messages[before];
    expect(m).toMatchObject({
      from: 'falconet@example.com',
      to: ['ops@example.com', 'oncall@example.com'],
      subject: '[FIRING:2] High CPU',
    });
    expect(m?.text).toContain('- [critical] web-1: falconet_cpu_usage_percent > 90: value 97.5 (for 30s)');
    expect(m?.text).toContain('http://falconet.example/alerts');
  });

  it('retries a temporary SMTP refusal and not a permanent one', async () => {
    const spec = {
      name: 'mail',
      type: 'email' as const,
      smtp: { host: '127.0.0.1', port: smtp.port },
      from: 'a@example.com',
      to: ['b@example.com'],
    };
    smtp.reject(451, 'try again later');
    const temp = await deliver(spec);
    expect(temp.rec).toMatchObject({ status: 'failed', attempts: 4 });
    expect(temp.rec.error).toBe('SMTP 451');
    expect(temp.lines.at(-1)?.err).toMatch(/451 .*try again later/);
    smtp.reject(550, 'no such mailbox');
    const perm = await deliver(spec);
    expect(perm.rec).toMatchObject({ status: 'failed', attempts: 1 });
    expect(perm.rec.error).toBe('SMTP 550');
    smtp.reject(undefined);
  });
});
