import type {
  Agent,
  LiveClientMessage,
  LiveLogsGap,
  LiveSample,
  LiveServerMessage,
  LogLine,
  TaskLiveMessage,
} from '@falconet/protocol/api';

type AgentListener = (agent: Agent) => void;
type SampleListener = (samples: LiveSample[]) => void;
type TaskListener = (msg: TaskLiveMessage) => void;

const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 30_000;
/**
 * How long a connection must stay open before a drop retries from the first wait again. Not
 * reset on open, nor on a message (the server greets every socket at once): a server that
 * accepts and closes at once (1013, client too slow) would otherwise be asked every 250 ms.
 */
export const STABLE_MS = 5_000;

interface LogTail {
  q: string;
  onLines(lines: LogLine[]): void;
  onError(message: string): void;
  /** A resumed tail could not send everything it missed (docs/logs.md, Resuming a tail). */
  onGap(gap: LiveLogsGap): void;
  position?: string;
}

/**
 * The page's one WebSocket to /api/live, reconnecting with backoff, shared by every view (agents,
 * samples, tasks). Streaming data goes to listeners directly, never through React state, so a
 * busy stream does not re-render the tree. Made without a socket: `connect()` opens it, from an
 * effect, so React's StrictMode (mount, unmount, mount) leaves one socket and leaks none.
 */
export class LiveConnection {
  #ws: WebSocket | undefined;
  #wanted = false;
  #retry = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stable: ReturnType<typeof setTimeout> | undefined;
  readonly #agentListeners = new Set<AgentListener>();
  readonly #removedListeners = new Set<(agentId: string) => void>();
  readonly #sampleListeners = new Map<string, Set<SampleListener>>();
  readonly #taskListeners = new Set<TaskListener>();
  /** Task id -> how many views follow it. */
  readonly #tasks = new Map<string, number>();
  readonly #statusListeners = new Set<(connected: boolean) => void>();
  /**
   * The socket's one live log tail (the server keeps one per socket): its query, where lines go,
   * and the position of the last message, sent back after a reconnect so missed lines come first.
   */
  #tail: LogTail | undefined;
  connected = false;
  readonly url: string;

  constructor(url: string = LiveConnection.defaultUrl()) {
    this.url = url;
  }

  static defaultUrl(): string {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`;
  }

  /** Opens the socket and keeps one open until the function returned (or `close()`) is called. */
  connect(): () => void {
    if (!this.#wanted) {
      this.#wanted = true;
      this.#retry = 0;
      this.#open();
    }
    return () => this.close();
  }

  #open(): void {
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#stable = setTimeout(() => {
        this.#retry = 0;
      }, STABLE_MS);
      // What the views asked for first, then the news: a view that reloads on reconnect misses nothing.
      for (const agentId of this.#sampleListeners.keys()) this.#send({ type: 'subscribe', agentId });
      for (const taskId of this.#tasks.keys()) this.#send({ type: 'subscribe_task', taskId });
      const tail = this.#tail;
      if (tail) this.#send({ type: 'logs_tail', q: tail.q, ...(tail.position ? { after: tail.position } : {}) });
      this.#setConnected(true);
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as LiveServerMessage;
      if (msg.type === 'agent') for (const l of this.#agentListeners) l(msg.agent);
      else if (msg.type === 'agent_removed') for (const l of this.#removedListeners) l(msg.agentId);
      else if (msg.type === 'samples') for (const l of this.#sampleListeners.get(msg.agentId) ?? []) l(msg.samples);
      else if (msg.type.startsWith('task')) for (const l of this.#taskListeners) l(msg as TaskLiveMessage);
      else if (msg.type === 'logs') {
        if (this.#tail && msg.position) this.#tail.position = msg.position;
        if (msg.lines.length) this.#tail?.onLines(msg.lines);
      } else if (msg.type === 'logs_gap') this.#tail?.onGap(msg);
      else if (msg.type === 'error' && msg.error.code === 'bad_query') this.#tail?.onError(msg.error.message);
    };
    ws.onclose = () => {
      // A socket close() let go of may finish closing after a new one opened: it speaks for nothing.
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      clearTimeout(this.#stable);
      this.#setConnected(false);
      const delay = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#retry++);
      this.#timer = setTimeout(() => this.#open(), delay);
    };
  }

  #send(msg: LiveClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #setConnected(on: boolean): void {
    this.connected = on;
    for (const l of this.#statusListeners) l(on);
  }

  /** Told of every open and every drop; an open after a drop is the moment to read again what was missed. */
  onStatus(l: (connected: boolean) => void): () => void {
    this.#statusListeners.add(l);
    return () => this.#statusListeners.delete(l);
  }

  onAgent(l: AgentListener): () => void {
    this.#agentListeners.add(l);
    return () => this.#agentListeners.delete(l);
  }

  /** Told of every agent an admin forgot. */
  onAgentRemoved(l: (agentId: string) => void): () => void {
    this.#removedListeners.add(l);
    return () => this.#removedListeners.delete(l);
  }

  subscribe(agentId: string, l: SampleListener): () => void {
    let set = this.#sampleListeners.get(agentId);
    if (!set) {
      set = new Set();
      this.#sampleListeners.set(agentId, set);
      this.#send({ type: 'subscribe', agentId });
    }
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) {
        this.#sampleListeners.delete(agentId);
        this.#send({ type: 'unsubscribe', agentId });
      }
    };
  }

  /** Task and etcd-health changes (to every client), and the runs and output of the tasks subscribed to. */
  onTask(l: TaskListener): () => void {
    this.#taskListeners.add(l);
    return () => this.#taskListeners.delete(l);
  }

  /** Asks for a task's runs and output as they happen, until the function returned is called. */
  subscribeTask(taskId: string): () => void {
    const n = this.#tasks.get(taskId) ?? 0;
    this.#tasks.set(taskId, n + 1);
    if (n === 0) this.#send({ type: 'subscribe_task', taskId });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#tasks.get(taskId) ?? 1) - 1;
      if (left > 0) this.#tasks.set(taskId, left);
      else {
        this.#tasks.delete(taskId);
        this.#send({ type: 'unsubscribe_task', taskId });
      }
    };
  }

  /**
   * Streams the lines matching `q` as the server stores them, until the function returned is
   * called. The server keeps one tail per socket, so a newer call replaces an older one.
   */
  tailLogs(
    q: string,
    onLines: (lines: LogLine[]) => void,
    onError: (message: string) => void = () => undefined,
    onGap: (gap: LiveLogsGap) => void = () => undefined,
  ): () => void {
    const tail: LogTail = { q, onLines, onError, onGap };
    this.#tail = tail;
    this.#send({ type: 'logs_tail', q });
    return () => {
      if (this.#tail !== tail) return;
      this.#tail = undefined;
      this.#send({ type: 'logs_untail' });
    };
  }

  close(): void {
    this.#wanted = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#stable);
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close();
    if (this.connected) this.#setConnected(false);
  }
}
