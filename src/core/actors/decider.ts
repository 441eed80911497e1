import type { Event } from '../event-store/event.js';
import { OverloadedError } from '../errors/domain-errors.js';
import type { StateCodec } from '../event-store/snapshot-store.js';

/**
 * An aggregate's rules as pure functions (emmett's decider): `decide` turns a command into events
 * without touching state, `evolve` folds an event into a new state. `isTransient` marks events that
 * are published but never stored (they must not be needed to rebuild state).
 */
export interface Decider<State, Command, E extends Event> {
  initialState(): State;
  decide(command: Command, state: State): E[];
  evolve(state: State, event: E): State;
  isTransient?(event: E): boolean;
  /** Adjusts a state just rebuilt from the log (after a restart, an eviction or a conflict). */
  rehydrated?(state: State): State;
  /** How the state is snapshotted, if it may be: an actor then loads a snapshot and only the events after it. */
  snapshot?: StateCodec<State>;
}

export { DomainError } from '../errors/domain-errors.js';

/** An actor's mailbox is full: the client should back off. */
export class MailboxFullError extends OverloadedError {
  override readonly name = 'MailboxFullError';
}
