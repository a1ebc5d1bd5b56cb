/**
 * TEI's `POST /tokenize` and `POST /decode`, with the served model's tokenizer, loaded on the main
 * thread the first time one of them is asked (see ../tokenizer.ts).
 */
import { HttpError, TEI_CODES } from '../http-errors.js';
import type { WarmpoolRoute } from '../options.js';
import { tokenizerOf } from '../tokenizer.js';
import { bool, checkBatch, empty, invalid, objectBody, promptName, promptText } from './tei-request.js';

/** The tokenizer failed on the input: TEI's `Tokenizer` error (422). */
function tokenizerError(error: unknown): HttpError {
  return new HttpError(422, TEI_CODES.tokenizer, `tokenizer error: ${(error as Error)?.message ?? String(error)}`);
}

const isId = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;

export const teiTokenize: WarmpoolRoute = async (app, { pool, options }) => {
  const route = { bodyLimit: options.bodyLimit, config: { errorFormat: 'tei' as const } };

  app.post('/tokenize', route, async (request) => {
    const body = objectBody(request.body, '"inputs"');
    const { inputs } = body;
    let texts: string[];
    if (typeof inputs === 'string') texts = [inputs];
    else if (Array.isArray(inputs) && inputs.every((s) => typeof s === 'string')) {
      if (inputs.length === 0) throw empty('`inputs` cannot be empty', 'inputs');
      checkBatch(inputs.length, options.maxInputs, 'inputs');
      texts = inputs as string[];
    } else throw invalid('inputs must be a string or an array of strings', 'inputs', 'invalid_input');
    if (texts.includes('')) throw empty('`inputs` cannot be empty', 'inputs');
    const addSpecialTokens = bool(body.add_special_tokens, 'add_special_tokens', true);
    const name = promptName(body.prompt_name);
    // The prompt (named, or the model's default) goes before each input, and the offsets count from
    // the start of the prompted text, as in TEI.
    // The prompts are known once the model is loaded (requests made earlier wait for it).
    if (pool.model === undefined) await pool.ready();
    const prompt = promptText(pool, name);
    const tokenizer = await tokenizerOf(pool);
    return texts.map((text) => {
      try {
        return tokenizer.tokenize(prompt + text, addSpecialTokens);
      } catch (error) {
        throw tokenizerError(error);
      }
    });
  });

  app.post('/decode', route, async (request) => {
    const body = objectBody(request.body, '"ids"');
    const { ids } = body;
    let batch: number[][];
    if (Array.isArray(ids) && ids.every(isId)) batch = [ids];
    else if (Array.isArray(ids) && ids.every((row) => Array.isArray(row) && row.every(isId))) {
      checkBatch(ids.length, options.maxInputs, 'ids');
      batch = ids as number[][];
    } else throw invalid('ids must be an array of token ids (non-negative integers) or an array of such arrays', 'ids', 'invalid_input');
    if (batch.some((row) => row.length === 0)) throw empty('`input_ids` cannot be empty', 'ids');
    const skipSpecialTokens = bool(body.skip_special_tokens, 'skip_special_tokens', true);
    const tokenizer = await tokenizerOf(pool);
    return batch.map((row) => {
      try {
        return tokenizer.decode(row, skipSpecialTokens);
      } catch (error) {
        throw tokenizerError(error);
      }
    });
  });
};
