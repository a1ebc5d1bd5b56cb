/**
 * Bulk submission: a corpus of any size goes out in jobs of `batchSize` texts with a bounded
 * number in flight, so memory and the queue stay bounded however large the input.
 */
import { InvalidInputError, QueueFullError } from '../errors.js';
import { received } from '../option-table.js';
import type { EmbedOptions } from '../inputs.js';
import type { PackedVectors } from '../types.js';

/** What `onProgress` receives after each finished job. */
export interface EmbedProgress {
  jobsDone: number;
  /** Jobs in the whole input for an array; for an async iterable, jobs formed so far until it ends. */
  jobsTotal: number;
  textsDone: number;
  /** Texts in the whole input, as known so far (see `jobsTotal`). */
  textsTotal: number;
  /** Texts embedded per second since the call began. */
  textsPerSecond: number;
  elapsedMs: number;
}

export interface EmbedManyOptions extends Pick<EmbedOptions, 'normalize' | 'pooling' | 'truncate' | 'dimensions' | 'prompt' | 'signal'> {
  /** Texts per job. @default 64 */
  batchSize?: number;
  /** Jobs in flight at once from this call. @default 32 */
  window?: number;
  /** Called after each finished job. */
  onProgress?: (progress: EmbedProgress) => void;
}

/** The part of the client embedMany drives. */
interface Submitter {
  embedPacked(input: readonly string[], options?: EmbedOptions): Promise<PackedVectors>;
  readonly reconcileInterval: number;
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`options.${name} must be a positive integer, received ${received(value)}`);
  }
  return value;
}

async function* chunks(input: Iterable<string> | AsyncIterable<string>, size: number): AsyncGenerator<string[]> {
  let chunk: string[] = [];
  for await (const text of input) {
    chunk.push(text);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

export async function embedMany(client: Submitter, input: Iterable<string> | AsyncIterable<string>, options: EmbedManyOptions = {}): Promise<Float32Array[]> {
  const isIterable = input != null && (typeof (input as Iterable<string>)[Symbol.iterator] === 'function' || typeof (input as AsyncIterable<string>)[Symbol.asyncIterator] === 'function');
  if (!isIterable || typeof input === 'string') {
    throw new InvalidInputError(`embedMany input must be an array or (async) iterable of strings, received ${typeof input === 'string' ? 'a string' : String(input)}`);
  }
  const batchSize = positiveInteger(options.batchSize, 'batchSize', 64);
  const window = positiveInteger(options.window, 'window', 32);
  const { onProgress, signal } = options;
  const embedOptions: EmbedOptions = {
    ...(options.normalize !== undefined && { normalize: options.normalize }),
    ...(options.pooling !== undefined && { pooling: options.pooling }),
    ...(options.truncate !== undefined && { truncate: options.truncate }),
    ...(options.dimensions !== undefined && { dimensions: options.dimensions }),
    ...(options.prompt !== undefined && { prompt: options.prompt }),
    ...(signal !== undefined && { signal }),
  };
  const known = Array.isArray(input) ? input.length : undefined;
  const out: Float32Array[] = [];
  const started = performance.now();
  let jobsTotal = known === undefined ? 0 : Math.ceil(known / batchSize);
  let textsTotal = known ?? 0;
  let jobsDone = 0;
  let textsDone = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const run = async (texts: string[], offset: number): Promise<void> => {
    for (;;) {
      try {
        const { data, dims } = await client.embedPacked(texts, embedOptions);
        for (let i = 0; i < dims[0]; i++) out[offset + i] = data.subarray(i * dims[1], (i + 1) * dims[1]);
        break;
      } catch (error) {
        // A full queue is back-pressure for a bulk load: wait for room instead of failing.
        if (!(error instanceof QueueFullError)) {
          if (error instanceof InvalidInputError) error.message = error.message.replace(/^input\[(\d+)\]/, (_, i: string) => `input[${offset + Number(i)}]`);
          throw error;
        }
        await new Promise((r) => setTimeout(r, client.reconcileInterval));
      }
    }
    jobsDone++;
    textsDone += texts.length;
    const elapsedMs = performance.now() - started;
    onProgress?.({ jobsDone, jobsTotal, textsDone, textsTotal, textsPerSecond: textsDone / (elapsedMs / 1000), elapsedMs });
  };

  let offset = 0;
  for await (const texts of chunks(input, batchSize)) {
    if (failure !== undefined) break;
    if (known === undefined) {
      jobsTotal++;
      textsTotal += texts.length;
    }
    const p = run(texts, offset).catch((error: unknown) => {
      failure ??= error;
    });
    offset += texts.length;
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  return out;
}
