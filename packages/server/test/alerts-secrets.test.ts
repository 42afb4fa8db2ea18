/**
 * Channel secrets are write-only: what REST shows of every channel type holds none of them, a
 * masked secret sent back is kept only while the destination stays, and any change of where the
 * channel sends (per type: URL, SMTP server and TLS, recipients, chat, API URL, the type itself)
 * needs the secret entered again. The attack over REST is in e2e/security-alerts.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { maskChannel, SecretRequiredError, withStoredSecrets } from '../src/alerts/channel-secrets.ts';
import { channelDefinition, createSender } from '../src/alerts/channels/index.ts';
import { CHANNEL_TYPES, type ChannelSpec, type ChannelSpecInput, channelSpecSchema } from '../src/alerts/spec.ts';

const parse = (c: ChannelSpecInput): ChannelSpec => channelSpecSchema.parse(c);

/** Each type with every secret it can hold; the secrets all contain "S3CRET". */
const STORED: Record<string, ChannelSpec> = {
  webhook: parse({
    name: 'hook',
    type: 'webhook',
    url: 'https://hooks.example/in/x/y?token=S3CRET-query',
    secret: 'S3CRET-hmac',
    headers: { Authorization: 'Bearer S3CRET-bearer', 'X-Team': 'ops' },
  }),
  email: parse({
    name: 'mail',
    type: 'email',
    smtp: { host: 'smtp.example', port: 587, username: 'alerts', password: 'S3CRET-smtp' },
    from: 'falconet@example.com',
    to: ['ops@example.com'],
  }),
  slack: parse({ name: 'slack', type: 'slack', url: 'https://hooks.slack.com/services/T0/B0/S3CRET-slack' }),
  telegram: parse({ name: 'tg', type: 'telegram', bot_token: '123:S3CRET-bot', chat_id: -1001 }),
  dingtalk: parse({
    name: 'ding',
    type: 'dingtalk',
    url: 'https://oapi.dingtalk.com/robot/send?access_token=S3CRET-ding',
    secret: 'SECS3CRET-sign',
  }),
  feishu: parse({ name: 'lark', type: 'feishu', url: 'https://open.feishu.cn/open-apis/bot/v2/hook/S3CRET-lark', secret: 'S3CRET-sign' }),
  wecom: parse({ name: 'wecom', type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=S3CRET-wecom' }),
  discord: parse({ name: 'discord', type: 'discord', url: 'https://discord.com/api/webhooks/1/S3CRET-discord' }),
  teams: parse({ name: 'teams', type: 'teams', url: 'https://x.logic.azure.com/workflows/1/triggers/manual?sig=S3CRET-teams' }),
  ntfy: parse({ name: 'ntfy', type: 'ntfy', topic: 'S3CRET-topic', token: 'tk_S3CRET', username: 'u', password: 'S3CRET-pw' }),
  gotify: parse({ name: 'gotify', type: 'gotify', url: 'https://gotify.example', token: 'S3CRET-gotify' }),
  bark: parse({ name: 'bark', type: 'bark', device_key: 'S3CRET-bark' }),
  serverchan: parse({ name: 'sc', type: 'serverchan', send_key: 'SCTS3CRET' }),
  pushplus: parse({ name: 'pp', type: 'pushplus', token: 'S3CRET-pushplus' }),
  pushover: parse({ name: 'po', type: 'pushover', token: 'S3CRETaaaaaaaaaaaaaaaaaaaaaaaa', user_key: 'S3CRETbbbbbbbbbbbbbbbbbbbbbbbb' }),
  matrix: parse({ name: 'mx', type: 'matrix', homeserver: 'https://m.example', room_id: '!r:m.example', access_token: 'syt_S3CRET' }),
  alertmanager: parse({ name: 'am', type: 'alertmanager', url: 'http://am.example:9093', username: 'u', password: 'S3CRET-am' }),
};

/** What the form sends back: the masked view, as JSON would carry it. */
const shown = (spec: ChannelSpec) => JSON.parse(JSON.stringify(maskChannel(spec))) as Record<string, unknown>;
const again = (o: Record<string, unknown>) => parse(o as ChannelSpecInput);

function refusal(fn: () => unknown): SecretRequiredError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SecretRequiredError) return err;
    throw err;
  }
  throw new Error('expected a SecretRequiredError');
}

