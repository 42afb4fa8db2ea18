import { LiveClientMessage, type LiveServerMessage } from '@falconet/protocol/api';
import type { FastifyPluginAsync } from 'fastify';
import '../api/access.ts';
import { LogFilter, QueryError } from '../logs/query.ts';
import { PositionError } from '../logs/tail.ts';
import type { LogStore } from '../logs/types.ts';
import { seesTaskEnv } from '../tasks/messages.ts';
import type { LiveHub, LiveMessage, LogTail } from './hub.ts';

/** A browser that cannot keep up is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * WebSocket `/api/live`: every agent status change goes to every client; the samples of an
 * agent go to clients that sent `{"type":"subscribe","agentId":...}`.
 */
export const liveApi: FastifyPluginAsync<{ live: LiveHub; logs: LogStore }> = async (app, { live, logs }) => {
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
    const logTail: LogTail = {};
    /** Bumped by every logs_tail and logs_untail: a catch-up still being read for an older one is let go. */
    let tailGeneration = 0;
    const refuse = (code: string, message: string) => {
      const refusal: LiveServerMessage = { type: 'error', error: { code, message } };
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(refusal));
    };
    /**
     * A resumed tail: the lines it missed first (then, for a catch-up read from the store, the lines
     * stored meanwhile, held until then), so nothing is skipped silently.
     */
    const resume = async (after: string, filter: LogFilter, generation: number) => {
      logTail.hold = [];
      try {
        const { lines, gap, position } = await live.tail.catchUp(after, filter, logs);
        if (generation !== tailGeneration) return;
        if (gap) send(gap);
        const held = logTail.hold ?? [];
        const sent = new Set(lines.map((l) => l.id));
        send(live.logsMessage(lines, position));
        const rest = held.filter((l) => !sent.has(l.id));
        if (rest.length) send(live.logsMessage(rest));
      } catch (err) {
        if (generation !== tailGeneration) return;
        if (err instanceof PositionError) refuse('bad_request', `logs_tail after: ${err.message}`);
        else {
          req.log.error({ err }, 'live tail catch-up failed');
          refuse('internal', 'logs_tail after: the lines missed could not be read; search for them');
        }
        // The tail goes on from now.
        const held = logTail.hold ?? [];
        if (held.length) send(live.logsMessage(held));
      } finally {
        if (generation === tailGeneration) logTail.hold = undefined;
      }
    };
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
        const generation = ++tailGeneration;
        logTail.hold = undefined;
        try {
          logTail.filter = new LogFilter(parsed.q);
        } catch (err) {
          if (!(err instanceof QueryError)) throw err;
          refuse('bad_query', `logs_tail q: ${err.message}`);
          return;
        }
        // Answered at once with where the tail starts (an empty `logs`), so a socket that drops
        // before any line matched still resumes from here.
        if (parsed.after === undefined) send(live.logsMessage([], live.tail.position(Date.now())));
        else void resume(parsed.after, logTail.filter, generation);
      } else if (parsed.type === 'logs_untail') {
        tailGeneration++;
        logTail.filter = undefined;
        logTail.hold = undefined;
      } else if (parsed.type === 'subscribe') agents.add(parsed.agentId);
      else if (parsed.type === 'unsubscribe') agents.delete(parsed.agentId);
      else if (parsed.type === 'subscribe_task') tasks.add(parsed.taskId);
      else tasks.delete(parsed.taskId);
    });
    socket.on('close', remove);
  });
};
