import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MODELS_DIR, ROOT } from './helpers.js';
import { PREBUILT_TOKENIZER, loadPrebuiltTokenizer, prebuildTokenizer } from '../dist/workers/prebuilt-tokenizer.js';

type Tok = ((text: string | string[], options: Record<string, unknown>) => { input_ids: { data: BigInt64Array; dims: number[] }; attention_mask: { data: BigInt64Array } }) & {
  encode(text: string): number[];
  decode(ids: number[]): string;
  [key: string]: unknown;
};

const transformers = await import('@huggingface/transformers');
transformers.env.allowRemoteModels = false;
transformers.env.localModelPath = MODELS_DIR;
const tmp = mkdtempSync(join(tmpdir(), 'warmpool-prebuilt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Every sample document, line by line, and texts that take every path of WordPiece and the normaliser.
const texts = [
  ...readdirSync(`${ROOT}samples`).flatMap((f) => readFileSync(`${ROOT}samples/${f}`, 'utf8').split('\n')),
  'Hello, WORLD! naïve café Ünïcödé ＦＵＬＬＷＩＤＴＨ 東京タワー 🙂 tab\there',
  'unbelievably xylophonists antidisestablishmentarianism [CLS] [MASK] [SEP] [UNK] [PAD] ##ing',
  'a'.repeat(150),
  '',
];

describe('prebuilt tokenizer vocabulary', () => {
  for (const model of ['glove-100d', 'glove-rerank']) {
    it(`${model}: its file matches tokenizer.json, and it tokenizes and decodes exactly as tokenizer.json does`, async () => {
      const usual = (await transformers.AutoTokenizer.from_pretrained(model)) as unknown as Tok;
      const fast = (await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, join(MODELS_DIR, model))) as Tok | undefined;
      expect(fast, `${model}/${PREBUILT_TOKENIZER} is missing or stale: run npx tsx models/build-tokenizers.ts`).toBeDefined();
      for (const key of ['pad_token_id', 'unk_token_id', 'sep_token_id', 'mask_token_id', 'bos_token_id', 'eos_token_id', 'all_special_ids', 'model_max_length']) {
        expect(fast![key], key).toEqual(usual[key]);
      }
      for (const text of texts) {
        expect(fast!.encode(text), text).toEqual(usual.encode(text));
        expect(fast!.decode(fast!.encode(text)), text).toBe(usual.decode(usual.encode(text)));
      }
      // A padded, truncated batch, as the workers make.
      const options = { padding: true, truncation: true, max_length: 64 };
      const a = usual(texts, options);
      const b = fast!(texts, options);
      expect(b.input_ids.dims).toEqual(a.input_ids.dims);
      expect(Array.from(b.input_ids.data)).toEqual(Array.from(a.input_ids.data));
      expect(Array.from(b.attention_mask.data)).toEqual(Array.from(a.attention_mask.data));
    });
  }

  it('is not used once tokenizer.json changes, and is built only for a WordPiece vocabulary', async () => {
    const folder = join(tmp, 'changed');
    cpSync(join(MODELS_DIR, 'glove-100d'), folder, { recursive: true, filter: (src) => !src.includes('onnx') });
    expect(await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, folder)).toBeDefined();
    const json = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    json.model.vocab['brandnewword'] = Object.keys(json.model.vocab).length;
    writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(json));
    expect(await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, folder)).toBeUndefined();
    // Rebuilt, it is used again and knows the new word.
    expect(prebuildTokenizer(folder)).toBe(true);
    const fast = (await loadPrebuiltTokenizer(transformers as unknown as Record<string, unknown>, folder)) as Tok;
    expect(fast.encode('brandnewword')).toEqual([2, 50000, 3]);
    // A tokenizer of another kind gets no prebuilt file.
    const other = join(tmp, 'other');
    cpSync(folder, other, { recursive: true });
    rmSync(join(other, PREBUILT_TOKENIZER));
    writeFileSync(join(other, 'tokenizer.json'), JSON.stringify({ ...json, model: { type: 'BPE', vocab: {}, merges: [] } }));
    expect(prebuildTokenizer(other)).toBe(false);
    expect(readdirSync(other)).not.toContain(PREBUILT_TOKENIZER);
  });
});
