import { execFile } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_WORKERS, ROOT } from './lib/paths.js';
import { median, round } from './lib/stats.js';
import { checkTarget, type Benchmark, type TargetCheck } from './lib/types.js';
import { textOf } from './lib/texts.js';
import { createPool, type WarmPool } from './lib/warmpool.js';

interface Memory {
  rssBytes: number;
  pssBytes: number | undefined;
}
interface PoolRun {
  weights?: { shared: boolean; reason?: string; preparedMs?: number; preparedNow?: boolean };
  readyMs: number;
  atReady: Memory;
  afterCalls: Memory;
  textsPerSecond: number;
  hash: string;
}
type Kind = 'own' | 'shared';

const ENTRY = join(ROOT, 'dist/src/index.js');
const FIXTURE = join(BENCH_WORKERS, 'weights-pool.mjs');
const MB = 2 ** 20;

/** One pool in a fresh process: the process's memory is the pool's. */
function runPool(options: Record<string, unknown>, loopMs: number): Promise<PoolRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [FIXTURE, ENTRY, JSON.stringify({ options, loopMs })], { timeout: 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as PoolRun);
      } catch {
        reject(new Error(`pool process failed: ${error?.message ?? ''} ${stderr.slice(-2000)}`));
      }
    });
  });
}

const pssMb = (m: Memory): number => (m.pssBytes ?? Number.NaN) / MB;

/**
 * CPU time of one model run, raw onnxruntime sessions on one thread: the model's own file against
 * the prepared one, runs taken in turn. CPU time rather than wall time: on a machine whose
 * neighbours keep the cores busy, wall time mostly measures them. Two shapes: one short text
 * (where prepacking matters most: without it a run costs about 1.5x) and 8 texts of 60 tokens.
 */
async function cpuPerRun(ownFile: string, preparedFile: string, runs: number): Promise<{ shape: string; own: number[]; shared: number[] }[]> {
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: false };
  const sessions = { own: await ort.InferenceSession.create(ownFile, options), shared: await ort.InferenceSession.create(preparedFile, options) };
  const out: { shape: string; own: number[]; shared: number[] }[] = [];
  try {
    for (const [rows, seq, count] of [[1, 16, runs * 10], [8, 60, runs]] as const) {
      const ids = BigInt64Array.from({ length: rows * seq }, (_, i) => BigInt(1000 + ((i * 7919) % 20000)));
      const feed = (names: readonly string[]): Record<string, ort.Tensor> => {
        const all: Record<string, ort.Tensor> = {
          input_ids: new ort.Tensor('int64', ids, [rows, seq]),
          attention_mask: new ort.Tensor('int64', new BigInt64Array(rows * seq).fill(1n), [rows, seq]),
          token_type_ids: new ort.Tensor('int64', new BigInt64Array(rows * seq), [rows, seq]),
        };
        return Object.fromEntries(names.map((n) => [n, all[n]!]));
      };
      const row = { shape: `${rows} x ${seq} tokens`, own: [] as number[], shared: [] as number[] };
      for (const kind of kinds) for (let i = 0; i < 3; i++) await sessions[kind].run(feed(sessions[kind].inputNames));
      for (let i = 0; i < count; i++) {
        for (const kind of i % 2 === 0 ? kinds : [...kinds].reverse()) {
          const began = process.cpuUsage();
          await sessions[kind].run(feed(sessions[kind].inputNames));
          const used = process.cpuUsage(began);
          row[kind].push((used.user + used.system) / 1000);
        }
      }
      out.push(row);
    }
  } finally {
    await Promise.all([sessions.own.release(), sessions.shared.release()]);
  }
  return out;
}
const kinds: Kind[] = ['own', 'shared'];

/** texts/s of one pool for `ms`: 8 callers, one ~60-token text per call, distinct texts. */
async function slice(pool: WarmPool, ms: number, next: () => number): Promise<number> {
  let calls = 0;
  const began = performance.now();
  const end = began + ms;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        await pool.embed(textOf(60, next()));
        calls++;
      }
    }),
  );
  return calls / ((performance.now() - began) / 1000);
}

