import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandBus } from '@nestjs/cqrs';
import WebSocket from 'ws';
import type { RunningTideline } from '../../app.factory.js';
import { CreateUserCommand } from '../../contexts/identity/application/commands.js';

/** The issue's models. */
export const ISSUE_MODELS = {
  test: {
    fields: { name: { type: 'string' }, value: { type: 'number' }, tag: { type: 'string' }, parent: { type: 'string', ref: 'test' } },
    required: ['name'],
    perms: { admin: 'crud', owner: 'rud', user: 'cr', all: 'r' },
  },
  secret: { fields: { name: { type: 'string' }, body: { type: 'string' } }, required: ['name'], perms: { admin: 'crud', user: 'c', owner: 'r' } },
};

export function modelsFile(models: unknown = ISSUE_MODELS, ext = 'json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-models-'));
  const path = join(dir, `models.${ext}`);
  writeFileSync(path, JSON.stringify(models));
  return path;
}

export const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' };

export const basic = (u: { email: string; password: string }) => `Basic ${Buffer.from(`${u.email}:${u.password}`).toString('base64')}`;

export async function createUser(server: RunningTideline, user: { name: string; email: string; password: string; admin?: boolean; groups?: string[] }): Promise<string> {
  const view = await server.app.get(CommandBus).execute(new CreateUserCommand('system', user));
  return view.id;
}

export type Http = { status: number; body: any; headers: Headers };

export async function http(server: RunningTideline, method: string, path: string, options: { body?: unknown; auth?: string; headers?: Record<string, string> } = {}): Promise<Http> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.auth) headers.authorization = options.auth;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, body, headers: response.headers };
}

/** A JXP socket client: requests by msg_id, pushes collected. */
export class JxpSocket {
  readonly pushes: any[] = [];
  private readonly waiting = new Map<unknown, (m: any) => void>();
  readonly replies: any[] = [];
  private next = 1;
  closed?: number;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.data && m.data.event) return void this.pushes.push(m);
      const w = this.waiting.get(m.msg_id);
      if (w) {
        this.waiting.delete(m.msg_id);
        w(m);
      } else this.replies.push(m);
    });
    ws.on('close', (code) => (this.closed = code));
  }
  /** `localAddress` picks the client's own address (any of 127/8), as the login limiter counts by address. */
  static open(url: string, options: { localAddress?: string } = {}): Promise<JxpSocket> {
    const ws = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new JxpSocket(ws)));
      ws.once('error', reject);
    });
  }
  request(action: string, data?: unknown): Promise<any> {
    const msg_id = `m${this.next++}`;
    return new Promise((resolve) => {
      this.waiting.set(msg_id, resolve);
      this.ws.send(JSON.stringify({ action, msg_id, data }));
    });
  }
  raw(text: string): Promise<any> {
    return new Promise((resolve) => {
      const at = this.replies.length;
      const timer = setInterval(() => {
        if (this.replies.length > at) {
          clearInterval(timer);
          resolve(this.replies[at]);
        }
      }, 5);
      this.ws.send(text);
    });
  }
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export async function eventually<T>(check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
