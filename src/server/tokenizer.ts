/**
 * The served model's tokenizer on the main thread, for TEI's `/tokenize` and `/decode`. The
 * workers tokenize their own texts; the server loads a tokenizer of its own only when one of
 * these routes is first asked, by importing transformers.js then (the main thread does not
 * import it otherwise), from the same place the workers load the model from.
 */
import { ModelLoadError } from '../errors.js';
import { resolveModel } from '../model.js';
import type { ModelSpec } from '../protocol.js';
import type { WarmPool } from '../pool.js';

/** One token of an input, in TEI's `SimpleToken` shape. `start`/`stop`: byte offsets into the input. */
export interface SimpleToken {
  id: number;
  text: string;
  special: boolean;
  start: number | null;
  stop: number | null;
}

/** The parts of transformers.js's tokenizer this module uses. */
interface LoadedTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  /** The tokenizer proper (`@huggingface/tokenizers`), which knows each id's token string. */
  _tokenizer?: { id_to_token?(id: number): string | undefined; model?: { config?: { type?: string; continuing_subword_prefix?: string } } };
}

export interface ServerTokenizer {
  tokenize(text: string, addSpecialTokens: boolean): SimpleToken[];
  decode(ids: number[], skipSpecialTokens: boolean): string;
}

const loaded = new WeakMap<WarmPool, { key: string; tokenizer: Promise<ServerTokenizer> }>();
/** transformers.js's `env` is module state: one load at a time sets it and reads with it. */
let chain: Promise<unknown> = Promise.resolve();

/** The pool's tokenizer, loaded on first use (again if the pool now serves another model). */
export function tokenizerOf(pool: WarmPool): Promise<ServerTokenizer> {
  const o = pool.options;
  const key = `${o.model}\0${o.cacheDir ?? ''}\0${o.allowRemoteModels}`;
  const cached = loaded.get(pool);
  if (cached?.key === key) return cached.tokenizer;
  const tokenizer = chain.then(() => load(resolveModel(o)));
  chain = tokenizer.catch(() => {});
  loaded.set(pool, { key, tokenizer });
  // A failed load is tried again on the next request, not remembered.
  tokenizer.catch(() => {
    if (loaded.get(pool)?.tokenizer === tokenizer) loaded.delete(pool);
  });
  return tokenizer;
}

async function load(spec: ModelSpec): Promise<ServerTokenizer> {
  try {
    const { env, AutoTokenizer } = await import('@huggingface/transformers');
    // As the workers set it (workers/engine.ts).
    env.allowRemoteModels = spec.allowRemoteModels;
    env.allowLocalModels = spec.localModelPath !== null;
    if (spec.localModelPath !== null) env.localModelPath = spec.localModelPath.endsWith('/') ? spec.localModelPath : `${spec.localModelPath}/`;
    if (spec.cacheDir !== undefined) env.cacheDir = spec.cacheDir;
    const tokenizer = (await AutoTokenizer.from_pretrained(spec.id)) as unknown as LoadedTokenizer;
    return wrap(tokenizer);
  } catch (error) {
    throw new ModelLoadError(`could not load the tokenizer of ${spec.label}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/** Each code point of `text` lower-cased and without accents, with where it came from. */
function normalized(text: string): { norm: string; from: number[]; to: number[] } {
  let norm = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const ch of text) {
    const n = ch.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    for (let k = 0; k < n.length; k++) {
      from.push(i);
      to.push(i + ch.length);
    }
    norm += n;
    i += ch.length;
  }
  return { norm, from, to };
}

const fold = (s: string): string => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

function wrap(t: LoadedTokenizer): ServerTokenizer {
  const inner = t._tokenizer;
  const model = inner?.model?.config;
  const prefix = model?.type === 'WordPiece' ? (model.continuing_subword_prefix ?? '##') : undefined;
  const tokenString = (id: number): string | undefined => inner?.id_to_token?.(id);
  /** What a token looks like in the text: its string without subword and space markers. */
  const surface = (id: number): string[] => {
    const out: string[] = [];
    let token = tokenString(id);
    if (token !== undefined) {
      if (prefix !== undefined && token.startsWith(prefix)) token = token.slice(prefix.length);
      out.push(token.replace(/^[\u2581\u0120]+/, '').trim());
    }
    out.push(t.decode([id], { skip_special_tokens: false }).trim());
    return out.filter((s) => s.length > 0);
  };

  return {
    tokenize(text, addSpecialTokens) {
      const ids = t.encode(text, { add_special_tokens: addSpecialTokens });
      // The tokens the text itself gave; the others (CLS, SEP, ...) the special tokens added around them.
      const plain = addSpecialTokens ? t.encode(text, { add_special_tokens: false }) : ids;
      let first = 0;
      while (first + plain.length <= ids.length && plain.some((id, k) => ids[first + k] !== id)) first++;
      if (first + plain.length > ids.length) first = 0;
      const { norm, from, to } = normalized(text);
      const bytes = (utf16: number): number => Buffer.byteLength(text.slice(0, utf16));
      let cursor = 0;
      return ids.map((id, k) => {
        const special = addSpecialTokens && (k < first || k >= first + plain.length);
        if (special) return { id, text: tokenString(id) ?? t.decode([id], { skip_special_tokens: false }), special, start: null, stop: null };
        for (const candidate of surface(id)) {
          const at = norm.indexOf(fold(candidate), cursor);
          if (at < 0) continue;
          const start = from[at]!;
          const stop = to[at + fold(candidate).length - 1]!;
          cursor = at + fold(candidate).length;
          return { id, text: text.slice(start, stop), special, start: bytes(start), stop: bytes(stop) };
        }
        // A token that is not in the text as it is (the unknown token): the next word.
        const rest = /\S+/u.exec(norm.slice(cursor));
        if (rest === null) return { id, text: tokenString(id) ?? '', special, start: null, stop: null };
        const at = cursor + rest.index;
        const start = from[at]!;
        const stop = to[at + rest[0].length - 1]!;
        cursor = at + rest[0].length;
        return { id, text: text.slice(start, stop), special, start: bytes(start), stop: bytes(stop) };
      });
    },
    decode(ids, skipSpecialTokens) {
      // As TEI's tokenizer: an id outside the vocabulary decodes to nothing.
      const known = inner?.id_to_token ? ids.filter((id) => tokenString(id) !== undefined) : ids;
      return t.decode(known, { skip_special_tokens: skipSpecialTokens });
    },
  };
}
