/**
 * ServerChan (Server酱): POST {title, desp} to the SendKey's URL. Turbo keys (SCT...) go to
 * sctapi.ftqq.com/KEY.send; ServerChan³ keys (sctp{uid}t...) to {uid}.push.ft07.com/send/KEY.send.
 */
import { type ChannelSettings, defineChannel, httpUrl, secretMatching } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  send_key: secretMatching(/^[A-Za-z0-9_-]{1,200}$/, 'must be a SendKey (SCT... or sctp...t...): letters, digits, - and _').describe(
    'The SendKey from the ServerChan console.',
  ),
  api_url: httpUrl.optional().describe("Where KEY.send is posted; by default the key's own service. Another only for a test or a proxy."),
};
type Spec = ChannelSettings<'serverchan', typeof fields>;

/** The URL a SendKey posts to, by the kind of key. */
export function serverchanUrl(key: string, apiUrl?: string): string {
  if (apiUrl) return `${apiUrl.replace(/\/+$/, '')}/${key}.send`;
  const v3 = /^sctp(\d+)t/.exec(key);
  return v3 ? `https://${v3[1]}.push.ft07.com/send/${key}.send` : `https://sctapi.ftqq.com/${key}.send`;
}

function serverchanSender(spec: Spec): ChannelSender {
  const url = serverchanUrl(spec.send_key, spec.api_url);
  return {
    async send(n, signal) {
      // ServerChan's limits: a title of 32 characters, desp (markdown) of 32 KB.
      const body = { title: clip(n.title, 32), desp: clip(n.text || n.title, 32_000, true) };
      let answer: Record<string, unknown>;
      try {
        answer = parseJsonAnswer(await post(url, JSON.stringify(body), {}, signal), 'ServerChan');
      } catch (err) {
        throw scrub(err, spec.send_key);
      }
      if (answer.code !== 0) {
        throw new DeliveryError(OUTCOME.refused, `ServerChan code ${String(answer.code)}: ${String(answer.message ?? '')}`, false);
      }
    },
  };
}

/** The SendKey is in the URL: keep it out of errors and logs. */
function scrub(err: unknown, key: string): unknown {
  if (!(err instanceof DeliveryError)) return err;
  return new DeliveryError(err.outcome, err.message.split(key).join('<send_key>'), err.retryable, err.retryAfterMs);
}

export default defineChannel({
  type: 'serverchan',
  fields,
  secrets: ['send_key'],
  destination: ['api_url'],
  sender: serverchanSender,
});
