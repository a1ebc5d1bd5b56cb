/**
 * Text Embeddings Inference's routes for cross-encoders and classifiers: `POST /rerank` and
 * `POST /predict`, in TEI's shapes (v1.9.3) and with its errors. Each runs on the pool's first
 * model of its task, or on the one the request's `model` field names (warmpool's own field); a
 * pool without a model of that task answers as TEI does for a model that cannot (`424`, `Backend`).
 */
import type { FastifyReply } from 'fastify';
import type { WarmPool } from '../../pool.js';
import { whileConnected } from '../context.js';
import type { ResolvedServerOptions, WarmpoolRoute } from '../options.js';
import { bool, checkBatch, checkTruncationDirection, empty, invalid, objectBody, teiModel } from './tei-request.js';

type Handler = (request: { body: unknown }, reply: FastifyReply) => Promise<unknown>;

/**
 * `POST /rerank`: `{ query, texts, truncate?, truncation_direction?, raw_scores?, return_text?,
 * model? }` answers `[{ index, score, text? }]`, best first. As in TEI, `truncate` defaults to
 * `false` (a pair longer than the model takes is a `422`), scores are sigmoid(logit) unless
 * `raw_scores`.
 */
export function rerankHandler(pool: WarmPool, options: ResolvedServerOptions): Handler {
  return async (request, reply) => {
    // In TEI's order: a malformed body (422), a model that cannot rerank (424), then no texts
    // (400) or too many (422).
    const body = objectBody(request.body, '"query" and "texts"');
    if (typeof body.query !== 'string') throw invalid('query is required: a string', 'query', 'missing_input');
    const texts = body.texts;
    if (!Array.isArray(texts)) throw invalid('texts is required: an array of strings', 'texts', 'missing_input');
    if (texts.some((t) => typeof t !== 'string')) throw invalid('texts must be an array of strings', 'texts', 'invalid_input');
    checkTruncationDirection(body.truncation_direction);
    const truncate = bool(body.truncate, 'truncate', false);
    const rawScores = bool(body.raw_scores, 'raw_scores', false);
    const returnText = bool(body.return_text, 'return_text', false);
    const model = teiModel(pool, 'rerank', body.model, options.modelName);
    if (texts.length === 0) throw empty('`texts` cannot be empty', 'texts');
    checkBatch(texts.length, options.maxInputs, 'texts');
    if (body.query === '' || texts.includes('')) throw empty('`inputs` cannot be empty', body.query === '' ? 'query' : 'texts');
    const ranked = await whileConnected(reply, (signal) =>
      pool.rerank(body.query as string, texts as string[], { model: model.name, truncate, rawScores, returnDocuments: returnText, signal }),
    );
    return ranked.map((r) => (returnText ? { index: r.index, score: r.score, text: r.document } : { index: r.index, score: r.score }));
  };
}

/**
 * TEI's `PredictInput`: a text; a pair `[a, b]` (two texts for a classifier of pairs); or a batch,
 * an array whose items are texts, one-text arrays or pairs (an array of strings of any other
 * length is a batch of texts, as TEI reads it). Answers the texts and whether it was a batch.
 * Pairs are refused: the pool classifies single texts.
 */
function predictInputs(inputs: unknown, maxInputs: number): { texts: string[]; batch: boolean } {
  const pairRefused = () =>
    invalid('text pairs are not supported by this server: its classifiers take one text per input (use /rerank to score a query against texts)', 'inputs', 'unsupported_input');
  if (inputs === undefined || inputs === null) throw invalid('inputs is required: a string or an array of them', 'inputs', 'missing_input');
  if (typeof inputs === 'string') {
    if (inputs === '') throw empty('`inputs` cannot be empty', 'inputs');
    return { texts: [inputs], batch: false };
  }
  if (!Array.isArray(inputs)) throw invalid('inputs must be a string, a pair of strings or an array of them', 'inputs', 'invalid_input');
  if (inputs.length === 2 && inputs.every((i) => typeof i === 'string')) throw pairRefused();
  if (inputs.length === 0) throw empty('`inputs` cannot be empty', 'inputs');
  checkBatch(inputs.length, maxInputs, 'inputs');
  const texts = inputs.map((item) => {
    if (Array.isArray(item) && item.length === 2 && item.every((i) => typeof i === 'string')) throw pairRefused();
    const text = Array.isArray(item) && item.length === 1 ? item[0] : item;
    if (typeof text !== 'string') throw invalid('inputs must be a string, a pair of strings or an array of them', 'inputs', 'invalid_input');
    if (text === '') throw empty('`inputs` cannot be empty', 'inputs');
    return text;
  });
  return { texts, batch: true };
}

/**
 * `POST /predict`: `{ inputs, truncate?, truncation_direction?, raw_scores?, model? }` answers
 * `[{ label, score }]` best first for one input, a list of those for a batch. Scores are
 * probabilities (softmax over the labels; a sigmoid each for a multi-label model) unless `raw_scores`.
 */
export function predictHandler(pool: WarmPool, options: ResolvedServerOptions): Handler {
  return async (request, reply) => {
    const body = objectBody(request.body, '"inputs"');
    const { texts, batch } = predictInputs(body.inputs, options.maxInputs);
    checkTruncationDirection(body.truncation_direction);
    const truncate = bool(body.truncate, 'truncate', false);
    const rawScores = bool(body.raw_scores, 'raw_scores', false);
    const model = teiModel(pool, 'classify', body.model, options.modelName);
    const labels = await whileConnected(reply, (signal) => pool.classify(texts, { model: model.name, truncate, rawScores, signal }));
    return batch ? labels : labels[0];
  };
}

export const teiRerank: WarmpoolRoute = async (app, { pool, options }) => {
  const route = { bodyLimit: options.bodyLimit, config: { errorFormat: 'tei' as const } };
  app.post('/rerank', route, rerankHandler(pool, options));
  app.post('/predict', route, predictHandler(pool, options));
};
