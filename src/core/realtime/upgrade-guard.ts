import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { PathParams } from './path-pattern.js';

/** What a guard sees of an upgrade request: the path already matched against its gateway's pattern. */
export type UpgradeRequest = Readonly<{
  url: string;
  pathname: string;
  params: PathParams;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order. */
  protocols: readonly string[];
}>;

export type UpgradeRefusal = Readonly<{ status: 400 | 401 | 403 | 404 | 429 | 503; message: string; headers?: Record<string, string> }>;

export type UpgradeAcceptance = Readonly<{
  /** Whoever the request proved to be; handed to the gateway with the connection. */
  identity?: unknown;
  /** The offered subprotocol to answer with (must be one of `protocols`). */
  protocol?: string;
}>;

export type UpgradeDecision = ({ accept: true } & UpgradeAcceptance) | ({ accept: false } & UpgradeRefusal);

/**
 * Decides an upgrade before any socket exists: a dialect authenticates it (headers, subprotocols, query),
 * checks what it names exists, and accepts with an identity or refuses with a status. A guard that throws
 * refuses with 503 (quietly when it threw an UnavailableError: the database is away). Declared on the gateway: `@WebSocketGateway({ path, upgradeGuard: SomeGuard })`,
 * where SomeGuard is a provider of the gateway's module.
 */
export interface UpgradeGuard {
  decide(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision>;
}

/** What the gateway gets with each connection it accepted. */
export type UpgradeContext = Readonly<{ params: PathParams; query: URLSearchParams; identity?: unknown; protocol?: string }>;

const contexts = new WeakMap<IncomingMessage, UpgradeContext>();

/** @internal The adapter records each accepted upgrade's context on its request. */
export function recordUpgrade(request: IncomingMessage, context: UpgradeContext): void {
  contexts.set(request, context);
}

/** @internal The context recorded for `request`, if the adapter accepted it. */
export function findUpgradeContext(request: IncomingMessage): UpgradeContext | undefined {
  return contexts.get(request);
}

/** The context of a connection's upgrade request (its path params, query and identity). */
export function upgradeContextOf(request: IncomingMessage): UpgradeContext {
  const context = contexts.get(request);
  if (!context) throw new Error('not an upgrade request accepted by the realtime adapter');
  return context;
}

export const accept = (acceptance: UpgradeAcceptance = {}): UpgradeDecision => ({ accept: true, ...acceptance });
export const refuse = (status: UpgradeRefusal['status'], message: string, headers?: Record<string, string>): UpgradeDecision => ({
  accept: false,
  status,
  message,
  headers,
});
