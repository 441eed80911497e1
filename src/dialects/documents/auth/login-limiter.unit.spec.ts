import { JxpError } from '../jxp-errors.js';
import { LoginLimiter } from './login-limiter.js';

const status = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (error) {
    return error instanceof JxpError ? `${error.getStatus()} ${error.code}` : String(error);
  }
};

describe('login limiter', () => {
  it('allows 12 attempts a minute per address, then 429 until the oldest leaves the window', () => {
    let clock = 0;
    const limiter = new LoginLimiter({}, () => clock);
    for (let i = 0; i < 12; i++) limiter.acquire('a')();
    expect(status(() => limiter.acquire('a'))).toBe('429 TooManyRequests');
    expect(status(() => limiter.acquire('b'))).toBe('ok');
    clock = 59_999;
    expect(status(() => limiter.acquire('a'))).toBe('429 TooManyRequests');
    clock = 60_000;
    expect(status(() => limiter.acquire('a'))).toBe('ok');
  });

  it('allows 8 attempts in flight per address', async () => {
    const limiter = new LoginLimiter({ maxPerMinute: 100 });
    const releases = Array.from({ length: 8 }, () => limiter.acquire('a'));
    expect(status(() => limiter.acquire('a'))).toBe('429 TooManyRequests');
    releases[0]();
    releases[0](); // twice is once
    expect(status(() => limiter.acquire('a'))).toBe('ok');
    expect(status(() => limiter.acquire('a'))).toBe('429 TooManyRequests');
    await expect(limiter.run('c', async () => 'done')).resolves.toBe('done');
    await expect(limiter.run('c', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('tracks at most maxAddresses addresses', () => {
    let clock = 0;
    const limiter = new LoginLimiter({ maxAddresses: 100 }, () => clock);
    for (let i = 0; i < 1000; i++) {
      clock += 1000;
      limiter.acquire(`10.0.${i >> 8}.${i & 255}`)();
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});
