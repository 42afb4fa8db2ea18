import type { TaskLiveMessage } from './api.ts';

/**
 * The Tasks page's own subscription on /api/live: task and etcd-health messages reach every
 * client, a task's runs and output only those subscribed to it.
 */
export class TaskLive {
  #ws: WebSocket | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retry = 0;
  #closed = false;
  readonly #subscribed = new Set<string>();
  readonly #listeners = new Set<(m: TaskLiveMessage) => void>();
  readonly #onOpen = new Set<() => void>();

  constructor() {
    this.#open();
  }

  #open(): void {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
    this.#ws = ws;
    ws.onopen = () => {
      this.#retry = 0;
      for (const taskId of this.#subscribed) ws.send(JSON.stringify({ type: 'subscribe_task', taskId }));
      for (const l of this.#onOpen) l();
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as { type: string };
      if (msg.type.startsWith('task')) for (const l of this.#listeners) l(msg as TaskLiveMessage);
    };
    ws.onclose = () => {
      if (this.#closed) return;
      this.#timer = setTimeout(() => this.#open(), Math.min(30_000, 250 * 2 ** this.#retry++));
    };
  }

  get open(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Called on every (re)connection, so what was missed can be fetched again. */
  onOpen(l: () => void): () => void {
    this.#onOpen.add(l);
    return () => this.#onOpen.delete(l);
  }

  listen(l: (m: TaskLiveMessage) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  subscribe(taskId: string): () => void {
    this.#subscribed.add(taskId);
    if (this.open) this.#ws?.send(JSON.stringify({ type: 'subscribe_task', taskId }));
    return () => {
      this.#subscribed.delete(taskId);
      if (this.open) this.#ws?.send(JSON.stringify({ type: 'unsubscribe_task', taskId }));
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close();
  }
}
