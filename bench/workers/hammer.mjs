// Adds 1 to one BigInt64 slot of a shared buffer, `iterations` times, with Atomics.add, after
// every thread has reached the start line; reports ns per update.
import { parentPort, workerData } from 'node:worker_threads';

const { buffer, barrier, index, iterations, threads } = workerData;
const counters = new BigInt64Array(buffer);
const gate = new Int32Array(barrier);

function hammer(n) {
  for (let i = 0; i < n; i++) Atomics.add(counters, index, 1n);
}

// Let the JIT optimise the loop before the clock starts (the warm-up's adds are taken back after).
hammer(200_000);
Atomics.sub(counters, index, 200_000n);

Atomics.add(gate, 0, 1);
Atomics.notify(gate, 0);
while (Atomics.load(gate, 0) < threads) Atomics.wait(gate, 0, Atomics.load(gate, 0), 5);

const began = process.hrtime.bigint();
hammer(iterations);
const ns = Number(process.hrtime.bigint() - began);
parentPort.postMessage({ nsPerUpdate: ns / iterations });
