import { ThrottledWarning } from './throttled-warning.js';

describe('throttled warning', () => {
  it('logs the first warning, then none until the interval has passed', async () => {
    const logged: string[] = [];
    const warning = new ThrottledWarning({ warn: (message: string) => logged.push(message) }, 50);
    warning.warn('a');
    warning.warn('b');
    expect(logged).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 60));
    warning.warn('c');
    expect(logged).toEqual(['a', 'c']);
  });
});