describe('channel secrets', () => {
  it('REST shows no secret of any channel type, user info in URLs included', () => {
    for (const [type, spec] of Object.entries(STORED)) expect(JSON.stringify(maskChannel(spec)), type).not.toContain('S3CRET');
    const url = (u: string) => (maskChannel(parse({ name: 'h', type: 'webhook', url: u })) as { url: string }).url;
    expect(url('https://alerts:S3CRET-pw@hooks.example/in')).toBe('https://hooks.example/in/********');
    expect(url('https://ntfy.example/alerts/S3CRET-topic')).toBe('https://ntfy.example/alerts/********');
    expect(url('https://hooks.example/in#S3CRET')).toBe('https://hooks.example/in/********');
    expect(url('https://hooks.example/?key=S3CRET')).toBe('https://hooks.example/********');
    expect(url('https://hooks.example/in')).toBe('https://hooks.example/in');
  });

  it('keeps stored secrets sent back masked while the destination stays', () => {
    for (const [type, spec] of Object.entries(STORED)) {
      const kept = withStoredSecrets(again({ ...shown(spec), title: 'changed' }), spec);
      expect({ ...kept, title: undefined }, type).toEqual({ ...spec, title: undefined });
    }
  });

  // Per type: a change of destination, the field it names, and the secret the refusal names first.
  const repoints: [string, (o: Record<string, unknown>) => void, string, string][] = [
    ['webhook', (o) => (o.url = 'https://attacker.example/steal'), 'url', 'secret'],
    ['email', (o) => ((o.smtp as Record<string, unknown>).host = 'smtp.attacker.example'), 'smtp.host', 'smtp.password'],
    ['email', (o) => ((o.smtp as Record<string, unknown>).port = 2525), 'smtp.port', 'smtp.password'],
    ['email', (o) => ((o.smtp as Record<string, unknown>).tls_insecure = true), 'smtp.tls_insecure', 'smtp.password'],
    ['email', (o) => ((o.smtp as Record<string, unknown>).secure = true), 'smtp.secure', 'smtp.password'],
    ['email', (o) => (o.to = ['attacker@example.com']), 'to', 'smtp.password'],
    ['telegram', (o) => (o.api_url = 'https://attacker.example'), 'api_url', 'bot_token'],
    ['telegram', (o) => (o.chat_id = 42), 'chat_id', 'bot_token'],
    ['dingtalk', (o) => (o.url = 'https://attacker.example/robot/send?access_token=x'), 'url', 'secret'],
    ['feishu', (o) => (o.url = 'https://attacker.example/open-apis/bot/v2/hook/x'), 'url', 'secret'],
    ['telegram', (o) => (o.message_thread_id = 7), 'message_thread_id', 'bot_token'],
    ['ntfy', (o) => (o.url = 'https://attacker.example'), 'url', 'topic'],
    ['ntfy', (o) => (o.username = 'attacker'), 'username', 'topic'],
    ['gotify', (o) => (o.url = 'https://attacker.example'), 'url', 'token'],
    ['bark', (o) => (o.url = 'https://attacker.example'), 'url', 'device_key'],
    ['serverchan', (o) => (o.api_url = 'https://attacker.example'), 'api_url', 'send_key'],
    ['pushplus', (o) => (o.api_url = 'https://attacker.example'), 'api_url', 'token'],
    ['matrix', (o) => (o.homeserver = 'https://attacker.example'), 'homeserver', 'access_token'],
    ['matrix', (o) => (o.room_id = '!attacker:attacker.example'), 'room_id', 'access_token'],
    ['alertmanager', (o) => (o.url = 'https://attacker.example'), 'url', 'password'],
  ];
  for (const [type, change, destination, secret] of repoints) {
    it(`${type}: a new ${destination} with the secret masked is refused; with the secret entered it is taken`, () => {
      const spec = STORED[type] as ChannelSpec;
      const body = shown(spec);
      change(body);
      const err = refusal(() => withStoredSecrets(again(body), spec));
      expect(err.field).toBe(secret);
      expect(err.changed).toEqual([destination]);
      expect(err.message).toMatch(
        new RegExp(`^body ${secret.replace('.', '\\.')}: channel "${spec.name}" changes where it sends \\(${destination}\\)`),
      );
      expect(err.message).not.toContain('S3CRET');

      // Every secret typed in again: the change is taken, and nothing stored comes along.
      const typed = JSON.parse(JSON.stringify(body).replaceAll('"********"', '"new-secret"').replaceAll('/********', '/new')) as Record<
        string,
        unknown
      >;
      const next = withStoredSecrets(again(typed), spec);
      expect(JSON.stringify(next)).not.toContain('S3CRET');
    });
  }

  it('names every secret still masked, and refuses masks on a change of type', () => {
    const spec = STORED.webhook as ChannelSpec;
    const body = { ...shown(spec), url: 'https://attacker.example/steal', secret: 'typed-in' };
    const err = refusal(() => withStoredSecrets(again(body), spec));
    expect([err.field, err.changed]).toEqual(['headers.Authorization', ['url']]);
    expect(err.message).toContain('the stored headers.Authorization, headers.X-Team cannot be kept');
    const retyped = refusal(() =>
      withStoredSecrets(
        parse({ name: 'hook', type: 'telegram', bot_token: '********', chat_id: 1, api_url: 'https://attacker.example' }),
        spec,
      ),
    );
    expect([retyped.field, retyped.changed]).toEqual(['bot_token', ['type']]);
  });

  it('a secret left out is removed, never kept', () => {
    const spec = STORED.webhook as ChannelSpec;
    const { secret: _s, headers: _h, ...rest } = shown(spec);
    const next = withStoredSecrets(again({ ...rest, url: 'https://elsewhere.example/x' }), spec);
    expect(next).not.toHaveProperty('secret');
    expect(JSON.stringify(next)).not.toContain('S3CRET');
  });
});

