/**
 * `POST /v1/rerank` (and `POST /v2/rerank`), in the shape Cohere's rerank API and the APIs that
 * copy it (Jina, and the rerank clients of LangChain and LlamaIndex) speak:
 * `{ model?, query, documents, top_n?, return_documents? }` answers
 * `{ id, model, results: [{ index, relevance_score, document?: { text } }] }`, best first.
 * Errors are in OpenAI's shape, as on every `/v1` route.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerName, openaiModel, whileConnected } from '../context.js';
import { HttpError } from '../http-errors.js';
import type { WarmpoolRoute } from '../options.js';

const bad = (message: string, param: string, code = 'invalid_field') => new HttpError(400, code, message, param);

/** Cohere's `documents`: strings, or objects with a `text` (their other fields are kept in the answer). */
function documentTexts(documents: unknown, maxInputs: number): { texts: string[]; given: unknown[] } {
  if (documents === undefined) throw bad('documents is required: an array of strings or of { text } objects', 'documents', 'missing_input');
  if (!Array.isArray(documents)) throw bad('documents must be an array of strings or of { text } objects', 'documents', 'invalid_input');
  if (documents.length === 0) throw bad('documents must not be empty', 'documents', 'invalid_input');
  if (documents.length > maxInputs) {
    throw bad(`documents has ${documents.length} items; this server takes at most ${maxInputs} per request`, 'documents', 'too_many_inputs');
  }
  const texts = documents.map((doc, i) => {
    if (typeof doc === 'string') return doc;
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc) && typeof (doc as { text?: unknown }).text === 'string') return (doc as { text: string }).text;
    throw bad(`documents[${i}] must be a string or an object with a "text" string`, 'documents', 'invalid_input');
  });
  return { texts, given: documents };
}

function optionalBool(value: unknown, name: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw bad(`${name} must be a boolean`, name);
  return value;
}

export const cohereRerank: WarmpoolRoute = async (app, { pool, options }) => {
  const rerank = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'invalid_body', 'the body must be a JSON object with "query" and "documents"');
    if (body.model !== undefined && body.model !== null && typeof body.model !== 'string') throw bad('model must be a string', 'model', 'invalid_model');
    if (typeof body.query !== 'string') throw bad('query is required: a string', 'query', body.query === undefined ? 'missing_input' : 'invalid_input');
    const { texts, given } = documentTexts(body.documents, options.maxInputs);
    const topN = body.top_n ?? undefined;
    if (topN !== undefined && !(typeof topN === 'number' && Number.isInteger(topN) && topN >= 1)) throw bad('top_n must be a positive integer', 'top_n');
    const returnDocuments = optionalBool(body.return_documents, 'return_documents');
    // The documents' text is what is ranked: other fields cannot be.
    const rankFields = body.rank_fields;
    if (rankFields !== undefined && rankFields !== null && !(Array.isArray(rankFields) && rankFields.every((f) => f === 'text'))) {
      throw bad('rank_fields is not supported by this server: documents are ranked by their "text"', 'rank_fields', 'unsupported_field');
    }
    const model = openaiModel(pool, 'rerank', (body.model ?? undefined) as string | undefined, options.modelName);
    // As Cohere does, a document longer than the model takes is cut to fit, not refused.
    const ranked = await whileConnected(reply, (signal) =>
      pool.rerank(body.query as string, texts, { model: model.name, truncate: true, signal, ...(topN !== undefined && { topN: topN as number }) }),
    );
    const results = ranked.map((r) => {
      const doc = given[r.index];
      const document = typeof doc === 'string' ? { text: doc } : doc;
      return returnDocuments ? { index: r.index, relevance_score: r.score, document } : { index: r.index, relevance_score: r.score };
    });
    return { id: randomUUID(), model: answerName(pool, model, options.modelName), results };
  };
  app.post('/v1/rerank', { bodyLimit: options.bodyLimit }, rerank);
  // Cohere's v2 client posts the same request (without return_documents) here.
  app.post('/v2/rerank', { bodyLimit: options.bodyLimit }, rerank);
};
