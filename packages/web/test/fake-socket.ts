/**
 * A browser WebSocket the test drives by hand: it opens, delivers and drops when told to, and
 * like a browser's it fires `close` only after `close()` has been asked for and the close is done.
 */
export class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static made: FakeSocket[] = [];

  readyState = FakeSocket.CONNECTING;
  readonly sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;

  readonly url: string;

  constructor(url: string) {
    this.url = url;
    FakeSocket.made.push(this);
  }

  send(data: string): void {
    if (this.readyState !== FakeSocket.OPEN) throw new Error(`send() on a socket in state ${this.readyState}`);
    this.sent.push(JSON.parse(data));
  }

  close(): void {
    if (this.readyState < FakeSocket.CLOSING) this.readyState = FakeSocket.CLOSING;
  }

  // What the network does:
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }

  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  /** The connection ends (refused, dropped, or the close asked for is done). */
  end(): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.();
  }

  static get last(): FakeSocket {
    const s = FakeSocket.made.at(-1);
    if (!s) throw new Error('no socket was made');
    return s;
  }

  static get live(): FakeSocket[] {
    return FakeSocket.made.filter((s) => s.readyState !== FakeSocket.CLOSED);
  }
}
