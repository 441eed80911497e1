import { Logger } from '@nestjs/common';

export type ChannelListener<M> = (message: M) => void;

/** Who listens to what: a channel per room (or stream, or query), listeners per channel. */
export class ChannelHub<M> {
  private readonly channels = new Map<string, Set<ChannelListener<M>>>();

  constructor(private readonly onListenerError: (error: unknown) => void = (error) => new Logger(ChannelHub.name).error(error)) {}

  subscribe(channel: string, listener: ChannelListener<M>): () => void {
    let listeners = this.channels.get(channel);
    if (!listeners) this.channels.set(channel, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.channels.get(channel) === listeners) this.channels.delete(channel);
    };
  }

  /** Tells every listener; one that throws is reported and does not keep the message from the others. */
  publish(channel: string, message: M): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  has(channel: string): boolean {
    return this.channels.has(channel);
  }
}
