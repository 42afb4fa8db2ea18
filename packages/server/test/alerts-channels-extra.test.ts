/**
 * The channels users of Nezha, Beszel and Komari ask for, each against an HTTP server on loopback
 * that records the exact request (method, path, headers, body) and answers as the service's public
 * API documents; no traffic leaves the machine. The shapes checked are those of each service's
 * documentation: Discord's "Execute Webhook", Teams' Adaptive Card message, ntfy's JSON publishing,
 * Gotify's POST /message, Bark's /push, ServerChan's KEY.send, PushPlus's /send, Pushover's
 * /1/messages.json, Matrix's client-server send event, Telegram's sendMessage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, startHttpReceiver } from '../../../testing/receivers.ts';
import { maskChannel, withStoredSecrets } from '../src/alerts/channel-secrets.ts';
import { serverchanUrl } from '../src/alerts/channels/serverchan.ts';
import { type ChannelSpecInput, channelSpecSchema } from '../src/alerts/spec.ts';
import { deliverOnce, NOW } from './support/channels.ts';

let http: HttpReceiver;
beforeAll(async () => {
  http = await startHttpReceiver();
});
afterAll(async () => {
  await http?.close();
});

/** One notification through a channel as the server runs it; its delivery record, the log, and the one request it made. */
async function deliver(input: ChannelSpecInput, hosts = ['web-1', 'web-<2>'], resolved: string[] = []) {
  const before = http.requests.length;
  const { rec, lines } = await deliverOnce(input, {
    hosts,
    resolved,
    notificationId: 'n-1',
    delivery: { timeout: '5s', initial_backoff: '10ms', max_backoff: '50ms', max_attempts: 2 },
  });
  const req = http.requests[before];
  return { rec, lines, req, json: req?.json as Record<string, unknown> & { [k: string]: unknown } };
}

const problems = (input: unknown) => {
  const r = channelSpecSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('Discord', () => {
  it('executes the webhook with one embed; 204 is success; mentions are not parsed', async () => {
    http.respond(() => ({ status: 204, body: '' }));
    const { rec, req, json } = await deliver({
      name: 'd',
      type: 'discord',
      url: `${http.url}/api/webhooks/123/TOKEN`,
      username: 'Falconet',
    });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/api/webhooks/123/TOKEN' });
    expect(req?.headers['content-type']).toMatch(/^application\/json/);
    expect(json).toMatchObject({
      username: 'Falconet',
      allowed_mentions: { parse: [] },
      embeds: [
        { title: '[FIRING:2] High CPU', color: 0xd93f0b, url: 'http://falconet.example/alerts', timestamp: '2025-03-01T12:00:00.000Z' },
      ],
    });
    // Discord markdown in values is escaped.
    expect((json.embeds as { description: string }[])[0]?.description).toContain('web\\-<2\\>');
    http.respond(() => ({ status: 404, body: { message: 'Unknown Webhook', code: 10015 } }));
    const gone = await deliver({ name: 'd', type: 'discord', url: `${http.url}/api/webhooks/123/TOKEN` });
    expect(gone.rec).toMatchObject({ status: 'failed', attempts: 1, error: 'HTTP 404' });
    // The token in the URL stays out of the log.
    expect(JSON.stringify(gone.lines)).not.toContain('TOKEN');
  });
});

describe('Microsoft Teams', () => {
  it('posts an Adaptive Card message; a workflow answers 202, an old webhook 200 "1"', async () => {
    http.respond(() => ({ status: 202, body: '' }));
    const { rec, json } = await deliver(
      { name: 't', type: 'teams', url: `${http.url}/workflows/abc/triggers/manual/paths/invoke?sig=S` },
      ['db-1'],
      ['db-2'],
    );
    expect(rec.status).toBe('delivered');
    expect(json).toMatchObject({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: '[FIRING:1] High CPU', weight: 'Bolder', color: 'Attention' },
              { type: 'TextBlock', wrap: true },
            ],
            actions: [{ type: 'Action.OpenUrl', url: 'http://falconet.example/alerts' }],
          },
        },
      ],
    });
    expect(JSON.stringify(json)).toContain('[resolved] db-2');
    http.respond(() => ({ status: 200, body: '1' }));
    expect((await deliver({ name: 't', type: 'teams', url: `${http.url}/webhookb2/x` })).rec.status).toBe('delivered');
    http.respond(() => ({
      status: 200,
      body: 'Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 403',
    }));
    const refused = await deliver({ name: 't', type: 'teams', url: `${http.url}/webhookb2/x` });
    expect(refused.rec).toMatchObject({ status: 'failed', error: 'refused by the service' });
  });
});

