// One subject of the `idle` benchmark in a process of its own, so its start-up and memory are its
// own. argv[2]: JSON settings { subject, model, firstCalls, firstTokens, burst: { callers, perCaller,
// tokens }, idleTimeout, settleMs }. Prints one JSON line: times (ms from just before the library
// is imported) and memory (RSS and Pss from /proc/self/smaps_rollup, MiB) at each stage.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const s = JSON.parse(process.argv[2]);
const root = new URL('../../', import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function memory() {
  // Rss counts every resident page; Pss divides pages shared with other processes (the node
  // binary, libonnxruntime, a model file mapped by several) among them. Worker threads are threads
  // of this process, so a pool's workers are all in here.
  const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: kb('Rss') / 1024, pssMiB: kb('Pss') / 1024 };
}

// The same texts as bench/lib/texts.ts: one BERT token per word, a different text per seed.
const WORDS = ('the river market music light stone garden doctor storm winter ocean train coffee camera bridge ' +
  'school forest planet court engine people city water house night story world money power family ' +
  'table window street summer morning letter dinner friend country village mountain island field').split(' ');
function textOf(tokens, seed) {
  const out = [];
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < Math.max(1, tokens - 2); i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(WORDS[(x >>> 8) % WORDS.length]);
  }
  return out.join(' ');
}
let seed = 1;

const out = { subject: s.subject, pid: process.pid };
const t0 = performance.now();
const since = () => performance.now() - t0;
/** embed(texts) for this subject; set below. */
let embed;
/** Ends the subject's pool; set below. */
let close = async () => {};
let pool;
let piscina;

if (s.subject === 'baseline') {
  await import(new URL('dist/src/index.js', root).href);
  out.importMs = since();
} else if (s.subject === 'warmpool' || s.subject === 'warmpool-zero') {
  const { createPool } = await import(new URL('dist/src/index.js', root).href);
  out.importMs = since();
  pool = s.subject === 'warmpool'
    ? createPool({ model: s.model, threads: 2 })
    : createPool({ model: s.model, threads: { min: 0, max: 2 }, idleTimeout: s.idleTimeout });
  await pool.ready();
  out.readyMs = since();
  embed = (texts) => pool.embed(texts);
  close = () => pool.close();
} else if (s.subject === 'pipeline-1' || s.subject === 'pipeline-default') {
  const { env, pipeline } = await import('@huggingface/transformers');
  out.importMs = since();
  env.allowRemoteModels = false;
  env.localModelPath = new URL('models/', root).pathname;
  const options = { dtype: 'fp32' };
  if (s.subject === 'pipeline-1') options.session_options = { intraOpNumThreads: 1 };
  const extractor = await pipeline('feature-extraction', s.model, options);
  out.readyMs = since();
  embed = async (texts) => (await extractor(texts, { pooling: 'mean', normalize: true })).data;
  close = () => extractor.dispose();
} else if (s.subject === 'piscina') {
  const { Piscina } = await import('piscina');
  out.importMs = since();
  process.env.IDLE_MODEL = s.model;
  piscina = new Piscina({ filename: new URL('bench/workers/piscina-pipeline.mjs', root).href, minThreads: 2, maxThreads: 2 });
  embed = (texts) => piscina.run(texts);
  // Warm both workers with one call each; the pool is ready when both have answered.
  const warm = await Promise.all([0, 1].map(async () => {
    const r = await embed([textOf(s.firstTokens, seed++)]);
    out.firstVectorMs ??= since();
    return r.threadId;
  }));
  out.readyMs = since();
  out.warmThreads = warm;
  close = () => piscina.destroy();
} else {
  throw new Error(`unknown subject ${s.subject}`);
}
out.ready = memory();

if (embed) {
  if (s.subject === 'warmpool-zero') out.warmAtReady = pool.health().warm;
  // The first vector (the Piscina subject had it while warming).
  if (out.firstVectorMs === undefined) {
    await embed([textOf(s.firstTokens, seed++)]);
    out.firstVectorMs = since();
  }
  // The first calls: concurrent single-text calls, then a moment's rest.
  await Promise.all(Array.from({ length: s.firstCalls }, () => embed([textOf(s.firstTokens, seed++)])));
  await sleep(s.settleMs);
  out.rest = memory();
  if (pool) {
    out.restWorkers = pool.health().warm;
    const m = pool.stats().memory;
    out.statsMemory = m ? { rssMiB: m.rssBytes / 2 ** 20, pssMiB: m.pssBytes === undefined ? null : m.pssBytes / 2 ** 20 } : null;
  }

  if (s.subject === 'warmpool-zero') {
    // Scale to zero: wait for every worker to leave after idleTimeout.
    const began = performance.now();
    while (pool.health().warm > 0 && performance.now() - began < s.idleTimeout + 30_000) await sleep(100);
    out.zeroAfterMs = performance.now() - began;
    out.zeroWorkers = pool.health().warm;
    await sleep(s.settleMs);
    out.afterIdle = memory();
  } else if (s.burst && !s.subject.startsWith('pipeline')) {
    // A burst of long texts from concurrent callers, one text per call; Pss sampled every 100 ms.
    const peak = { rssMiB: 0, pssMiB: 0 };
    let samples = 0;
    const sample = () => {
      const m = memory();
      peak.rssMiB = Math.max(peak.rssMiB, m.rssMiB);
      peak.pssMiB = Math.max(peak.pssMiB, m.pssMiB);
      samples++;
    };
    const timer = setInterval(sample, 100);
    const began = performance.now();
    await Promise.all(Array.from({ length: s.burst.callers }, async () => {
      for (let i = 0; i < s.burst.perCaller; i++) await embed([textOf(s.burst.tokens, seed++)]);
    }));
    out.burstMs = performance.now() - began;
    clearInterval(timer);
    sample();
    out.burstPeak = peak;
    out.burstSamples = samples;
    await sleep(s.settleMs);
    out.afterBurst = memory();
    if (pool) {
      // pool.unload(): every worker frees its session and ends; the pool stays open.
      const u = performance.now();
      await pool.unload();
      while (pool.health().warm > 0 && performance.now() - u < 30_000) await sleep(50);
      out.unloadMs = performance.now() - u;
      out.unloadWorkers = pool.health().warm;
      await sleep(s.settleMs);
      out.afterUnload = memory();
    }
  }
}
await close();
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
