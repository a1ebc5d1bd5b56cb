/**
 * Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json) for an
 * uncased BERT WordPiece tokenizer over a given vocabulary.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Ids 0..4, in this order, in every vocabulary built here. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

// What BertPreTokenizer splits on: whitespace, ASCII punctuation/symbols, Unicode
// punctuation. BertNormalizer also isolates CJK ideographs.
const SPLIT_CHAR = /[\s\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]/u;

/** Mirrors BertNormalizer with lowercase + strip_accents. */
export function normalizeLikeBert(text: string): string {
  return text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
}

/**
 * True if the word survives BertNormalizer + BertPreTokenizer as one whole
 * token. Other words (e.g. "so-called", "u.s.") could never be looked up
 * whole, so keeping them would only waste vocabulary slots.
 */
export function isWholeBertToken(word: string): boolean {
  if (word.length === 0 || normalizeLikeBert(word) !== word) return false;
  if ([...word].length === 1) return !/\s/u.test(word);
  if (/\p{Cc}|\p{Cf}/u.test(word)) return false;
  return !SPLIT_CHAR.test(word);
}

function addedToken(content: string, id: number) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** Writes tokenizer.json and tokenizer_config.json; `vocab` starts with SPECIAL_TOKENS. */
export function writeBertTokenizer(dir: string, vocab: readonly string[]): void {
  SPECIAL_TOKENS.forEach((t, i) => {
    if (vocab[i] !== t) throw new Error(`vocab[${i}] must be ${t}`);
  });
  const ids = new Map<string, number>();
  vocab.forEach((token, id) => {
    if (ids.has(token)) throw new Error(`duplicate vocabulary entry ${JSON.stringify(token)}`);
    ids.set(token, id);
  });
  const cls = ids.get('[CLS]');
  const sep = ids.get('[SEP]');

  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => addedToken(t, i)),
    // strip_accents: the vocabularies built here are unaccented, so "café" should find "cafe".
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: true, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(ids),
    },
  };

  const config = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    strip_accents: true,
    tokenize_chinese_chars: true,
    model_max_length: 512,
    clean_up_tokenization_spaces: true,
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    mask_token: '[MASK]',
    added_tokens_decoder: Object.fromEntries(
      SPECIAL_TOKENS.map((t, i) => {
        const { id: _id, ...rest } = addedToken(t, i);
        return [String(i), rest];
      }),
    ),
  };

  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