describe('ntfy', () => {
  it('publishes JSON to the server root with the topic, priority, tags and click URL; a token as Bearer', async () => {
    http.respond(() => ({ status: 200, body: { id: 'sPs71M8A2T', time: 1, event: 'message', topic: 'ops-alerts' } }));
    const { rec, req, json } = await deliver({
      name: 'n',
      type: 'ntfy',
      url: `${http.url}/`,
      topic: 'ops-alerts',
      token: 'tk_abc',
      tags: ['server'],
    });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/' });
    expect(req?.headers.authorization).toBe('Bearer tk_abc');
    expect(json).toMatchObject({
      topic: 'ops-alerts',
      title: '[FIRING:2] High CPU',
      priority: 4,
      tags: ['server', 'rotating_light'],
      click: 'http://falconet.example/alerts',
    });
    const basic = await deliver(
      { name: 'n', type: 'ntfy', url: http.url, topic: 't', username: 'phil', password: 'mypass' },
      [],
      ['web-1'],
    );
    expect(basic.req?.headers.authorization).toBe(`Basic ${Buffer.from('phil:mypass').toString('base64')}`);
    expect(basic.json).toMatchObject({ priority: 3, tags: ['white_check_mark'] });
    http.respond(() => ({ status: 403, body: { code: 40301, http: 403, error: 'forbidden' } }));
    expect((await deliver({ name: 'n', type: 'ntfy', url: http.url, topic: 't' })).rec).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'HTTP 403',
    });
  });

  it('refuses a topic that is not a topic name', () => {
    expect(problems({ name: 'n', type: 'ntfy', topic: 'a/b' })).toEqual([
      "topic: must be 1 to 64 letters, digits, - or _ (ntfy's topic names)",
    ]);
    expect(problems({ name: 'n', type: 'ntfy', topic: 't', priority: 9 })[0]).toMatch(/^priority: /);
  });
});

describe('Gotify', () => {
  it('POSTs /message with X-Gotify-Key and markdown extras; an answer without an id is not success', async () => {
    http.respond(() => ({ status: 200, body: { id: 25, appid: 5, message: 'x', title: 'y', priority: 8, date: '2025-03-01T12:00:00Z' } }));
    const { rec, req, json } = await deliver({ name: 'g', type: 'gotify', url: `${http.url}/gotify/`, token: 'AbCdEf' });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/gotify/message' });
    expect(req?.headers['x-gotify-key']).toBe('AbCdEf');
    expect(json).toMatchObject({
      title: '[FIRING:2] High CPU',
      priority: 8,
      extras: {
        'client::display': { contentType: 'text/markdown' },
        'client::notification': { click: { url: 'http://falconet.example/alerts' } },
      },
    });
    http.respond(() => ({
      status: 401,
      body: { error: 'Unauthorized', errorCode: 401, errorDescription: 'you need to provide a valid access token' },
    }));
    expect((await deliver({ name: 'g', type: 'gotify', url: http.url, token: 'bad' })).rec).toMatchObject({
      status: 'failed',
      error: 'HTTP 401',
    });
  });
});

describe('Bark', () => {
  it('POSTs /push with the device key, group and level; code 200 is success', async () => {
    http.respond(() => ({ status: 200, body: { code: 200, message: 'success', timestamp: 1 } }));
    const { rec, req, json } = await deliver({ name: 'b', type: 'bark', url: http.url, device_key: 'DEVKEY', sound: 'alarm' });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/push' });
    expect(json).toMatchObject({
      device_key: 'DEVKEY',
      title: '[FIRING:2] High CPU',
      group: 'Falconet',
      level: 'timeSensitive',
      sound: 'alarm',
      url: 'http://falconet.example/alerts',
    });
    const resolved = await deliver({ name: 'b', type: 'bark', url: http.url, device_key: 'DEVKEY', level: 'critical' }, [], ['web-1']);
    expect(resolved.json.level).toBe('passive');
    http.respond(() => ({
      status: 400,
      body: { code: 400, message: 'failed to get device token: failed to get [x] device token from database' },
    }));
    expect((await deliver({ name: 'b', type: 'bark', url: http.url, device_key: 'x' })).rec).toMatchObject({
      status: 'failed',
      error: 'HTTP 400',
    });
    expect(problems({ name: 'b', type: 'bark', device_key: 'k', level: 'loud' })[0]).toMatch(/^level: /);
  });
});

