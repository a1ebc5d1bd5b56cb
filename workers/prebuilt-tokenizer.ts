/**
 * A WordPiece tokenizer's vocabulary, prebuilt once with the model so that a worker does not parse
 * it on every load.
 *
 * transformers.js builds a tokenizer from `tokenizer.json`: it parses the whole file (for the
 * bundled glove-100d, 800 KB, nearly all of it the 50,000-entry vocabulary as one JSON object),
 * then turns that object into a Map (`Object.entries`) and an id-to-token array. That is most of a
 * glove worker's start-up CPU. `tokenizer.warmpool.json`, written beside `tokenizer.json` by
 * {@link prebuildTokenizer}, holds the same tokenizer with the vocabulary as one string of tokens in
 * id order (one a line): a worker builds the tokenizer from it with an empty vocabulary, then gives
 * its model the full one, built by one pass over the lines. It is used only while the SHA-256 of
 * `tokenizer.json` is the one it was built from; otherwise (or for any other tokenizer, or on any
 * doubt) the worker loads `tokenizer.json` the usual way.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file beside `tokenizer.json`. */
export const PREBUILT_TOKENIZER = 'tokenizer.warmpool.json';

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; unk_token?: string };
  [key: string]: unknown;
}

interface Prebuilt {
  format: 1;
  /** SHA-256 (hex) of the tokenizer.json this was built from. */
  source: string;
  /** tokenizer.json with an empty `model.vocab`. */
  tokenizer: TokenizerJson;
  /** The vocabulary: tokens in id order, joined by newlines. */
  vocab: string;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes `tokenizer.warmpool.json` for the model folder `folder`. Returns false (and writes
 * nothing) when its tokenizer is not one this applies to: a WordPiece vocabulary whose ids are
 * 0..n-1, with no token holding a newline.
 */
export function prebuildTokenizer(folder: string): boolean {
  const bytes = readFileSync(join(folder, 'tokenizer.json'));
  const json = JSON.parse(bytes.toString('utf8')) as TokenizerJson;
  const vocab = json.model?.vocab;
  if (json.model?.type !== 'WordPiece' || typeof vocab !== 'object' || vocab === null) return false;
  const tokens: string[] = [];
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0 || tokens[id] !== undefined || token.includes('\n')) return false;
    tokens[id] = token;
  }
  for (let id = 0; id < tokens.length; id++) if (tokens[id] === undefined) return false;
  const prebuilt: Prebuilt = { format: 1, source: sha256(bytes), tokenizer: { ...json, model: { ...json.model, vocab: {} } }, vocab: tokens.join('\n') };
  writeFileSync(join(folder, PREBUILT_TOKENIZER), `${JSON.stringify(prebuilt)}\n`);
  return true;
}

/** The parts of a transformers.js tokenizer this module touches. */
interface TokenizerModel {
  tokens_to_ids: Map<string, number>;
  vocab: string[];
  unk_token_id: number | undefined;
}

/**
 * The tokenizer of the model folder `folder`, from its prebuilt file; undefined when there is none
 * or it does not match `tokenizer.json` (the caller then loads the usual way).
 */
export async function loadPrebuiltTokenizer(transformers: Record<string, unknown>, folder: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(join(folder, PREBUILT_TOKENIZER), 'utf8');
  } catch {
    return undefined;
  }
  // Hashing tokenizer.json costs a few milliseconds; parsing it, the whole saving.
  const [source, configText] = await Promise.all([readFile(join(folder, 'tokenizer.json')), readFile(join(folder, 'tokenizer_config.json'), 'utf8')]);
  const prebuilt = JSON.parse(text) as Prebuilt;
  if (prebuilt.format !== 1 || prebuilt.source !== sha256(source)) return undefined;
  const config = JSON.parse(configText) as { tokenizer_class?: string };
  // As AutoTokenizer picks the class.
  const name = config.tokenizer_class?.replace(/Fast$/, '') ?? 'PreTrainedTokenizer';
  const Class = (transformers[name] ?? transformers.PreTrainedTokenizer) as new (json: unknown, config: unknown) => Record<string, unknown> & {
    _tokenizer?: { model?: TokenizerModel; token_to_id?(token: string): number | undefined };
  };
  if (typeof Class !== 'function') return undefined;
  const tokenizer = new Class(prebuilt.tokenizer, config);
  const model = tokenizer._tokenizer?.model;
  if (!model || !(model.tokens_to_ids instanceof Map) || !Array.isArray(model.vocab)) return undefined;
  const tokens = prebuilt.vocab.split('\n');
  const ids = new Map<string, number>();
  for (let id = 0; id < tokens.length; id++) ids.set(tokens[id]!, id);
  // The added tokens the constructor put in (ids of the vocabulary too, in a tokenizer.json that
  // the prebuilt file matches), then the vocabulary in place of the empty one.
  for (const [token, id] of model.tokens_to_ids) {
    if (ids.get(token) !== id) {
      ids.set(token, id);
      tokens[id] = token;
    }
  }
  model.tokens_to_ids = ids;
  model.vocab = tokens;
  model.unk_token_id = prebuilt.tokenizer.model?.unk_token === undefined ? undefined : ids.get(prebuilt.tokenizer.model.unk_token);
  // The constructor looked the special tokens' ids up in the empty vocabulary: again, in the full one.
  for (const special of ['mask', 'pad', 'sep', 'unk', 'bos', 'eos']) {
    const token = tokenizer[`${special}_token`];
    if (typeof token === 'string') tokenizer[`${special}_token_id`] = tokenizer._tokenizer!.token_to_id?.(token);
  }
  return tokenizer;
}
