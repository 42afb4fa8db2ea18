import type { Agent } from './api.ts';

export interface LiveSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs: number;
}

type LiveMessage =
  | { type: 'hello'; serverTimeMs: number }
  | { type: 'agent'; agent: Agent }
  | { type: 'samples'; agentId: string; timestampMs: number; samples: LiveSample[] };

type AgentListener = (agent: Agent) => void;
type SampleListener = (samples: LiveSample[]) => void;

/**
 * One WebSocket to /api/live for the whole page, reconnecting with backoff. Streaming data goes
 * to listeners directly, never through React state, so a busy stream does not re-render the tree.
 */
export class LiveConnection {
  #ws: WebSocket | undefined;
  #retry = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #agentListeners = new Set<AgentListener>();
  readonly #sampleListeners = new Map<string, Set<SampleListener>>();
  readonly #statusListeners = new Set<(connected: boolean) => void>();
  connected = false;
  readonly url: string;

  constructor(url: string = LiveConnection.defaultUrl()) {
    this.url = url;
    this.#open();
  }

  static defaultUrl(): string {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`;
  }

  #open(): void {
    const ws = new WebSocket(this.url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#retry = 0;
      this.#setConnected(true);
      for (const id of this.#sampleListeners.keys()) ws.send(JSON.stringify({ type: 'subscribe', agentId: id }));
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as LiveMessage;
      if (msg.type === 'agent') for (const l of this.#agentListeners) l(msg.agent);
      else if (msg.type === 'samples') for (const l of this.#sampleListeners.get(msg.agentId) ?? []) l(msg.samples);
    };
    ws.onclose = () => {
      this.#setConnected(false);
      if (this.#closed) return;
      const delay = Math.min(30_000, 250 * 2 ** this.#retry++);
      this.#timer = setTimeout(() => this.#open(), delay);
    };
  }

  #setConnected(on: boolean): void {
    this.connected = on;
    for (const l of this.#statusListeners) l(on);
  }

  onStatus(l: (connected: boolean) => void): () => void {
    this.#statusListeners.add(l);
    return () => this.#statusListeners.delete(l);
  }

  onAgent(l: AgentListener): () => void {
    this.#agentListeners.add(l);
    return () => this.#agentListeners.delete(l);
  }

  subscribe(agentId: string, l: SampleListener): () => void {
    let set = this.#sampleListeners.get(agentId);
    if (!set) {
      set = new Set();
      this.#sampleListeners.set(agentId, set);
      if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'subscribe', agentId }));
    }
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) {
        this.#sampleListeners.delete(agentId);
        if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'unsubscribe', agentId }));
      }
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close();
  }
}
