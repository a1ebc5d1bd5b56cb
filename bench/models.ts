/**
 * Several models in one pool: (1) `pool.rerank()` against the same cross-encoder run straight
 * through onnxruntime-node and through plain transformers.js on the main thread; (2) one pool
 * holding an embedder and a reranker against two pools (time to ready, RSS and Pss, throughput
 * of a mixed load); (3) embedding throughput with a second model configured but idle.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { docstrings } from './lib/docstrings.js';
import { closedLoop, type LoopResult } from './lib/load.js';
import { BENCH_WORKERS } from './lib/paths.js';
import { uncached } from './lib/pool-options.js';
import { loadRawReranker, loadTransformersReranker, type Reranker } from './lib/raw-rerank.js';
import { median, round, summarize } from './lib/stats.js';
import { textOf } from './lib/texts.js';
import { checkTarget, type Benchmark, type Table, type TargetCheck } from './lib/types.js';
import { createPool, DEFAULTS, type WarmPool } from './lib/warmpool.js';

const EMBED = 'minilm-shape';
const RERANK = 'minilm-cross-shape';
const QUERY = 'How do I parse command line arguments and options?';
/** Part 2's mixed load: embedding callers (one docstring each) and rerank callers (RERANK_DOCS documents each). */
const MIX = { embedCallers: 8, rerankCallers: 2, rerankDocs: 20 };
/** Part 3's load: concurrent callers of short texts (10 tokens). */
const EMBED_CALLERS = 32;

const run = promisify(execFile);

type Subjects = Record<string, { call: (i: number) => Promise<unknown>; inFlight: number }>;

/**
 * Like lib/rounds.ts's `interleaved`, but keeps each round's figures (for spreads): every subject
 * runs for `sliceMs` per round, in the opposite order every other round.
 */