describe('ServerChan', () => {
  it('POSTs title and desp to KEY.send; the key never reaches the log', async () => {
    http.respond(() => ({ status: 200, body: { code: 0, message: '', data: { pushid: '1', readkey: 'r', error: 'SUCCESS', errno: 0 } } }));
    const { rec, req, json } = await deliver({ name: 's', type: 'serverchan', send_key: 'SCT12345TxYz', api_url: http.url });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/SCT12345TxYz.send' });
    expect(json.title).toBe('[FIRING:2] High CPU');
    expect(json.desp).toMatch(/^- \[critical\] web-1: /);
    http.respond(() => ({ status: 200, body: { code: 40001, message: 'bad pushkey', data: null } }));
    const bad = await deliver({ name: 's', type: 'serverchan', send_key: 'SCT12345TxYz', api_url: http.url });
    expect(bad.rec).toMatchObject({ status: 'failed', error: 'refused by the service' });
    expect(bad.lines.at(-1)?.err).toBe('ServerChan code 40001: bad pushkey');
    http.respond(() => ({ status: 500, body: 'oops' }));
    const down = await deliver({ name: 's', type: 'serverchan', send_key: 'SCT12345TxYz', api_url: http.url });
    expect(JSON.stringify(down.lines)).not.toContain('SCT12345TxYz');
  });

  it('sends Turbo keys to sctapi.ftqq.com and ServerChan³ keys to their own host', () => {
    expect(serverchanUrl('SCT1234TabC')).toBe('https://sctapi.ftqq.com/SCT1234TabC.send');
    expect(serverchanUrl('sctp5678tXyZ')).toBe('https://5678.push.ft07.com/send/sctp5678tXyZ.send');
    expect(problems({ name: 's', type: 'serverchan', send_key: 'x/../y' })[0]).toMatch(/^send_key: must be a SendKey/);
  });
});

describe('PushPlus', () => {
  it('POSTs /send with the token and a markdown template; code 200 is success', async () => {
    http.respond(() => ({ status: 200, body: { code: 200, msg: '请求成功', data: 'abc' } }));
    const { rec, req, json } = await deliver({ name: 'p', type: 'pushplus', token: 'TOK', topic: 'ops', api_url: http.url });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/send' });
    expect(json).toMatchObject({ token: 'TOK', title: '[FIRING:2] High CPU', template: 'markdown', channel: 'wechat', topic: 'ops' });
    http.respond(() => ({ status: 200, body: { code: 903, msg: '无效的用户token', data: null } }));
    const bad = await deliver({ name: 'p', type: 'pushplus', token: 'TOK', api_url: http.url });
    expect(bad.rec).toMatchObject({ status: 'failed', attempts: 1, error: 'refused by the service' });
    expect(bad.lines.at(-1)?.err).toBe('PushPlus code 903: 无效的用户token');
  });
});

describe('Pushover', () => {
  const token = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
  const user = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';

  it('POSTs the form Pushover documents; emergency priority carries retry and expire; recoveries do not page', async () => {
    http.respond(() => ({ status: 200, body: { status: 1, request: '647d2300-702c-4b38-8b2f-d56326ae460b' } }));
    const { rec, req } = await deliver({ name: 'po', type: 'pushover', token, user_key: user, priority: 2, api_url: http.url });
    expect(rec.status).toBe('delivered');
    expect(req).toMatchObject({ method: 'POST', url: '/1/messages.json' });
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = Object.fromEntries(new URLSearchParams(req?.body));
    expect(form).toMatchObject({
      token,
      user,
      title: '[FIRING:2] High CPU',
      html: '1',
      priority: '2',
      retry: '300',
      expire: '3600',
      timestamp: String(NOW / 1000),
      url: 'http://falconet.example/alerts',
    });
    expect(form.message).toContain('web-&lt;2&gt;');
    const resolved = await deliver({ name: 'po', type: 'pushover', token, user_key: user, priority: 2, api_url: http.url }, [], ['web-1']);
    const rform = Object.fromEntries(new URLSearchParams(resolved.req?.body));
    expect(rform.priority).toBe('0');
    expect(rform.retry).toBeUndefined();
    http.respond(() => ({ status: 400, body: { user: 'invalid', errors: ['user identifier is invalid'], status: 0, request: 'x' } }));
    const bad = await deliver({ name: 'po', type: 'pushover', token, user_key: user, api_url: http.url });
    expect(bad.rec).toMatchObject({ status: 'failed', attempts: 1, error: 'HTTP 400' });
  });

  it('refuses keys of the wrong shape and emergency timings out of range', () => {
    expect(problems({ name: 'po', type: 'pushover', token: 'short', user_key: user })).toEqual([
      "token: must be 30 letters and digits (Pushover's keys)",
    ]);
    expect(problems({ name: 'po', type: 'pushover', token, user_key: user, retry: 5 })[0]).toMatch(/^retry: /);
  });
});

