import { LiveClientMessage, type LiveServerMessage } from '@falconet/protocol/api';
import type { FastifyPluginAsync } from 'fastify';
import '../api/access.ts';
import { LogFilter, QueryError } from '../logs/query.ts';
import { seesTaskEnv } from '../tasks/messages.ts';
import type { LiveHub, LiveMessage } from './hub.ts';

/** A browser that cannot keep up is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * WebSocket `/api/live`: every agent status change goes to every client; the samples of an
 * agent go to clients that sent `{"type":"subscribe","agentId":...}`.
 */
export const liveApi: FastifyPluginAsync<{ live: LiveHub }> = async (app, { live }) => {
  app.get('/api/live', { websocket: true, config: { minRole: 'viewer' }, schema: { hide: true } }, (socket, req) => {
    const agents = new Set<string>();
    const tasks = new Set<string>();
    const send = (msg: LiveMessage) => {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
        socket.close(1013, 'client too slow');
        return;
      }
      socket.send(JSON.stringify(msg));
    };
    // The role is read once: a demoted or removed user's sockets are closed (docs/security.md).
    const logTail: { filter?: LogFilter | undefined } = {};
    const remove = live.add({ send, agents, tasks, seesTaskEnv: seesTaskEnv(req.identity?.role), logTail });
    send({ type: 'hello', serverTimeMs: Date.now() });
    socket.on('message', (data: Buffer) => {
      let parsed: LiveClientMessage;
      try {
        parsed = LiveClientMessage.parse(JSON.parse(data.toString('utf8')));
      } catch (err) {
        const refusal: LiveServerMessage = {
          type: 'error',
          error: { code: 'bad_request', message: `unreadable live message: ${(err as Error).message.slice(0, 200)}` },
        };
        socket.send(JSON.stringify(refusal));
        return;
      }
      if (parsed.type === 'logs_tail') {
        try {
          logTail.filter = new LogFilter(parsed.q);
        } catch (err) {
          if (!(err instanceof QueryError)) throw err;
          const refusal: LiveServerMessage = { type: 'error', error: { code: 'bad_query', message: `logs_tail q: ${err.message}` } };
          socket.send(JSON.stringify(refusal));
        }
      } else if (parsed.type === 'logs_untail') logTail.filter = undefined;
      else if (parsed.type === 'subscribe') agents.add(parsed.agentId);
      else if (parsed.type === 'unsubscribe') agents.delete(parsed.agentId);
      else if (parsed.type === 'subscribe_task') tasks.add(parsed.taskId);
      else tasks.delete(parsed.taskId);
    });
    socket.on('close', remove);
  });
};
