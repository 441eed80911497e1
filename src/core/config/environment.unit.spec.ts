import { validateEnvironment } from './environment.js';

describe('environment', () => {
  it('fills defaults', () => {
    const env = validateEnvironment({});
    expect(env).toMatchObject({ PORT: 3333, HOST: '0.0.0.0', DATA_DIR: './data', MAX_MESSAGE_BYTES: 1048576, LOG_LEVEL: 'log' });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('parses numbers and rejects nonsense with the variable named', () => {
    expect(validateEnvironment({ PORT: '0' }).PORT).toBe(0);
    expect(() => validateEnvironment({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => validateEnvironment({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => validateEnvironment({ PUBLIC_URL: 'not a url' })).toThrow(/PUBLIC_URL/);
  });
});
