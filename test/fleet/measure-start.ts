// How long startFleet() and fleet.stop() take for a few fleet sizes (needs root):
//   node --import tsx test/fleet/measure-start.ts 10 50 200
// Each fleet is checked by one ssh login per host before it is stopped, so a fast but broken start cannot pass.
import { availableParallelism } from 'node:os';
import { startFleet } from './fleet.js';
import { sshExec } from './ssh-exec.js';

const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length > 0 ? sizes : [10, 50]) {
  const t0 = performance.now();
  const fleet = await startFleet({ hosts: n, gpuEvery: 4 });
  const started = performance.now() - t0;
  try {
    const t1 = performance.now();
    const results = await Promise.all(fleet.hosts.map((h) => sshExec(h, fleet, 'true', { timeoutMs: 60_000 })));
    const bad = results.filter((r) => r.code !== 0).length;
    const logins = performance.now() - t1;
    const t2 = performance.now();
    await fleet.stop();
    const stopped = performance.now() - t2;
    console.log(
      `${n} hosts on ${availableParallelism()} cores: start ${started.toFixed(0)} ms, ` +
        `${n} parallel ssh logins ${logins.toFixed(0)} ms (${bad} failed), stop ${stopped.toFixed(0)} ms`,
    );
  } finally {
    await fleet.stop();
  }
}
