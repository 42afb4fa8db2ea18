import { createReadStream } from 'node:fs';
import { hostOf } from '@falconet/protocol/net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentTokens } from '../agents/tokens.ts';
import type { AuditLog } from '../auth/audit.ts';
import type { EnrollmentTokenRepository } from '../auth/tokens.ts';
import { AGENT_TARGETS, type AgentReleaseReader, isAgentTarget } from './releases.ts';
import { AGENT_SCRIPT_TEMPLATE, AGENT_UNIT } from './texts.generated.ts';

/** What the script needs to know of the agent channel, asked at each request (the ports are known once listening). */
export interface AgentChannelInfo {
  /** `install.grpc_address`, or empty to use the request's host with `port`. */
  publicAddress: string;
  port: number;
  tls: boolean;
  /** The SHA-256 of the certificate the server made for itself, for agents to pin; empty for a configured certificate. */
  fingerprint: string;
  /** The server's release public key (base64 of the raw Ed25519 key) the agent pins for self-update. */
  releaseKey: string;
}

export interface InstallDeps {
  releases: AgentReleaseReader;
  channel: () => AgentChannelInfo;
  enrollment: EnrollmentTokenRepository;
  tokens: AgentTokens;
  audit: AuditLog;
}

// A Host header goes into the script between single quotes: only the characters of a host and port may.
const HOST_HEADER = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;
const TEXT = 'text/plain; charset=utf-8';

const EnrollBody = z.object({
  token: z.string().max(200),
  hostname: z.string().max(128),
});

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The install script with this server's addresses filled in. */
export function renderAgentScript(httpUrl: string, grpcAddress: string, channel: AgentChannelInfo): string {
  const values: Record<string, string> = {
    '@HTTP_URL@': httpUrl,
    '@GRPC_ADDR@': grpcAddress,
    '@GRPC_TLS@': channel.tls ? 'yes' : 'no',
    '@GRPC_FINGERPRINT@': channel.fingerprint,
    '@RELEASE_KEY@': channel.releaseKey,
    '@UNIT@': AGENT_UNIT.replace(/\n+$/, ''),
  };
  return AGENT_SCRIPT_TEMPLATE.replace(/@(HTTP_URL|GRPC_ADDR|GRPC_TLS|GRPC_FINGERPRINT|RELEASE_KEY|UNIT)@/g, (m) => values[m] ?? m);
}

const BINARY_PREFIX = 'falconet-agent-';

function noSuchFile(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = req.url.split('?')[0]?.slice(0, 200);
  return text(reply, 404, `no install file ${path}: this server serves /install/agent.sh and /install/falconet-agent-TARGET`);
}

function text(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.status(status).type(TEXT).header('cache-control', 'no-store').send(`${message}\n`);
}

/**
 * The one-line install (docs/install.md): the script, the agent binaries the release store holds,
 * and the exchange of an enrollment token for an agent token. None needs a sign-in: the script and
 * binaries carry no secret, and the exchange is authorised by the enrollment token itself.
 */
export const installApi: FastifyPluginAsyncZod<InstallDeps> = async (app, deps) => {
  app.get('/install/agent.sh', { config: { public: true }, schema: { hide: true } }, async (req, reply) => {
    const host = req.headers.host ?? '';
    if (!HOST_HEADER.test(host)) return text(reply, 400, `Host header "${host.slice(0, 100)}": not a host name or address with a port`);
    const channel = deps.channel();
    const grpcAddress = channel.publicAddress || `${bracketed(hostOf(host))}:${channel.port}`;
    return reply
      .type('text/x-shellscript; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderAgentScript(`${req.protocol}://${host}`, grpcAddress, channel));
  });

  app.get(
    '/install/:file',
    { config: { public: true }, schema: { hide: true, params: z.object({ file: z.string().max(100) }) } },
    async (req: FastifyRequest<{ Params: { file: string } }>, reply) => {
      if (!req.params.file.startsWith(BINARY_PREFIX)) return noSuchFile(req, reply);
      const file = req.params.file.slice(BINARY_PREFIX.length);
      const checksum = file.endsWith('.sha256');
      const target = checksum ? file.slice(0, -'.sha256'.length) : file;
      if (!isAgentTarget(target)) {
        return text(
          reply,
          404,
          `no agent target "${target.slice(0, 60)}": this server hands out ${AGENT_TARGETS.map((t) => `falconet-agent-${t}`).join(' and ')}`,
        );
      }
      const held = deps.releases.newest(target);
      if (!held) return text(reply, 404, `this server holds no agent binary for ${target}: falconet-server release add FILE`);
      const { sha256 } = held;
      if (checksum) return text(reply, 200, `${sha256}  falconet-agent-${target}`);
      return reply
        .type('application/octet-stream')
        .header('content-length', held.size)
        .header('x-falconet-sha256', sha256)
        .header('x-falconet-version', held.version)
        .header('cache-control', 'no-cache')
        .send(createReadStream(held.file));
    },
  );

  // Anything else under /install/ (a ../ in the name among them) is refused here, not answered with the dashboard.
  app.get('/install/*', { config: { public: true }, schema: { hide: true } }, noSuchFile);

  app.post(
    '/install/enroll',
    { bodyLimit: 4096, config: { public: true, audit: false }, schema: { hide: true, body: EnrollBody } },
    async (req, reply) => {
      const { token, hostname } = req.body;
      if (!/^[A-Za-z0-9._-]{1,128}$/.test(hostname)) {
        return text(reply, 400, `hostname "${hostname.slice(0, 60)}": an agent token names a host by letters, digits, . _ and -`);
      }
      const redeemed = await deps.enrollment.redeem(token);
      if (typeof redeemed === 'string') {
        await deps.audit.record({
          actor: 'anonymous',
          action: 'enrollment.redeem',
          target: hostname,
          address: req.ip,
          outcome: 'denied',
          detail: { reason: redeemed },
        });
        const why =
          redeemed === 'used up'
            ? 'the enrollment token has been used as many times as it allows'
            : redeemed === 'malformed'
              ? '--token is not an enrollment token (fne_...)'
              : `the enrollment token is ${redeemed}`;
        return text(reply, 401, `${why}: make a new one (the dashboard's Add host, or falconet-server create-token --enroll)`);
      }
      const made = await deps.tokens.create(hostname, { labels: redeemed.labels });
      await deps.audit.record({
        actor: `enrollment:${redeemed.name}`,
        action: 'enrollment.redeem',
        target: hostname,
        address: req.ip,
        outcome: 'ok',
        detail: { enrollmentId: redeemed.id, agentTokenId: made.record.id, uses: redeemed.uses, maxUses: redeemed.maxUses },
      });
      return text(reply, 200, made.token);
    },
  );
};
