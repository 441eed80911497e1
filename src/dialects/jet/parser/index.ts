export { JetParseError, type SourcePosition } from './errors.js';
export { tokenize, parseDuration, type Token, type TokenKind } from './lexer.js';
export { parseJet, parseJetExpression, JetParser, type JetParseOptions } from './parser.js';
export type { CreateMode, JetStatement, JetStatementKind, ListTarget } from './statements.js';