describe('Matrix', () => {
  it('PUTs an m.room.message event with the access token; the transaction id is the same on a retry', async () => {
    http.respond((_r, i) =>
      i === http.requests.length - 1 && _r.url.includes('retry') ? { status: 502 } : { status: 200, body: { event_id: '$ev1' } },
    );
    let n = 0;
    http.respond(() => (n++ === 0 ? { status: 502, body: 'bad gateway' } : { status: 200, body: { event_id: '$ev1' } }));
    const before = http.requests.length;
    const { rec, req, json } = await deliver({
      name: 'm',
      type: 'matrix',
      homeserver: `${http.url}/`,
      room_id: '!abcDEF:matrix.example.org',
      access_token: 'syt_secret',
    });
    expect(rec).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(req).toMatchObject({
      method: 'PUT',
      url: '/_matrix/client/v3/rooms/!abcDEF%3Amatrix.example.org/send/m.room.message/falconet-n-1',
    });
    expect(http.requests[before + 1]?.url).toBe(req?.url);
    expect(req?.headers.authorization).toBe('Bearer syt_secret');
    expect(json).toMatchObject({ msgtype: 'm.notice', format: 'org.matrix.custom.html' });
    expect(json.formatted_body).toMatch(/^<b>\[FIRING:2\] High CPU<\/b><br>- \[critical\] web-1: .*web-&lt;2&gt;/);
    expect(json.body).toMatch(/^\[FIRING:2\] High CPU\n- \[critical\] web-1: .*web-<2>/s);
    http.respond(() => ({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'User not in room' } }));
    expect((await deliver({ name: 'm', type: 'matrix', homeserver: http.url, room_id: '!a:b', access_token: 't' })).rec).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'HTTP 403',
    });
  });

  it('refuses a room alias with a hint to use the id', () => {
    expect(problems({ name: 'm', type: 'matrix', homeserver: 'https://m.org', room_id: '#ops:m.org', access_token: 't' })[0]).toMatch(
      /^room_id: must be a room id \(!opaque:server\.name\), not an alias/,
    );
  });
});

describe('Telegram topics', () => {
  it('sends message_thread_id when set, and only then', async () => {
    http.respond(() => ({ status: 200, body: { ok: true, result: { message_id: 1 } } }));
    const spec = { name: 'tg', type: 'telegram' as const, bot_token: '1:S', chat_id: -100123, api_url: http.url };
    expect((await deliver({ ...spec, message_thread_id: 42 })).json).toMatchObject({ chat_id: -100123, message_thread_id: 42 });
    expect((await deliver(spec)).json).not.toHaveProperty('message_thread_id');
    expect(problems({ ...spec, message_thread_id: 'general' })[0]).toMatch(/^message_thread_id: /);
  });
});

describe('secrets of the new channels', () => {
  it('are masked, kept when sent back masked, and not kept when the destination moves', () => {
    const stored = channelSpecSchema.parse({ name: 'n', type: 'ntfy', url: 'https://ntfy.example', topic: 'hidden-topic', token: 'tk_x' });
    const shown = maskChannel(stored) as Record<string, unknown>;
    expect(shown).toMatchObject({ topic: '********', token: '********', url: 'https://ntfy.example' });
    expect(withStoredSecrets(channelSpecSchema.parse({ ...shown }), stored)).toMatchObject({ topic: 'hidden-topic', token: 'tk_x' });
    expect(() => withStoredSecrets(channelSpecSchema.parse({ ...shown, url: 'https://evil.example' }), stored)).toThrow(
      /changes where it sends \(url\), so the stored topic, token cannot be kept/,
    );
    const am = channelSpecSchema.parse({ name: 'am', type: 'alertmanager', url: 'http://am:9093', username: 'u', password: 'pw' });
    expect(maskChannel(am)).toMatchObject({ password: '********', url: 'http://am:9093' });
    const mx = channelSpecSchema.parse({
      name: 'm',
      type: 'matrix',
      homeserver: 'https://m.org',
      room_id: '!a:m.org',
      access_token: 'syt',
    });
    expect(maskChannel(mx)).toMatchObject({ access_token: '********' });
    const po = maskChannel(
      channelSpecSchema.parse({ name: 'p', type: 'pushover', token: 'a'.repeat(30), user_key: 'b'.repeat(30) }),
    ) as Record<string, unknown>;
    expect([po.token, po.user_key]).toEqual(['********', '********']);
    const dc = maskChannel(channelSpecSchema.parse({ name: 'd', type: 'discord', url: 'https://discord.com/api/webhooks/1/TOKEN' }));
    expect(JSON.stringify(dc)).not.toContain('TOKEN');
  });
});
