import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import './access.ts';
import type { LiveHub, LiveMessage } from '../live.ts';
import { seesTaskEnv } from '../tasks/messages.ts';

const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), agentId: z.string().min(1).max(128) }),
  z.object({ type: z.literal('unsubscribe'), agentId: z.string().min(1).max(128) }),
  z.object({ type: z.literal('subscribe_task'), taskId: z.string().min(1).max(128) }),
  z.object({ type: z.literal('unsubscribe_task'), taskId: z.string().min(1).max(128) }),
]);

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
    const remove = live.add({ send, agents, tasks, seesTaskEnv: seesTaskEnv(req.identity?.role) });
    send({ type: 'hello', serverTimeMs: Date.now() });
    socket.on('message', (data: Buffer) => {
      let parsed: z.infer<typeof ClientMessage>;
      try {
        parsed = ClientMessage.parse(JSON.parse(data.toString('utf8')));
      } catch (err) {
        socket.send(
          JSON.stringify({
            type: 'error',
            error: { code: 'bad_request', message: `unreadable live message: ${(err as Error).message.slice(0, 200)}` },
          }),
        );
        return;
      }
      if (parsed.type === 'subscribe') agents.add(parsed.agentId);
      else if (parsed.type === 'unsubscribe') agents.delete(parsed.agentId);
      else if (parsed.type === 'subscribe_task') tasks.add(parsed.taskId);
      else tasks.delete(parsed.taskId);
    });
    socket.on('close', remove);
  });
};