/** Whether a field path (`smtp.password`, `headers.*`) names a field of a schema. */
function fieldOf(schema: z.ZodType, path: string[]): boolean {
  type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; shape?: Record<string, z.ZodType>; valueType?: z.ZodType };
  let def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  while (def.innerType || (def.type === 'pipe' && def.in)) def = ((def.innerType ?? def.in) as unknown as { _zod: { def: Def } })._zod.def;
  if (path.length === 0) return true;
  const [head, ...rest] = path as [string, ...string[]];
  if (def.type === 'object' && def.shape?.[head]) return fieldOf(def.shape[head], rest);
  if (def.type === 'record' && head === '*' && def.valueType) return fieldOf(def.valueType, rest);
  return false;
}

describe('channel definitions', () => {
  it('each type is found by its name, and its secrets and destination name fields it has', () => {
    expect(CHANNEL_TYPES).toEqual([
      'webhook',
      'email',
      'slack',
      'telegram',
      'dingtalk',
      'feishu',
      'wecom',
      'discord',
      'teams',
      'ntfy',
      'gotify',
      'bark',
      'serverchan',
      'pushplus',
      'pushover',
      'matrix',
      'alertmanager',
    ]);
    for (const type of CHANNEL_TYPES) {
      const def = channelDefinition(type);
      expect(def.type).toBe(type);
      expect(def.destination.length, type).toBeGreaterThan(0);
      const schema = channelSpecSchema.options.find((o) => o.shape.type.value === type) as z.ZodType;
      for (const f of [...def.secrets, ...def.destination]) expect(fieldOf(schema, f.split('.')), `${type} ${f}`).toBe(true);
      const sender = createSender(STORED[type] as ChannelSpec, { timeoutMs: 1000, now: Date.now });
      expect(sender.send, type).toBeTypeOf('function');
      sender.close?.();
    }
    expect(() => channelDefinition('pager')).toThrow('no channel type "pager"');
  });
});
