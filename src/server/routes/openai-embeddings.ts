/**
 * `POST /v1/embeddings` and `GET /v1/models`, compatible with OpenAI's embeddings API, so the
 * official clients (and tools built on them) work against this server unchanged. TEI serves the
 * same route at `POST /embeddings`, and so does this server.
 */
import { endianness } from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerName, embedForRequest, openaiModel, rows } from '../context.js';
import { HttpError } from '../http-errors.js';
import type { WarmpoolRoute } from '../options.js';

const LITTLE_ENDIAN = endianness() === 'LE';

/** OpenAI's base64 encoding: the vector's float32 values as little-endian bytes. */
export function float32ToBase64(vector: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes.toString('base64');
}

interface OpenAIRequest {
  input?: unknown;
  model?: unknown;
  encoding_format?: unknown;
  dimensions?: unknown;
  user?: unknown;
}

function textsOf(input: unknown, maxInputs: number): string[] {
  if (input === undefined) throw new HttpError(400, 'missing_input', 'input is required: a string or an array of strings', 'input');
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) throw new HttpError(400, 'invalid_input', 'input must be a string or an array of strings', 'input');
  if (input.length === 0) throw new HttpError(400, 'invalid_input', 'input must not be an empty array', 'input');
  if (input.length > maxInputs) {
    throw new HttpError(400, 'too_many_inputs', `input has ${input.length} items; this server takes at most ${maxInputs} per request`, 'input');
  }
  // Token ids only mean something to the tokenizer they came from; this server takes text.
  if (input.some((item) => typeof item === 'number' || Array.isArray(item))) {
    throw new HttpError(400, 'unsupported_input', 'token-array inputs are not supported: send the text itself as a string or an array of strings', 'input');
  }
  return input as string[];
}

export const openaiEmbeddings: WarmpoolRoute = async (app, { pool, options }) => {

  const embeddings = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body as OpenAIRequest | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'invalid_body', 'the body must be a JSON object');
    }
    const texts = textsOf(body.input, options.maxInputs);
    if (body.model !== undefined && typeof body.model !== 'string') throw new HttpError(400, 'invalid_model', 'model must be a string', 'model');
    const model = openaiModel(pool, 'embed', body.model, options.modelName);
    const width = model.info?.dims;
    const format = body.encoding_format ?? 'base64';
    if (format !== 'float' && format !== 'base64') {
      throw new HttpError(400, 'invalid_encoding_format', `encoding_format must be "float" or "base64", received ${JSON.stringify(format)}`, 'encoding_format');
    }
    const dims = body.dimensions;
    if (dims !== undefined && !(typeof dims === 'number' && Number.isInteger(dims) && dims > 0)) {
      throw new HttpError(400, 'invalid_dimensions', 'dimensions must be a positive integer', 'dimensions');
    }
    // Shortened vectors (OpenAI's `dimensions`): the pool keeps the first `dims` components and
    // scales them back to unit length. Wider than the model is refused here when the width is
    // known, else by the pool (InvalidInputError, also a 400).
    if (dims !== undefined && width !== undefined && dims > width) {
      throw new HttpError(400, 'unsupported_dimensions', `this model answers ${width}-dimensional vectors; dimensions must be from 1 to ${width}`, 'dimensions');
    }
    const packed = await embedForRequest(pool, reply, texts, { model: model.name, ...(dims !== undefined && { dimensions: dims }) });
    const data = rows(packed).map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'float' ? Array.from(vector) : float32ToBase64(vector),
    }));
    return { object: 'list', data, model: answerName(pool, model, options.modelName), usage: { prompt_tokens: packed.tokens, total_tokens: packed.tokens } };
  };
  app.post('/v1/embeddings', { bodyLimit: options.bodyLimit }, embeddings);
  // TEI serves its OpenAI-compatible route at `/embeddings` too.
  app.post('/embeddings', { bodyLimit: options.bodyLimit }, embeddings);

  // Every model of the pool, by the name a request gives to pick it (the main model by its served
  // name), with its task: warmpool's own field.
  app.get('/v1/models', async () => ({
    object: 'list',
    data: pool.models.map((m) => ({ id: answerName(pool, m, options.modelName), object: 'model', created: 0, owned_by: 'warmpool', task: m.task })),
  }));
};
