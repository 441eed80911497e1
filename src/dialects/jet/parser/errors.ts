/** A JET text that does not parse; `line` and `column` count from 1, `position` is the 0-based character offset. */
export class JetParseError extends Error {
  override readonly name: string = 'JetParseError';
  constructor(
    /** The reason alone, without the location. */
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly position: number,
  ) {
    super(`${reason} (line ${line}, column ${column})`);
  }
}

/** Where a token or statement starts. */
export interface SourcePosition {
  line: number;
  column: number;
  position: number;
}