async function rounds(subjects: Subjects, count: number, sliceMs: number, warmMs: number, firstWarmMs: number): Promise<Record<string, LoopResult[]>> {
  const out: Record<string, LoopResult[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  for (let r = 0; r < count; r++) {
    const names = Object.keys(subjects);
    if (r % 2 === 1) names.reverse();
    for (const name of names) {
      const s = subjects[name]!;
      out[name]!.push(await closedLoop(s.call, s.inFlight, sliceMs, r === 0 ? firstWarmMs : warmMs));
    }
  }
  return out;
}

const total = (list: LoopResult[]): number => list.reduce((a, p) => a + p.calls, 0) / list.reduce((a, p) => a + p.seconds, 0);
/** "min-max" of a list of figures, rounded. */
const range = (values: number[]): string => `${round(Math.min(...values))}-${round(Math.max(...values))}`;
/** (max - min) / median. */
const spreadOf = (values: number[]): number => (Math.max(...values) - Math.min(...values)) / median(values);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

interface MemorySample {
  subject: string;
  readyMs: number;
  afterReady: { rssMiB: number; pssMiB: number };
  afterLoad: { rssMiB: number; pssMiB: number } | null;
}

const benchmark: Benchmark = {
  name: 'models',
  title: 'Several models in one pool',
  description:
    `Three comparisons, each side by side in one run. (1) Rerank: one query against 100 Python standard-library docstrings on \`${RERANK}\` ` +
    '(a MiniLM-L6-sized BERT cross-encoder, random weights): `pool.rerank()` on a pool of one rerank worker (intraOpThreads 1) against the same model ' +
    "run through onnxruntime-node on the main thread (transformers.js tokenizer, one InferenceSession on one thread, batches of the pool's batchSize, " +
    'sorted by length and unsorted) and against plain transformers.js `AutoModelForSequenceClassification` (batched like the pool on one thread, ' +
    "and as a user would write it: all pairs in one run, onnxruntime's default threads); one caller each, pairs per second. " +
    `(2) One pool holding \`${EMBED}\` and \`${RERANK}\` (threads 2) against two pools of one model each (threads 1, intraOpThreads 1): time to ready ` +
    '(each subject in a fresh process), RSS and Pss from /proc/self/smaps_rollup after ready and after a mixed load, and throughput of a mixed load ' +
    `(${MIX.embedCallers} embedding callers, ${MIX.rerankCallers} rerank callers of ${MIX.rerankDocs} documents). ` +
    `(3) Embedding throughput (${EMBED_CALLERS} callers of 10-token texts, a fixed number of texts per run) of \`${EMBED}\` alone (threads 2) against the ` +
    'same with an idle reranker configured, in alternating runs.',
  async run(ctx) {
    // --tiny only checks that the benchmark runs: the small GloVe models load in a fraction of the time.
    const embedModel = ctx.tiny ? 'glove-100d' : EMBED;
    const rerankModel = ctx.tiny ? 'glove-rerank' : RERANK;
    const docSet = docstrings(400);
    const targets: TargetCheck[] = [];
    const tables: Table[] = [];
    const notes: string[] = [];
    const data: Record<string, unknown> = { textSource: docSet.source, query: QUERY };

    // ---- 1. rerank: the pool against a raw session and plain transformers.js ----
    const nDocs = ctx.pick(100, 100, 16);
    const docs = docSet.texts.slice(0, nDocs);
    const rerankPool = createPool(uncached({ model: rerankModel, task: 'rerank', threads: 1, intraOpThreads: 1 }));
    await rerankPool.ready();
    const batchSize = rerankPool.models[0]?.options.batchSize ?? DEFAULTS.batchSize;
    const raws: Record<string, Reranker> = {
      'onnxruntime, sorted': await loadRawReranker(rerankModel, 1, { batchSize, sorted: true }),
      'onnxruntime, unsorted': await loadRawReranker(rerankModel, 1, { batchSize, sorted: false }),
      'transformers.js, sorted, 1 thread': await loadTransformersReranker(rerankModel, 1, { batchSize, sorted: true }),
      'transformers.js, one run, default threads': await loadTransformersReranker(rerankModel, undefined, { batchSize: Infinity, sorted: false }),
    };
    // The same ranking from every subject (the model has random weights, but it is one model).
    const expected = (await rerankPool.rerank(QUERY, docs)).map((r) => r.index);
    for (const [name, r] of Object.entries(raws)) {
      const got = (await r.rerank(QUERY, docs)).map(([i]) => i);
      if (got.slice(0, 10).join() !== expected.slice(0, 10).join()) notes.push(`Warning: ${name} ranked the top 10 differently from the pool (${got.slice(0, 10).join()} vs ${expected.slice(0, 10).join()}).`);
    }
    const poolName = 'warmpool rerank, 1 worker';
    const subjects1: Subjects = {
      [poolName]: { call: () => rerankPool.rerank(QUERY, docs), inFlight: 1 },
      ...Object.fromEntries(Object.entries(raws).map(([n, r]) => [n, { call: () => r.rerank(QUERY, docs), inFlight: 1 }])),
    };
    const rounds1 = ctx.pick(4, 2, 1);
    const before = rerankPool.stats();
    for (const r of Object.values(raws)) r.time = Object.assign(r.time, { tokenize: 0, model: 0 });
    const res1 = await rounds(subjects1, rounds1, ctx.pick(6000, 1500, 100), ctx.pick(1500, 300, 0), ctx.pick(4000, 600, 0));
    const after = rerankPool.stats();
    await Promise.all([rerankPool.close(), ...Object.values(raws).map((r) => r.release())]);
    const pairsPerSecond = (name: string): number => total(res1[name]!) * nDocs;
    const perRound = (name: string): number[] => res1[name]!.map((p) => p.perSecond * nDocs);
    const rawBest = pairsPerSecond('onnxruntime, sorted');
    const rows1 = Object.keys(subjects1).map((name) => {
      const calls = res1[name]!.reduce((a, p) => a + p.calls, 0);
      const raw = raws[name];
      const split = raw ? `${pct(raw.time.tokenize / (raw.time.tokenize + raw.time.model))} tokenising` : '';
      return [name, round(pairsPerSecond(name)), range(perRound(name)), round(pairsPerSecond(name) / rawBest), round(median(res1[name]!.map((p) => p.latency.p50))), calls, split];
    });
    tables.push({
      title: `Rerank: 1 query x ${nDocs} documents, one caller, pairs per second (${rounds1} interleaved round${rounds1 > 1 ? 's' : ''}; batches of ${batchSize})`,
      columns: ['subject', 'pairs/s', 'range over rounds', 'x onnxruntime sorted', 'call p50 ms', 'calls', 'time split'],
      rows: rows1,
    });
    // Where the pool's time goes: the same batches through transformers.js on the main thread
    // (tokenizer + model call, no pool) split the gap to the raw session into the library's share
    // and the pool's (the hop to the worker and back, the facade).
    const poolCalls = after.completed - before.completed;
    const p50 = (name: string): number => median(res1[name]!.map((p) => p.latency.p50));
    const callP50 = p50(poolName);
    const rawSorted = raws['onnxruntime, sorted']!;
    notes.push(
      `Rerank path, call p50: onnxruntime sorted ${round(p50('onnxruntime, sorted'))} ms (${pct(rawSorted.time.tokenize / (rawSorted.time.tokenize + rawSorted.time.model))} of it tokenising), ` +
        `transformers.js with the same batches on the main thread ${round(p50('transformers.js, sorted, 1 thread'))} ms, the pool ${round(callP50)} ms ` +
        `(${poolCalls} timed calls, ${round((after.tokens - before.tokens) / Math.max(poolCalls, 1))} tokens per call): the pool minus transformers.js ${round(callP50 - p50('transformers.js, sorted, 1 thread'))} ms, ` +
        `transformers.js minus onnxruntime ${round(p50('transformers.js, sorted, 1 thread') - p50('onnxruntime, sorted'))} ms (on a shared machine, differences within the rounds' ranges are noise).`,
    );
    const ratio1 = pairsPerSecond(poolName) / rawBest;
    targets.push(checkTarget('rerank-vs-raw', `warmpool rerank (1 worker) / raw onnxruntime session (1 thread, sorted batches of ${batchSize}), pairs/s`, ratio1, 0.85, true, 'x',
      'The pool runs the same model in a worker through transformers.js (tokeniser and model call), so the gap is what that path adds per batch on top of session.run: ' +
        'see the transformers.js sorted row, which runs the same batches on the main thread without the pool.'));
    data.rerank = {
      documents: nDocs,
      batchSize,
      pairsPerSecond: Object.fromEntries(Object.keys(subjects1).map((n) => [n, pairsPerSecond(n)])),
      perRound: Object.fromEntries(Object.keys(subjects1).map((n) => [n, perRound(n)])),
      timeSplitMs: Object.fromEntries(Object.entries(raws).map(([n, r]) => [n, r.time])),
      callP50Ms: Object.fromEntries(Object.keys(subjects1).map((n) => [n, p50(n)])),
      pool: { calls: poolCalls, tokensPerCall: (after.tokens - before.tokens) / Math.max(poolCalls, 1) },
    };

    // ---- 2a. one pool of two models against two pools: ready time and memory, each in a fresh process ----
    const memRuns = ctx.pick(3, 1, 1);
    const loadMs = ctx.pick(3000, 1000, 300);
    const childDocs = docSet.texts.slice(0, 200);
    const settings = (subject: string): string =>
      JSON.stringify({ subject, embedModel: embedModel, rerankModel: rerankModel, loadMs, query: QUERY, docs: childDocs, ...MIX });
    const child = async (subject: string): Promise<MemorySample> => {
      const { stdout } = await run(process.execPath, [`${BENCH_WORKERS}models-memory.mjs`, settings(subject)], { maxBuffer: 1 << 20, timeout: 300_000 });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as MemorySample;
    };
    const memSubjects = ['embed', 'rerank', 'one-pool', 'two-pools'];
    const samples: Record<string, MemorySample[]> = Object.fromEntries(['baseline', ...memSubjects].map((s) => [s, []]));
    samples.baseline!.push(await child('baseline'));
    for (let r = 0; r < memRuns; r++) {
      const order = r % 2 === 1 ? [...memSubjects].reverse() : memSubjects;
      for (const s of order) samples[s]!.push(await child(s));
    }
    const memLabel: Record<string, string> = {
      baseline: 'no pool (node + warmpool imported)',
      embed: `${embedModel} alone (1 worker)`,
      rerank: `${rerankModel} alone (1 worker)`,
      'one-pool': 'one pool, both models (threads 2)',
      'two-pools': 'two pools, threads 1 each',
    };
    const med = (s: string, f: (m: MemorySample) => number): number => median(samples[s]!.map(f));
    const baseRss = med('baseline', (m) => m.afterReady.rssMiB);
    const basePss = med('baseline', (m) => m.afterReady.pssMiB);
    tables.push({
      title: `Time to ready and memory, each subject in a fresh process (median of ${memRuns}; MiB; after a ${loadMs / 1000} s mixed load)`,
      columns: ['subject', 'ready ms', 'ready range', 'RSS ready', 'Pss ready', 'RSS load', 'Pss load', 'Pss load - no pool'],
      rows: ['baseline', ...memSubjects].map((s) => {
        const loaded = samples[s]!.every((m) => m.afterLoad);
        return [
          memLabel[s]!,
          s === 'baseline' ? null : round(med(s, (m) => m.readyMs)),
          s === 'baseline' ? '' : range(samples[s]!.map((m) => m.readyMs)),
          round(med(s, (m) => m.afterReady.rssMiB)),
          round(med(s, (m) => m.afterReady.pssMiB)),
          loaded ? round(med(s, (m) => m.afterLoad!.rssMiB)) : null,
          loaded ? round(med(s, (m) => m.afterLoad!.pssMiB)) : null,
          loaded ? round(med(s, (m) => m.afterLoad!.pssMiB) - basePss) : null,
        ];
      }),
    });
    const slowerAlone = Math.max(med('embed', (m) => m.readyMs), med('rerank', (m) => m.readyMs));
    const readyRatio = med('one-pool', (m) => m.readyMs) / slowerAlone;
    targets.push(checkTarget('ready-two-models', 'time to ready: one pool of both models / the slower model alone', readyRatio, 1.3, false, 'x',
      'The two models load at once in two workers, so on 2 cores they share the cores for the whole start-up (as two workers of one model do: see the startup benchmark), ' +
        'plus the main thread\'s share; a load is CPU work from end to end.'));
    if (process.env.WARMPOOL_PREALLOCATE !== 'false') notes.push(
      'Time to ready: with preallocate on (full runs), an embedding worker runs its largest batches before it reports ready; a rerank worker in this build does not ' +
        '(its engine ignores the peak run), so it is ready sooner and its memory grows under load instead (compare its Pss after ready and after the load).',
    );
    const perModelPss = {
      [embedModel]: med('embed', (m) => m.afterReady.pssMiB) - basePss,
      [rerankModel]: med('rerank', (m) => m.afterReady.pssMiB) - basePss,
    };
    notes.push(
      `Memory per model (Pss after ready minus the process without a pool): ${embedModel} ${round(perModelPss[embedModel]!)} MiB, ${rerankModel} ${round(perModelPss[rerankModel]!)} MiB; ` +
        `the process without a pool: RSS ${round(baseRss)} MiB, Pss ${round(basePss)} MiB. Pss is below RSS by the pages shared with other processes (the node binary, shared libraries).`,
    );
    data.memory = { runs: memRuns, loadMs, mix: MIX, samples, perModelPssMiB: perModelPss, readyRatio };

    // ---- 2b. throughput of a mixed load: one pool against two pools, in-process, interleaved ----
    const onePool = createPool(uncached({ model: embedModel, models: { rerank: { task: 'rerank', model: rerankModel } }, threads: 2, intraOpThreads: 1 }));
    const embedPool = createPool(uncached({ model: embedModel, threads: 1, intraOpThreads: 1 }));
    const rerankOnly = createPool(uncached({ model: rerankModel, task: 'rerank', threads: 1, intraOpThreads: 1 }));
    await Promise.all([onePool.ready(), embedPool.ready(), rerankOnly.ready()]);
    const mixDocs = docSet.texts;
    const embedCall = (p: WarmPool) => (i: number): Promise<unknown> => p.embed(mixDocs[i % mixDocs.length]!);
    const rerankCall = (p: WarmPool) => (i: number): Promise<unknown> => {
      const from = (i * 7) % (mixDocs.length - MIX.rerankDocs);
      return p.rerank(QUERY, mixDocs.slice(from, from + MIX.rerankDocs));
    };
    const mixSubjects: Record<string, { embed: (i: number) => Promise<unknown>; rerank: (i: number) => Promise<unknown> }> = {
      'one pool, both models (threads 2)': { embed: embedCall(onePool), rerank: rerankCall(onePool) },
      'two pools, threads 1 each': { embed: embedCall(embedPool), rerank: rerankCall(rerankOnly) },
    };
    const mixRounds = ctx.pick(4, 2, 2);
    const mixSlice = ctx.pick(5000, 1000, 300);
    const mixRes: Record<string, { embeds: number; pairs: number }[]> = Object.fromEntries(Object.keys(mixSubjects).map((k) => [k, []]));
    for (let r = 0; r < mixRounds; r++) {
      const names = Object.keys(mixSubjects);
      if (r % 2 === 1) names.reverse();
      for (const name of names) {
        const s = mixSubjects[name]!;
        const warm = r === 0 ? ctx.pick(3000, 500, 100) : ctx.pick(1000, 200, 50);
        const [e, k] = await Promise.all([closedLoop(s.embed, MIX.embedCallers, mixSlice, warm), closedLoop(s.rerank, MIX.rerankCallers, mixSlice, warm)]);
        mixRes[name]!.push({ embeds: e.perSecond, pairs: k.perSecond * MIX.rerankDocs });
      }
    }
    await Promise.all([onePool.close(), embedPool.close(), rerankOnly.close()]);
    const [oneName, twoName] = Object.keys(mixSubjects) as [string, string];
    const mixMed = (name: string, key: 'embeds' | 'pairs'): number => median(mixRes[name]!.map((x) => x[key]));
    tables.push({
      title: `Mixed load: ${MIX.embedCallers} embedding callers (one docstring each) + ${MIX.rerankCallers} rerank callers (${MIX.rerankDocs} documents each), medians of ${mixRounds} interleaved rounds of ${mixSlice / 1000} s`,
      columns: ['subject', 'embeds/s', 'range', 'rerank pairs/s', 'range', 'embeds x two pools', 'pairs x two pools'],
      rows: Object.keys(mixSubjects).map((name) => [
        name,
        round(mixMed(name, 'embeds')),
        range(mixRes[name]!.map((x) => x.embeds)),
        round(mixMed(name, 'pairs')),
        range(mixRes[name]!.map((x) => x.pairs)),
        round(mixMed(name, 'embeds') / mixMed(twoName, 'embeds')),
        round(mixMed(name, 'pairs') / mixMed(twoName, 'pairs')),
      ]),
    });
    data.mixed = { rounds: mixRounds, sliceMs: mixSlice, perRound: mixRes };
    notes.push(
      'Two pools of threads 1 each (intraOpThreads 1) is the fair comparison for one pool of threads 2: both run at most two model threads at once on the same cores ' +
        'and start two workers. Two pools of threads 2 each would run up to four (each pool sizes its own threads to the cores, unaware of the other) and load four workers.',
    );

    // ---- 3. embedding throughput with a second model configured but idle ----
    const poolA = createPool(uncached({ model: embedModel, threads: 2 }));
    const poolB = createPool(uncached({ model: embedModel, models: { rerank: { task: 'rerank', model: rerankModel } }, threads: 2 }));
    await Promise.all([poolA.ready(), poolB.ready()]);
    const perRun = ctx.pick(3000, 600, 96);
    const runs3 = ctx.pick(8, 3, 2);
    let seed = 1;
    // The most embedding workers seen ready during the timed runs (pool B's embedder starts with
    // one and may grow to the budget of two).
    const maxWorkers = new Map<WarmPool, number>();
    const embedRun = async (p: WarmPool): Promise<number> => {
      const texts = Array.from({ length: perRun }, () => textOf(10, seed++));
      let next = 0;
      const watch = setInterval(() => maxWorkers.set(p, Math.max(maxWorkers.get(p) ?? 0, p.stats().workers.filter((w) => w.state === 'ready').length)), 50);
      const began = performance.now();
      await Promise.all(Array.from({ length: EMBED_CALLERS }, async () => {
        while (next < texts.length) await p.embed(texts[next++]!);
      }));
      const seconds = (performance.now() - began) / 1000;
      clearInterval(watch);
      return perRun / seconds;
    };
    // An untimed run of each first (the embedder of pool B grows to its second worker here).
    await embedRun(poolA);
    await embedRun(poolB);
    maxWorkers.clear();
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < runs3; r++) {
      if (r % 2 === 0) {
        a.push(await embedRun(poolA));
        b.push(await embedRun(poolB));
      } else {
        b.push(await embedRun(poolB));
        a.push(await embedRun(poolA));
      }
    }
    const workersA = maxWorkers.get(poolA) ?? 0;
    const workersB = maxWorkers.get(poolB) ?? 0;
    const rerankIdle = poolB.stats().models?.rerank?.completed ?? 0;
    await Promise.all([poolA.close(), poolB.close()]);
    const ratio3 = median(b) / median(a);
    const spreadA = spreadOf(a);
    const paired = a.map((x, i) => b[i]! / x);
    tables.push({
      title: `Embedding throughput, ${EMBED_CALLERS} callers, ${perRun} texts of 10 tokens per run, ${runs3} alternating runs each (texts/s)`,
      columns: ['subject', 'median', 'min', 'max', 'spread (max-min)/median', 'x alone', 'embedding workers (most seen)'],
      rows: [
        [`A: ${embedModel} alone, threads 2`, round(median(a)), round(Math.min(...a)), round(Math.max(...a)), pct(spreadA), 1, workersA],
        [`B: ${embedModel} + idle ${rerankModel}, threads 2`, round(median(b)), round(Math.min(...b)), round(Math.max(...b)), pct(spreadOf(b)), round(ratio3), workersB],
      ],
    });
    targets.push(checkTarget('idle-model-cost', `embedding texts/s with an idle reranker configured / without (loss allowed: A's run-to-run spread, ${pct(spreadA)})`, ratio3, 1 - spreadA, true, 'x',
      'B was slower than A by more than A varied from run to run. An idle reranker worker holds memory but no core; check the number of embedding workers B reached ' +
        '(data.idle.embedWorkersB) and rerun: on 2 shared cores a burst of other work can land on one subject\'s runs.'));
    notes.push(
      `Embedding workers seen ready during the timed runs: A ${workersA}, B ${workersB} (B's embedder has threads { min: 1, max: 2 }; with calls coalesced, ` +
        `${EMBED_CALLERS} callers of short texts may never leave a backlog that grows it). B's reranker completed ${rerankIdle} calls (it stayed idle). Paired run ratios B/A: ${range(paired)}.`,
    );
    data.idle = { callers: EMBED_CALLERS, textsPerRun: perRun, runs: runs3, alone: a, withIdleReranker: b, ratio: ratio3, spreadAlone: spreadA, pairedRatios: paired, embedWorkersA: workersA, embedWorkersB: workersB, summaryAlone: summarize(a), summaryWith: summarize(b) };

    return {
      model: rerankModel,
      dtype: 'fp32',
      models: { rerank: rerankModel, embed: embedModel },
      available: true,
      targets,
      tables,
      charts: [
        {
          id: 'rerank',
          title: `Rerank pairs per second (1 query x ${nDocs} documents)`,
          type: 'bar',
          xLabel: 'subject',
          yLabel: 'pairs/s',
          x: ['pairs/s'],
          series: Object.keys(subjects1).map((n) => ({ name: n, values: [pairsPerSecond(n)] })),
        },
        {
          id: 'memory',
          title: 'Pss after ready and after a mixed load (MiB)',
          type: 'bar',
          xLabel: 'when',
          yLabel: 'MiB',
          x: ['after ready', 'after load'],
          series: memSubjects.map((s) => ({ name: memLabel[s]!, values: [med(s, (m) => m.afterReady.pssMiB), med(s, (m) => m.afterLoad?.pssMiB ?? NaN)] })),
        },
      ],
      notes: [
        `Texts: ${docSet.source}. Models: ${rerankModel} and ${embedModel} have MiniLM-L6's shape with random weights: the compute is a real model's, the scores mean nothing.`,
        ...notes,
      ],
      data,
    };
  },
};

export default benchmark;
