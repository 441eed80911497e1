import { startTideline } from './app.factory.js';

startTideline()
  .then(({ url }) => {
    // One plain line on stdout: scripts (tests, benchmarks) wait for it to learn the port.
    process.stdout.write(`tideline: listening on ${url}\n`);
  })
  .catch((error: unknown) => {
    process.stderr.write(`tideline: failed to start: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
