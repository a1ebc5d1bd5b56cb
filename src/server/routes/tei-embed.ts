/**
 * The embedding routes of Hugging Face Text Embeddings Inference (TEI), so TEI clients can point
 * at this server: `POST /embed` (also `POST /` and `POST /invocations`, where TEI serves its
 * model's default task), `POST /similarity`, `GET /info`, and `POST /embed_all` and
 * `POST /embed_sparse`, which this server's pool cannot do and refuses as TEI refuses them for a
 * model that cannot (`424`, `Backend`). TEI's error shape `{ error, error_type }` is used here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveModel } from '../../model.js';
import type { WarmPool } from '../../pool.js';
import { embedForRequest, rows, servedModelName } from '../context.js';
import { HttpError, TEI_CODES } from '../http-errors.js';
import type { ResolvedServerOptions, WarmpoolRoute } from '../options.js';
import { bool, checkBatch, dimensions, embedOptions, empty, inputTexts, invalid, objectBody } from './tei-request.js';

let version: string | undefined;

/** The package's version, from its package.json (built: four folders up from this file; from source: three). */
function packageVersion(): string {
  if (version !== undefined) return version;
  for (const p of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(p, import.meta.url)), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'warmpool' && typeof pkg.version === 'string') return (version = pkg.version);
    } catch {
      // not this one
    }
  }
  return (version = '0.0.0');
}

/** TEI's names for the pooling methods (`lasttoken` is its `last_token`). */
const TEI_POOLING: Record<string, string> = { mean: 'mean', cls: 'cls', lasttoken: 'last_token' };

/** TEI's names for the weights' precision where one exists (`fp32` is its `float32`); others as the pool names them. */
const TEI_DTYPE: Record<string, string> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

/**
 * The model's id as TEI gives it: the hub id of a hub model, the folder's name of a model on
 * disk (never its path: answers do not describe the server's disk).
 */
function modelId(pool: WarmPool): string {
  try {
    return resolveModel(pool.options).id;
  } catch {
    return servedModelName(pool, undefined);
  }
}

/** `GET /info`: every field of TEI's `Info`, from the pool. */
async function info(pool: WarmPool, options: ResolvedServerOptions) {
  // The model's figures are known once a worker has loaded it; requests made earlier wait for it.
  await pool.ready();
  const model = pool.model!;
  const o = pool.options;
  return {
    model_id: modelId(pool),
    model_sha: null,
    model_dtype: TEI_DTYPE[o.dtype] ?? o.dtype,
    served_model_name: servedModelName(pool, options.modelName),
    model_type: { embedding: { pooling: TEI_POOLING[model.pooling] ?? model.pooling } },
    // Requests the pool takes at once: out at workers plus waiting; one more is answered 429.
    max_concurrent_requests: o.maxThreads * o.concurrentTasksPerWorker + o.maxQueue,
    max_input_length: model.maxTokens,
    max_batch_tokens: o.maxBatchTokens,
    max_batch_requests: o.batching ? o.maxBatchSize : null,
    max_client_batch_size: options.maxInputs,
    // A too-long text is refused unless the request sets `truncate`.
    auto_truncate: false,
    // The pool's workers tokenize their own texts.
    tokenization_workers: o.maxThreads,
    version: packageVersion(),
    sha: null,
    docker_label: null,
    dimensions: model.dims,
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export const teiEmbed: WarmpoolRoute = async (app, { pool, options }) => {
  const config = { errorFormat: 'tei' as const };
  const route = { bodyLimit: options.bodyLimit, config };

  const embed = async (request: { body: unknown }, reply: Parameters<typeof embedForRequest>[1]) => {
    const body = objectBody(request.body, '"inputs"');
    const texts = inputTexts(body.inputs, options.maxInputs);
    const dims = dimensions(pool, body.dimensions);
    // TEI's defaults: normalised vectors, and a too-long text is an error unless truncate is set.
    const packed = await embedForRequest(pool, reply, texts, {
      ...embedOptions(body),
      normalize: bool(body.normalize, 'normalize', true),
      ...(dims !== undefined && { dimensions: dims }),
    });
    return rows(packed).map((vector) => Array.from(vector));
  };
  app.post('/embed', route, embed);
  // TEI serves its model's task at the root and at SageMaker's `/invocations`: `/embed` for an
  // embedding model (that is not SPLADE).
  app.post('/', route, embed);
  app.post('/invocations', route, embed);

  // TEI answers these for models that can; this pool returns pooled dense vectors only, so it
  // answers as TEI does for a model that cannot (a backend error, 424), once the request is valid.
  app.post('/embed_all', route, async (request) => {
    const body = objectBody(request.body, '"inputs"');
    inputTexts(body.inputs, options.maxInputs);
    embedOptions(body);
    throw new HttpError(424, TEI_CODES.unsupportedTask, '`embed_all` is not available: this server answers pooled embeddings only (use /embed)');
  });
  app.post('/embed_sparse', route, async (request) => {
    const body = objectBody(request.body, '"inputs"');
    inputTexts(body.inputs, options.maxInputs);
    embedOptions(body);
    throw new HttpError(424, TEI_CODES.unsupportedTask, 'Model is not an embedding model with SPLADE pooling');
  });

  // TEI's sentence similarity: the cosine of the source sentence's embedding with each sentence's.
  app.post('/similarity', route, async (request, reply) => {
    const body = objectBody(request.body, '"inputs": { "source_sentence", "sentences" }');
    const inputs = body.inputs;
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw invalid('inputs must be an object with "source_sentence" (a string) and "sentences" (an array of strings)', 'inputs', 'invalid_input');
    }
    const { source_sentence: source, sentences } = inputs as Record<string, unknown>;
    if (typeof source !== 'string') throw invalid('inputs.source_sentence must be a string', 'inputs.source_sentence', 'invalid_input');
    if (!Array.isArray(sentences) || sentences.some((s) => typeof s !== 'string')) {
      throw invalid('inputs.sentences must be an array of strings', 'inputs.sentences', 'invalid_input');
    }
    if (sentences.length === 0) throw empty('`inputs.sentences` cannot be empty', 'inputs.sentences');
    // The source sentence counts towards the batch, as in TEI.
    checkBatch(sentences.length + 1, options.maxInputs, 'inputs.sentences');
    const texts = [source, ...(sentences as string[])];
    if (texts.includes('')) throw empty('`inputs` cannot be empty', 'inputs');
    const parameters = body.parameters ?? {};
    if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
      throw invalid('parameters must be an object: { truncate?, truncation_direction?, prompt_name? }', 'parameters');
    }
    const packed = await embedForRequest(pool, reply, texts, { ...embedOptions(parameters as Record<string, unknown>), normalize: false });
    const [first, ...rest] = rows(packed);
    return rest.map((vector) => cosine(first!, vector));
  });

  app.get('/info', { config }, async () => info(pool, options));
};