/**
 * Throughput of the two kinds side by side: both pools open in this process, timed slices taken
 * in turn (the order alternating), so that a noisy moment hits both alike. Medians of the slices.
 */
async function throughputSideBySide(model: string, n: number, cache: string, slices: number, sliceMs: number): Promise<{ own: number[]; shared: number[] }> {
  const common = { model, threads: n, intraOpThreads: 1, cacheBytes: 0, env: false as const };
  const own = createPool({ ...common, weightsCache: false });
  const shared = createPool({ ...common, weightsCache: cache });
  let i = 0;
  const next = (): number => i++;
  try {
    await Promise.all([own.ready(), shared.ready()]);
    await slice(own, sliceMs * 1.5, next);
    await slice(shared, sliceMs * 1.5, next);
    const out = { own: [] as number[], shared: [] as number[] };
    for (let k = 0; k < slices; k++) {
      const order: [Kind, WarmPool][] = k % 2 === 0 ? [['own', own], ['shared', shared]] : [['shared', shared], ['own', own]];
      for (const [kind, pool] of order) out[kind].push(await slice(pool, sliceMs, next));
    }
    return out;
  } finally {
    await Promise.all([own.close(), shared.close()]);
  }
}

const benchmark: Benchmark = {
  name: 'weights',
  title: 'One copy of the weights',
  description:
    'Memory of a pool of 1, 2 and 4 workers, each pool in a fresh process, measured as the process\'s Pss (proportional set size, ' +
    '/proc/self/smaps_rollup: pages shared between mappings counted once) after ready and after a closed loop of calls: every worker ' +
    "loading its own copy of the weights (`weightsCache: false`, today's loading through transformers.js) against the workers mapping one " +
    'prepared copy (the default). Throughput (8 callers, one ~60-token text per call) and the vectors of a fixed set of 32 texts are ' +
    'compared in the same runs. Kinds, models and sizes interleaved in every round; medians over rounds.',
  async run(ctx) {
    const models = ['glove-100d', 'minilm-shape'];
    const counts = ctx.pick([1, 2, 4], [1, 2, 4], [1, 2]);
    const rounds = ctx.pick(3, 1, 1);
    const loopMs = ctx.pick(2000, 1500, 300);
    const cache = mkdtempSync(join(tmpdir(), 'warmpool-weights-bench-'));
    const options = (model: string, n: number, kind: Kind) => ({ model, threads: n, weightsCache: kind === 'own' ? false : cache });
    try {
      // Preparing: once per machine, on the first start (measured here on an empty cache).
      const preparation: Record<string, { preparedMs: number; firstReadyMs: number; cachePath?: string }> = {};
      for (const model of models) {
        const first = await runPool(options(model, 1, 'shared'), loopMs / 4);
        preparation[model] = { preparedMs: first.weights?.preparedMs ?? Number.NaN, firstReadyMs: first.readyMs, cachePath: (first.weights as { cachePath?: string } | undefined)?.cachePath };
      }
      const runs: Record<string, Record<number, Record<Kind, PoolRun[]>>> = {};
      for (const model of models) runs[model] = Object.fromEntries(counts.map((n) => [n, { own: [], shared: [] }]));
      for (let r = 0; r < rounds; r++) {
        for (const model of models) {
          for (const n of counts) {
            // Alternate which kind goes first, round by round.
            for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) runs[model]![n]![kind].push(await runPool(options(model, n, kind), loopMs));
          }
        }
      }

      // Throughput side by side, in this process (the child runs' loops above are too short and too far apart to compare).
      const tputCounts = counts.filter((n) => n <= Math.max(1, ctx.cores));
      const sideBySide: Record<number, { own: number[]; shared: number[] }> = {};
      for (const n of tputCounts) sideBySide[n] = await throughputSideBySide('minilm-shape', n, cache, ctx.pick(10, 4, 2), ctx.pick(1500, 1000, 300));

      const prepared = preparation['minilm-shape']!.cachePath;
      const cpu = prepared ? await cpuPerRun(join(ROOT, 'models/minilm-shape/onnx/model.onnx'), join(prepared, 'onnx/model.onnx'), ctx.pick(40, 16, 4)) : [];

      const med = (model: string, n: number, kind: Kind, of: (p: PoolRun) => number): number => median(runs[model]![n]![kind].map(of));
      const memRows: (string | number)[][] = [];
      const tputRows: (string | number)[][] = [];
      const perExtra: Record<string, Record<Kind, number>> = {};
      const ratio4: Record<string, Record<Kind, number>> = {};
      let identical = true;
      let worstTput = Infinity;
      for (const model of models) {
        const last = counts.at(-1)!;
        perExtra[model] = { own: 0, shared: 0 };
        ratio4[model] = { own: 0, shared: 0 };
        for (const kind of kinds) {
          const one = med(model, 1, kind, (p) => pssMb(p.afterCalls));
          const many = med(model, last, kind, (p) => pssMb(p.afterCalls));
          perExtra[model]![kind] = (many - one) / (last - 1);
          ratio4[model]![kind] = many / one;
        }
        for (const n of counts) {
          const own = runs[model]![n]!.own;
          const shared = runs[model]![n]!.shared;
          const hashes = new Set([...own, ...shared].map((p) => p.hash));
          if (hashes.size !== 1) identical = false;
          memRows.push([
            model,
            n,
            round(med(model, n, 'own', (p) => pssMb(p.atReady))),
            round(med(model, n, 'shared', (p) => pssMb(p.atReady))),
            round(med(model, n, 'own', (p) => pssMb(p.afterCalls))),
            round(med(model, n, 'shared', (p) => pssMb(p.afterCalls))),
            round(med(model, n, 'own', (p) => p.afterCalls.rssBytes / MB)),
            round(med(model, n, 'shared', (p) => p.afterCalls.rssBytes / MB)),
            round(med(model, n, 'own', (p) => p.readyMs)),
            round(med(model, n, 'shared', (p) => p.readyMs)),
          ]);
          const tOwn = med(model, n, 'own', (p) => p.textsPerSecond);
          const tShared = med(model, n, 'shared', (p) => p.textsPerSecond);
          tputRows.push([model, n, round(tOwn), round(tShared), round(tShared / tOwn), hashes.size === 1 ? 'identical' : 'DIFFER']);
        }
      }
      const sideRows = tputCounts.map((n) => {
        const own = median(sideBySide[n]!.own);
        const shared = median(sideBySide[n]!.shared);
        worstTput = Math.min(worstTput, shared / own);
        return ['minilm-shape', n, round(own), round(shared), round(shared / own), sideBySide[n]!.own.length];
      });
      const targets: TargetCheck[] = [
        checkTarget('pss-per-extra-worker', `Pss per extra worker, minilm-shape, ${counts.at(-1)} workers vs 1, shared weights`, perExtra['minilm-shape']!.shared, 45, false, ' MB',
          'What an extra worker still holds of its own: its V8 isolate with transformers.js and the tokenizer (~25 MB), and onnxruntime\'s arena for its runs.'),
        checkTarget('four-vs-one', `Pss of ${counts.at(-1)} workers / 1 worker, minilm-shape, shared weights`, ratio4['minilm-shape']!.shared, 1.5, false, 'x',
          'Each worker keeps its own JavaScript heap: transformers.js and the tokenizer\'s vocabulary in every isolate (about 25 MB), which no mapping can share.'),
        checkTarget('throughput', 'texts/s with shared weights / own copy, minilm-shape, side by side (worst worker count)', worstTput, 0.95, true, 'x',
          'Within noise on a shared 2-core machine: the same graph and kernels run; rerun with more rounds.'),
        checkTarget('cpu-per-run', 'CPU time per model run, prepared file / own file, minilm-shape raw sessions (worst shape)',
          cpu.length ? Math.max(...cpu.map((c) => median(c.shared) / median(c.own))) : Number.NaN, 1.05, false, 'x',
          'The prepared file runs the same graph with the same prepacked weights, mapped instead of copied; a gap past noise would mean a kernel lost its prepacked weights.'),
        checkTarget('outputs', 'vectors of 32 texts identical (sha-256 of their bytes) in every run, both models', identical ? 1 : 0, 1, true, '',
          'The shared path must give the same bits: a difference means the prepared graph differs.'),
      ];
      return {
        model: 'minilm-shape',
        dtype: 'fp32',
        models: { 'glove-100d': 'default model (a 10 MB table)', 'minilm-shape': 'MiniLM-L6-sized transformer (90 MB)' },
        available: true,
        targets,
        tables: [
          {
            title: `Memory of a pool (process Pss and RSS, MB; median of ${rounds} round${rounds === 1 ? '' : 's'}): own copy per worker vs shared weights`,
            columns: ['model', 'workers', 'Pss ready, own', 'Pss ready, shared', 'Pss after calls, own', 'Pss after calls, shared', 'RSS after, own', 'RSS after, shared', 'ready ms, own', 'ready ms, shared'],
            rows: memRows,
          },
          {
            title: 'Per extra worker (Pss after calls, MB) and N workers / 1',
            columns: ['model', 'own: MB per extra worker', 'shared: MB per extra worker', `own: ${counts.at(-1)} / 1`, `shared: ${counts.at(-1)} / 1`, 'preparation, ms (once per machine)', 'first start (preparing), ready ms'],
            rows: models.map((m) => [m, round(perExtra[m]!.own), round(perExtra[m]!.shared), round(ratio4[m]!.own), round(ratio4[m]!.shared), round(preparation[m]!.preparedMs), round(preparation[m]!.firstReadyMs)]),
          },
          {
            title: 'Throughput side by side, texts/s (both pools open in one process, timed slices in turn; medians)',
            columns: ['model', 'workers', 'own copy', 'shared', 'shared / own', 'slices each'],
            rows: sideRows,
          },
          {
            title: 'CPU ms per model run, raw onnxruntime sessions on one thread, runs in turn (medians)',
            columns: ['model', 'shape', 'own file', 'prepared file', 'prepared / own', 'runs each'],
            rows: cpu.map((c) => ['minilm-shape', c.shape, round(median(c.own)), round(median(c.shared)), round(median(c.shared) / median(c.own)), c.own.length]),
          },
          {
            title: 'Each pool process: texts/s of its short loop (noisy: runs minutes apart) and its vectors',
            columns: ['model', 'workers', 'own', 'shared', 'shared / own', 'vectors'],
            rows: tputRows,
          },
        ],
        charts: [
          {
            id: 'pss',
            title: 'Pool Pss after calls by worker count',
            type: 'line',
            xLabel: 'workers',
            yLabel: 'MB (Pss)',
            x: counts,
            series: models.flatMap((m) => kinds.map((kind) => ({ name: `${m} ${kind === 'own' ? 'own copy' : 'shared'}`, values: counts.map((n) => med(m, n, kind, (p) => pssMb(p.afterCalls))) }))),
          },
        ],
        notes: [
          'Pss, not RSS: the mapped weights are in every worker\'s RSS but in Pss once. RSS overstates a pool with shared weights.',
          'The "own copy" figures are `weightsCache: false`, which loads as warmpool always did, with one change that both kinds share: a full garbage collection after the load.',
          'Each pool runs in a fresh process; the prepared files come from this run\'s own temporary cache, prepared once at its start (first table\'s last columns).',
        ],
        data: { counts, rounds, loopMs, preparation, perExtra, ratio4, runs, sideBySide, cpu },
      };
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  },
};

export default benchmark;
