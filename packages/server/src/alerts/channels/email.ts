/** Email over SMTP with nodemailer: STARTTLS when offered (or required), implicit TLS on `secure`. */
import nodemailer from 'nodemailer';
import { z } from 'zod';
import { escapeHtml } from '../template.ts';
import { type ChannelSettings, defineChannel, type SenderOptions } from './channel.ts';
import { type ChannelSender, DeliveryError, networkOutcome, OUTCOME } from './http.ts';

const fields = {
  smtp: z
    .object({
      host: z.string().min(1).max(253).describe('The SMTP relay, e.g. smtp.example.com.'),
      port: z.number().int().min(1).max(65535).default(587).describe('587 for STARTTLS, 465 for TLS from the first byte.'),
      secure: z
        .boolean()
        .default(false)
        .describe('TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it.'),
      require_tls: z.boolean().default(false).describe('Refuse to send unless STARTTLS succeeds.'),
      username: z.string().max(500).optional().describe('The SMTP user, when the relay asks for one.'),
      password: z.string().max(500).optional().describe("The SMTP user's password."),
      tls_insecure: z.boolean().default(false).describe('Accept a certificate that does not verify (a test relay); never for a real one.'),
    })
    .strict(),
  from: z.string().min(3).max(500).describe('The sender address, e.g. falconet@example.com.'),
  to: z.array(z.string().min(3).max(500)).min(1).max(100).describe('Recipient addresses.'),
};
type EmailSpec = ChannelSettings<'email', typeof fields>;

function emailSender(spec: EmailSpec, { timeoutMs }: SenderOptions): ChannelSender {
  const s = spec.smtp;
  const transport = nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: s.secure,
    requireTLS: s.require_tls,
    ...(s.username ? { auth: { user: s.username, pass: s.password ?? '' } } : {}),
    tls: { rejectUnauthorized: !s.tls_insecure },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    async send(n) {
      const link = n.externalUrl ? `\n\n${n.externalUrl}/alerts` : '';
      try {
        await transport.sendMail({
          from: spec.from,
          to: spec.to,
          subject: n.title,
          text: `${n.text}${link}`,
          html: `<p><b>${escapeHtml(n.title)}</b></p><pre style="font-family:inherit">${escapeHtml(n.text)}</pre>${
            n.externalUrl ? `<p><a href="${escapeHtml(n.externalUrl)}/alerts">Open alerts</a></p>` : ''
          }`,
          headers: { 'X-Falconet-Delivery': n.id, 'X-Falconet-Status': n.status },
        });
      } catch (err) {
        const e = err as Error & { responseCode?: number; code?: string };
        // 5xx SMTP replies are permanent (a bad address, a refused sender); 4xx and connection faults pass.
        const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500;
        throw new DeliveryError(
          smtpOutcome(e),
          `SMTP ${s.host}:${s.port}: ${e.responseCode ? `${e.responseCode} ` : ''}${e.code ? `${e.code} ` : ''}${e.message}`.slice(0, 500),
          !permanent && e.code !== 'EAUTH',
        );
      }
    },
    close() {
      transport.close();
    },
  };
}

/** An SMTP failure as a fixed phrase: the reply code, or the kind of fault; never the server's words. */
function smtpOutcome(e: Error & { responseCode?: number; code?: string }): string {
  if (e.code === 'EAUTH') return OUTCOME.smtpAuth;
  if (typeof e.responseCode === 'number' && e.responseCode >= 200 && e.responseCode < 600) return `SMTP ${e.responseCode}`;
  if (e.code === 'ETLS') return OUTCOME.tls;
  if (e.code === 'ETIMEDOUT') return OUTCOME.timeout;
  // nodemailer wraps socket faults (ESOCKET, ECONNECTION); the system's code is in the message.
  const sys = /\b(E[A-Z_]+|[A-Z_]*CERT[A-Z_]*)\b/.exec(e.message)?.[1];
  return networkOutcome(sys, false);
}

export default defineChannel({
  type: 'email',
  fields,
  secrets: ['smtp.password'],
  // The server and how it is reached, and the recipients: username and from are not where mail goes.
  destination: ['smtp.host', 'smtp.port', 'smtp.secure', 'smtp.require_tls', 'smtp.tls_insecure', 'to'],
  sender: emailSender,
});
