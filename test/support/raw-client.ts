import WebSocket from 'ws';

export type Frame = Record<string, any>;

/** A plain `ws` client speaking the DriftDB JSON protocol, recording every frame it receives. */
export class RawRoomClient {
  readonly frames: Frame[] = [];
  closeCode?: number;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString())));
    ws.on('close', (code) => (this.closeCode = code));
    ws.on('error', () => undefined);
  }

  static connect(socketUrl: string): Promise<RawRoomClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl);
      const client = new RawRoomClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  send(message: Frame): void {
    this.ws.send(JSON.stringify(message));
  }

  pushes(): Frame[] {
    return this.frames.filter((f) => f.type === 'push');
  }

  async waitFor(predicate: (frames: Frame[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      if (Date.now() > deadline) throw new Error(`timed out; frames so far: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends `get` and resolves with the `init` answering it. */
  async get(key: string, seq = 0): Promise<Frame> {
    const before = this.frames.length;
    this.send({ type: 'get', key, seq });
    let found: Frame | undefined;
    await this.waitFor((frames) => !!(found = frames.slice(before).find((f) => f.type === 'init' && f.key === key)));
    return found!;
  }

  close(): void {
    this.ws.terminate();
  }
}
