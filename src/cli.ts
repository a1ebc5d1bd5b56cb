#!/usr/bin/env node
/**
 * The `warmpool` command. Pool options come from the same WARMPOOL_* environment variables as
 * the library, or from the flags below.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WarmpoolError } from './errors.js';
import { createPool, type WarmPool } from './pool.js';
import type { PoolOptions } from './options.js';
import { runQueueWorker } from './queue/run-worker.js';

const USAGE = `usage: warmpool <command> [options]

commands:
  embed <text...>     embed texts (or lines of stdin with "-") and print one JSON object per line
  demo                embed a few sentences and show which ones the model finds closest
  info                print the resolved model and pool settings as JSON
  worker              consume embed jobs from a Redis queue on this machine's warm pool
                      (--redis <url> --queue <name> [--concurrency n] [--lock-duration ms]
                      [--stalled-interval ms]); SIGTERM/SIGINT finish running jobs, then exit

options:
  --model <name|path|hub-id>   model to load (env WARMPOOL_MODEL; default glove-100d)
  --threads <n>                worker threads (env WARMPOOL_THREADS)
  --no-normalize               keep raw pooled vectors (embed)
  -h, --help                   show this help
`;

const DEMO_SENTENCES = [
  'A man is playing a guitar.',
  'The stock market fell sharply today.',
  'The chef cooked pasta with fresh tomatoes.',
  'Heavy rain and strong winds are expected tonight.',
  'The team won the championship after extra time.',
  'The doctor prescribed antibiotics for the infection.',
];
const DEMO_QUERIES = [
  'Someone plays an instrument.',
  'Shares dropped on Wall Street.',
  'A storm is coming this evening.',
  'She made dinner in the kitchen.',
  'The patient was given medicine.',
  'The football club celebrated its victory.',
];

const dot = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      threads: { type: 'string' },
      'no-normalize': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      redis: { type: 'string' },
      queue: { type: 'string' },
      concurrency: { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const options: PoolOptions = {};
  if (values.model !== undefined) options.model = values.model;
  if (values.threads !== undefined) options.threads = Number(values.threads);

  if (command === 'embed') {
    const texts = rest.length === 1 && rest[0] === '-' ? readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '') : rest;
    if (texts.length === 0) {
      process.stderr.write('warmpool embed: give at least one text, or "-" to read lines from stdin\n');
      return 2;
    }
    return withPool({ threads: 1, ...options }, async (pool) => {
      const vectors = await pool.embed(texts, { normalize: !values['no-normalize'] });
      for (let i = 0; i < texts.length; i++) {
        process.stdout.write(`${JSON.stringify({ text: texts[i], dims: vectors[i]!.length, embedding: Array.from(vectors[i]!) })}\n`);
      }
    });
  }
  if (command === 'demo') {
    return withPool(options, async (pool) => {
      const started = performance.now();
      await pool.ready();
      const readyMs = performance.now() - started;
      const docs = await pool.embed(DEMO_SENTENCES);
      const t0 = performance.now();
      const queries = await pool.embed(DEMO_QUERIES);
      const warmMs = performance.now() - t0;
      const info = pool.model!;
      process.stdout.write(`model ${info.model} (${info.dims}-d), ${pool.options.maxThreads} workers warm in ${readyMs.toFixed(0)} ms\n\n`);
      for (let q = 0; q < DEMO_QUERIES.length; q++) {
        const scores = docs.map((d, i) => ({ i, score: dot(queries[q]!, d) })).sort((a, b) => b.score - a.score);
        const best = scores[0]!;
        process.stdout.write(`${DEMO_QUERIES[q]}\n  -> ${DEMO_SENTENCES[best.i]}  (cosine ${best.score.toFixed(3)})\n`);
      }
      process.stdout.write(`\n${DEMO_QUERIES.length} queries embedded warm in ${warmMs.toFixed(1)} ms\n`);
    });
  }
  if (command === 'info') {
    return withPool(options, async (pool) => {
      await pool.ready();
      process.stdout.write(`${JSON.stringify({ model: pool.model, options: pool.options }, null, 2)}\n`);
    });
  }
  if (command === 'worker') {
    if (values.redis === undefined || values.queue === undefined) {
      process.stderr.write('warmpool worker: give --redis <url> and --queue <name>\n');
      return 2;
    }
    const running = await runQueueWorker({
      connection: values.redis,
      queue: values.queue,
      pool: options,
      ...(values.concurrency !== undefined && { concurrency: Number(values.concurrency) }),
      ...(values['lock-duration'] !== undefined && { lockDuration: Number(values['lock-duration']) }),
      ...(values['stalled-interval'] !== undefined && { stalledInterval: Number(values['stalled-interval']) }),
      onError: (error) => process.stderr.write(`warmpool worker: ${error.message}\n`),
    });
    process.stderr.write(`warmpool worker: ready, pid ${process.pid}, queue ${values.queue}, ${running.pool.options.maxThreads} worker threads\n`);
    await running.stopped;
    const s = running.worker.stats();
    process.stderr.write(`warmpool worker: stopped after ${s.completed} jobs (${s.failed} failed)\n`);
    return 0;
  }
  process.stderr.write(`warmpool: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return 2;
}

async function withPool(options: PoolOptions, body: (pool: WarmPool) => Promise<void>): Promise<number> {
  const pool = createPool(options);
  try {
    await body(pool);
    return 0;
  } finally {
    await pool.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof WarmpoolError ? `${error.name} [${error.code}]: ${error.message}` : String(error instanceof Error ? error.message : error);
    process.stderr.write(`warmpool: ${message}\n`);
    process.exitCode = 1;
  },
);
