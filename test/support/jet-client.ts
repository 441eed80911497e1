import WebSocket from 'ws';

export type Message = Record<string, any>;

/** A `/ws` client that keeps every message, and waits for the one it needs. */
export class JetSocket {
  readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(url: string): Promise<JetSocket> {
    return new Promise((resolve, reject) => {
      const socket = new JetSocket(new WebSocket(url));
      socket.ws.once('open', () => resolve(socket));
      socket.ws.once('error', reject);
    });
  }

  send(message: Message | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message (not yet taken) matching `match`, removed from the list. */
  async take(match: (m: Message) => boolean, timeoutMs = 5000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message; have ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  reply(requestId: string): Promise<Message> {
    return this.take((m) => m.requestId === requestId && m.type !== 'data');
  }

  async request(message: Message & { requestId: string }): Promise<Message> {
    this.send(message);
    return this.reply(message.requestId);
  }

  data(subscriptionId: number): Message[] {
    return this.messages.filter((m) => m.type === 'data' && m.subscriptionId === subscriptionId);
  }

  async waitForData(subscriptionId: number, count: number): Promise<Message[]> {
    const deadline = Date.now() + 5000;
    while (this.data(subscriptionId).length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.data(subscriptionId).length} of ${count} records for ${subscriptionId}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.data(subscriptionId);
  }

  close(): void {
    this.ws.close();
  }
}
