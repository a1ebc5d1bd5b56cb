// One subject of the `models` benchmark in a process of its own, so its memory is its own:
// creates the pool(s), times ready(), reads RSS and Pss, runs a mixed load (concurrent embeds
// and reranks), reads them again, closes and prints one JSON line. argv[2]: JSON settings.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const s = JSON.parse(process.argv[2]);
const { createPool } = await import(new URL('../../dist/src/index.js', import.meta.url).href);

function memory() {
  // smaps_rollup: Rss counts every resident page; Pss divides pages shared with other processes
  // (the node binary, libonnxruntime) among them. All of a pool's workers are threads of this process.
  const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: kb('Rss') / 1024, pssMiB: kb('Pss') / 1024 };
}

const base = { intraOpThreads: 1, cacheBytes: 0 };
const began = performance.now();
let embedder;
let reranker;
const pools = [];
if (s.subject === 'embed') {
  embedder = createPool({ ...base, model: s.embedModel, threads: 1 });
  pools.push(embedder);
} else if (s.subject === 'rerank') {
  reranker = createPool({ ...base, model: s.rerankModel, task: 'rerank', threads: 1 });
  pools.push(reranker);
} else if (s.subject === 'one-pool') {
  embedder = reranker = createPool({ ...base, model: s.embedModel, models: { rerank: { task: 'rerank', model: s.rerankModel } }, threads: 2 });
  pools.push(embedder);
} else if (s.subject === 'two-pools') {
  embedder = createPool({ ...base, model: s.embedModel, threads: 1 });
  reranker = createPool({ ...base, model: s.rerankModel, task: 'rerank', threads: 1 });
  pools.push(embedder, reranker);
} else if (s.subject !== 'baseline') {
  throw new Error(`unknown subject ${s.subject}`);
}
await Promise.all(pools.map((p) => p.ready()));
const readyMs = performance.now() - began;
const afterReady = memory();

let afterLoad = null;
if (s.loadMs > 0 && pools.length) {
  const end = performance.now() + s.loadMs;
  let i = 0;
  const loop = (n, call) => Promise.all(Array.from({ length: n }, async () => {
    while (performance.now() < end) await call(i++);
  }));
  const docs = s.docs;
  await Promise.all([
    embedder ? loop(s.embedCallers, (k) => embedder.embed(docs[k % docs.length])) : null,
    reranker ? loop(s.rerankCallers, (k) => {
      const from = (k * 7) % (docs.length - s.rerankDocs);
      return reranker.rerank(s.query, docs.slice(from, from + s.rerankDocs));
    }) : null,
  ]);
  afterLoad = memory();
}
await Promise.all(pools.map((p) => p.close()));
process.stdout.write(`${JSON.stringify({ subject: s.subject, readyMs, afterReady, afterLoad })}\n`);
process.exit(0);
