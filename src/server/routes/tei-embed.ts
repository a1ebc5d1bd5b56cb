/**
 * The embedding routes of Hugging Face Text Embeddings Inference (TEI), so TEI clients can point
 * at this server: `POST /embed`, `POST /` and `POST /invocations` (where TEI serves its model's
 * task: `/embed`, `/rerank` or `/predict` by the pool's main model), `POST /similarity`,
 * `GET /info` (the main model, and every model of the pool), and `POST /embed_all` and
 * `POST /embed_sparse`, which this server's pool cannot do and refuses as TEI refuses them for a
 * model that cannot (`424`, `Backend`). TEI's error shape `{ error, error_type }` is used here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelStatus } from '../../options.js';
import type { WarmPool } from '../../pool.js';
import type { ModelInfo } from '../../types.js';
import { embedForRequest, mainModel, publicModelId, rows, servedModelName } from '../context.js';
import { HttpError, TEI_CODES } from '../http-errors.js';
import type { ResolvedServerOptions, WarmpoolRoute } from '../options.js';
import { bool, checkBatch, dimensions, embedOptions, empty, inputTexts, invalid, objectBody, teiModel } from './tei-request.js';
import { predictHandler, rerankHandler } from './tei-rerank.js';

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

/** TEI's `model_type` of a model: `embedding` with its pooling, or `reranker`/`classifier` with its labels. */
function modelType(model: ModelStatus, info: ModelInfo | undefined) {
  if (model.task === 'rerank' || model.task === 'classify') {
    const labels = info?.labels ?? [];
    const id2label = Object.fromEntries(labels.map((label, i) => [String(i), label]));
    const label2id = Object.fromEntries(labels.map((label, i) => [label, i]));
    return model.task === 'rerank' ? { reranker: { id2label, label2id } } : { classifier: { id2label, label2id } };
  }
  const pooling = info?.pooling ?? 'mean';
  return { embedding: { pooling: TEI_POOLING[pooling] ?? pooling } };
}

/**
 * `GET /info`: every field of TEI's `Info`, for the pool's main model (its embedder, else its
 * first model), and `models`, warmpool's own field: every model of the pool.
 */
async function info(pool: WarmPool, options: ResolvedServerOptions) {
  // The models' figures are known once a worker has loaded them; requests made earlier wait.
  await pool.ready();
  const models = pool.models;
  const main = mainModel(pool);
  const model = main.info;
  const o = main.options;
  return {
    model_id: publicModelId(main),
    model_sha: null,
    model_dtype: TEI_DTYPE[o.dtype] ?? o.dtype,
    served_model_name: servedModelName(pool, options.modelName),
    model_type: modelType(main, model),
    // Requests the model takes at once: out at workers plus waiting; one more is answered 429.
    max_concurrent_requests: o.maxThreads * o.concurrentTasksPerWorker + o.maxQueue,
    max_input_length: model?.maxTokens ?? 0,
    max_batch_tokens: o.maxBatchTokens,
    max_batch_requests: o.batching ? o.maxBatchSize : null,
    max_client_batch_size: options.maxInputs,
    // A too-long text is refused unless the request sets `truncate`.
    auto_truncate: false,
    // The pool's workers tokenize their own texts.
    tokenization_workers: pool.options.maxThreads,
    version: packageVersion(),
    sha: null,
    docker_label: null,
    ...(main.task === 'embed' && model !== undefined && { dimensions: model.dims }),
    models: models.map((m) => ({
      name: m.name,
      task: m.task,
      source: publicModelId(m),
      max_input_length: m.info?.maxTokens ?? null,
      ...(m.task === 'embed' && m.info !== undefined && { dimensions: m.info.dims }),
    })),
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
    const model = teiModel(pool, 'embed', body.model, options.modelName);
    const dims = dimensions(model.info, body.dimensions);
    // TEI's defaults: normalised vectors, and a too-long text is an error unless truncate is set.
    const packed = await embedForRequest(pool, reply, texts, {
      ...embedOptions(body),
      model: model.name,
      normalize: bool(body.normalize, 'normalize', true),
      ...(dims !== undefined && { dimensions: dims }),
    });
    return rows(packed).map((vector) => Array.from(vector));
  };
  app.post('/embed', route, embed);
  // TEI serves its model's task at the root and at SageMaker's `/invocations`: `/embed` for an
  // embedding model (that is not SPLADE), `/rerank` for a reranker, `/predict` for a classifier.
  // Here, the task of the pool's main model (its embedder, else its first model).
  const rerank = rerankHandler(pool, options);
  const predict = predictHandler(pool, options);
  const root = async (request: { body: unknown }, reply: Parameters<typeof embedForRequest>[1]) => {
    const task = mainModel(pool).task;
    if (task === 'rerank') return rerank(request, reply);
    if (task === 'classify') return predict(request, reply);
    return embed(request, reply);
  };
  app.post('/', route, root);
  app.post('/invocations', route, root);

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
    const model = teiModel(pool, 'embed', body.model, options.modelName);
    const packed = await embedForRequest(pool, reply, texts, { ...embedOptions(parameters as Record<string, unknown>), model: model.name, normalize: false });
    const [first, ...rest] = rows(packed);
    return rest.map((vector) => cosine(first!, vector));
  });

  app.get('/info', { config }, async () => info(pool, options));
};
