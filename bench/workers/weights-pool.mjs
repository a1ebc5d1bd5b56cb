// One pool in a process of its own (bench/weights.ts): its memory is the pool's alone. Starts the
// pool, embeds a fixed set of texts (their vectors' hash), runs a closed loop of `loopMs` with 8
// callers, and prints one line of JSON: ready time, the weights' story, Pss/RSS at ready and after
// the calls, texts/s, the hash.
// argv[2]: the built package entry; argv[3]: JSON { options, loopMs }.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const { createPool } = await import(pathToFileURL(process.argv[2]).href);
const { options, loopMs } = JSON.parse(process.argv[3]);
const WORDS = 'the river stone music light market guitar player city garden window morning table paper water winter summer story'.split(' ');
const text = (seed, words) => Array.from({ length: words }, (_, i) => WORDS[(seed * 7 + i * 13 + ((seed * i) % 5)) % WORDS.length]).join(' ');
const fixed = Array.from({ length: 32 }, (_, i) => text(i, 3 + ((i * 11) % 60)));
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

const pool = createPool({ env: false, cacheBytes: 0, intraOpThreads: 1, ...options });
const began = performance.now();
await pool.ready();
const readyMs = performance.now() - began;
await settle();
const atReady = pool.stats().memory;
const hash = createHash('sha256');
for (const v of await pool.embed(fixed)) hash.update(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
// Closed loop: 8 callers, one medium text (about 60 tokens) per call, distinct texts.
let calls = 0;
let i = 0;
const warmEnd = performance.now() + Math.min(1000, loopMs / 4);
await Promise.all(Array.from({ length: 8 }, async () => { while (performance.now() < warmEnd) await pool.embed(text(i++, 58)); }));
const start = performance.now();
const end = start + loopMs;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (performance.now() < end) {
    await pool.embed(text(i++, 58));
    calls++;
  }
}));
const textsPerSecond = calls / ((performance.now() - start) / 1000);
await settle();
const afterCalls = pool.stats().memory;
process.stdout.write(`${JSON.stringify({ weights: pool.model?.weights, readyMs, atReady, afterCalls, textsPerSecond, hash: hash.digest('hex') })}\n`);
await pool.close();
