/**
 * `POST /embed` and `GET /info`, compatible with Hugging Face Text Embeddings Inference, so TEI
 * clients can point at this server. TEI's error shape `{ error, error_type }` is used here.
 */
import { embedForRequest, rows, servedModelName } from '../context.js';
import { HttpError } from '../http-errors.js';
import type { WarmpoolRoute } from '../options.js';

interface TeiRequest {
  inputs?: unknown;
  normalize?: unknown;
  truncate?: unknown;
  truncation_direction?: unknown;
  prompt_name?: unknown;
}

const bool = (value: unknown, name: string, fallback: boolean): boolean => {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new HttpError(400, 'invalid_field', `${name} must be a boolean, received ${JSON.stringify(value)}`, name);
  return value;
};

export const teiEmbed: WarmpoolRoute = async (app, { pool, options }) => {
  const config = { errorFormat: 'tei' as const };

  app.post('/embed', { bodyLimit: options.bodyLimit, config }, async (request, reply) => {
    const body = request.body as TeiRequest | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'invalid_body', 'the body must be a JSON object with "inputs"');
    }
    const { inputs } = body;
    let texts: string[];
    if (typeof inputs === 'string') texts = [inputs];
    else if (Array.isArray(inputs)) texts = inputs as string[];
    else throw new HttpError(400, 'invalid_input', 'inputs must be a string or an array of strings', 'inputs');
    if (texts.length === 0) throw new HttpError(400, 'empty', 'inputs must not be an empty array', 'inputs');
    if (texts.length > options.maxInputs) {
      throw new HttpError(400, 'too_many_inputs', `inputs has ${texts.length} items; this server takes at most ${options.maxInputs} per request`, 'inputs');
    }
    if (body.truncation_direction !== undefined && body.truncation_direction !== null && body.truncation_direction !== 'Right') {
      throw new HttpError(400, 'unsupported_truncation_direction', 'only truncation_direction "Right" is supported', 'truncation_direction');
    }
    // One of the model's prompts (config_sentence_transformers.json), as TEI's prompt_name: the
    // pool puts its text before each input, and refuses a name the model does not have.
    const promptName = body.prompt_name ?? undefined;
    if (promptName !== undefined && typeof promptName !== 'string') {
      throw new HttpError(400, 'invalid_prompt_name', 'prompt_name must be a string: the name of one of the model\'s prompts', 'prompt_name');
    }
    // TEI's defaults: normalised vectors, and a too-long text is an error unless truncate is set.
    const packed = await embedForRequest(pool, reply, texts, {
      normalize: bool(body.normalize, 'normalize', true),
      truncate: bool(body.truncate, 'truncate', false),
      ...(promptName !== undefined && { prompt: promptName }),
    });
    return rows(packed).map((vector) => Array.from(vector));
  });

  app.get('/info', { config }, async () => ({
    model_id: servedModelName(pool, options.modelName),
    model_dtype: pool.options.dtype,
    model_type: { embedding: { pooling: 'mean' } },
    max_concurrent_requests: pool.options.maxThreads * pool.options.concurrentTasksPerWorker + pool.options.maxQueue,
    max_input_length: pool.model?.maxTokens ?? null,
    max_client_batch_size: options.maxInputs,
    dimensions: pool.model?.dims ?? null,
  }));
};
