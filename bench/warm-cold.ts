import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { loneLatency } from './lib/load.js';
import { BENCH_WORKERS, MODELS_DIR } from './lib/paths.js';
import { round, summarize } from './lib/stats.js';
import { textOf } from './lib/texts.js';
import { checkTarget, type Benchmark, type Table } from './lib/types.js';
import { uncached } from './lib/pool-options.js';
import { createPool } from './lib/warmpool.js';

/** The naive job: a fresh thread loads the model, embeds one text, and is torn down. */
async function naiveColdJob(model: string, text: string): Promise<number> {
  const began = performance.now();
  const worker = new Worker(`${BENCH_WORKERS}cold-embed.mjs`, { workerData: { model, text, modelsDir: MODELS_DIR } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  await worker.terminate();
  return performance.now() - began;
}

/** A warmpool pool of one worker per job: returns time to the first vector and to a closed pool. */
async function poolColdJob(model: string, text: string): Promise<{ firstVector: number; total: number }> {
  const began = performance.now();
  const pool = createPool(uncached({ model, threads: 1, intraOpThreads: 1 }));
  await pool.embed(text);
  const firstVector = performance.now() - began;
  await pool.close();
  return { firstVector, total: performance.now() - began };
}

interface ModelResult {
  warm: { p50: number; p99: number; mean: number; samples: number };
  naive: ReturnType<typeof summarize>;
  poolJob: ReturnType<typeof summarize>;
  firstVector: ReturnType<typeof summarize>;
  ratioNaive: number;
  ratioPool: number;
}

const benchmark: Benchmark = {
  name: 'warm-cold',
  title: 'Warm vs cold',
  description:
    'What a warm pool saves. **Cold** is what a naive pool does per job: start a fresh thread, load the model, embed one text, tear it down ' +
    '(measured two ways: a bare worker_threads Worker running the transformers.js pipeline, and a warmpool pool of one worker created and closed per job). ' +
    '**Warm** is `embed()` of the same kind of text (10 tokens) on a ready pool (tinybench, one call in flight). ' +
    'Also the time to the first vector of a new pool (createPool to the first embed() answer, no ready() first). ' +
    'The headline uses `minilm-shape` (a real transformer\'s load and compute cost); `glove-100d` is shown beside it.',
  async run(ctx) {
    const models = ctx.quick ? ['minilm-shape'] : ['minilm-shape', 'glove-100d'];
    const coldRuns = ctx.pick(5, 1, 1);
    const poolRuns = ctx.pick(5, 1, 1);
    const results: Record<string, ModelResult> = {};
    for (const model of models) {
      // Cold jobs first, on an otherwise idle process, so no warm pool competes with them.
      const naive: number[] = [];
      const poolJob: number[] = [];
      const firstVector: number[] = [];
      for (let i = 0; i < Math.max(coldRuns, poolRuns); i++) {
        if (i < coldRuns) naive.push(await naiveColdJob(model, textOf(10, i + 1)));
        if (i < poolRuns) {
          const r = await poolColdJob(model, textOf(10, i + 100));
          poolJob.push(r.total);
          firstVector.push(r.firstVector);
        }
      }
      const pool = createPool(uncached({ model }));
      await pool.ready();
      let n = 0;
      const lone = await loneLatency({ warm: () => pool.embed(textOf(10, ++n)) }, ctx.pick(2000, 300, 100));
      await pool.close();
      const warm = lone.warm!;
      const naiveS = summarize(naive);
      const poolS = summarize(poolJob);
      results[model] = {
        warm: { p50: warm.p50, p99: warm.p99, mean: warm.mean, samples: warm.samples },
        naive: naiveS,
        poolJob: poolS,
        firstVector: summarize(firstVector),
        ratioNaive: naiveS.p50 / warm.p50,
        ratioPool: poolS.p50 / warm.p50,
      };
    }
    const head = results['minilm-shape']!;
    const table: Table = {
      title: 'Per job: cold (median of runs) vs warm embed() (p50), ms',
      columns: ['model', 'cold: bare worker', 'cold: pool of 1', 'first vector, new pool', 'warm p50', 'warm p99', 'cold / warm'],
      rows: Object.entries(results).map(([m, r]) => [m, round(r.naive.p50), round(r.poolJob.p50), round(r.firstVector.p50), round(r.warm.p50), round(r.warm.p99), `${Math.round(r.ratioNaive)}x`]),
    };
    return {
      model: 'minilm-shape',
      dtype: 'fp32',
      models: { headline: 'minilm-shape', comparison: ctx.quick ? 'none in quick mode' : 'glove-100d' },
      available: true,
      targets: [
        checkTarget('warm-vs-cold', 'warm embed() faster than a cold job (minilm-shape, bare worker)', head.ratioNaive, 100, true, 'x',
          'A cold job is dominated by importing transformers.js and creating the ONNX session; a warm call is one tokenizer call and one model run. ' +
            'If this misses, the warm call itself is slow (machine busy) rather than the cold path fast.'),
      ],
      tables: [table],
      charts: [
        {
          id: 'latency',
          title: 'Cold job vs warm call (log scale)',
          type: 'bar',
          xLabel: 'model',
          yLabel: 'ms per job',
          yScale: 'log',
          x: Object.keys(results),
          series: [
            { name: 'cold: bare worker', values: Object.values(results).map((r) => r.naive.p50) },
            { name: 'cold: pool of 1', values: Object.values(results).map((r) => r.poolJob.p50) },
            { name: 'first vector', values: Object.values(results).map((r) => r.firstVector.p50) },
            { name: 'warm p50', values: Object.values(results).map((r) => r.warm.p50) },
          ],
        },
      ],
      notes: [
        `Headline: a warm call on minilm-shape is ${Math.round(head.ratioNaive)}x faster than a naive cold job (${round(head.naive.p50)} ms vs ${round(head.warm.p50)} ms), ` +
          `${Math.round(head.ratioPool)}x faster than a warmpool pool of one created and closed per job.`,
        `Cold runs per model: ${coldRuns} (bare worker), ${poolRuns} (pool of 1); warm: ${head.warm.samples} calls.`,
      ],
      data: { results, coldRuns, poolRuns, text: '10 tokens' },
    };
  },
};

export default benchmark;
