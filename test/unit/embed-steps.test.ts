/**
 * The steps of a worker's embed, on plain data: no worker thread, no model. A token is a word
 * here (`words`), and a run's hidden states are numbers chosen by hand.
 */
import { describe, expect, it } from 'vitest';
import {
  AnswerBuilder,
  RunClock,
  callStarts,
  clipText,
  fitToBudget,
  planTask,
  readMask,
  runEnd,
  runTexts,
  writeRun,
} from '../../dist/workers/embed-steps.js';
import { normalizeRow, poolRow } from '../../dist/workers/pooling.js';
import { CALL_CLS, CALL_NORMALIZE, CALL_TRUNCATE, PACKED_CALL_BYTES } from '../../dist/src/protocol.js';

/** Tokens of a text: its words, plus the two special tokens a BERT tokenizer adds. */
const words = (text: string): number => text.split(/\s+/).filter(Boolean).length + 2;
const noClip = (text: string): string => text;
const MEAN_NORM = CALL_TRUNCATE | CALL_NORMALIZE;
const calls = (...pairs: [count: number, flags: number][]): Int32Array => Int32Array.from(pairs.flat());

describe('planTask', () => {
  it('gives each text its call, and fails alone a call with truncate off and a text over the limit', () => {
    const texts = ['a b', 'c', 'a b c d e f', 'g'];
    // maxTokens 5: 'a b c d e f' makes 8 tokens. Call 1 has truncate off; call 2 has it on.
    const plan = planTask(texts, calls([1, MEAN_NORM], [2, CALL_NORMALIZE], [1, MEAN_NORM]), 5, words, noClip);
    expect(Array.from(plan.owner)).toEqual([0, -1, -1, 2]);
    expect(plan.errors.map(([c, e]) => [c, e.code])).toEqual([[1, 'ERR_WARMPOOL_INVALID_INPUT']]);
    expect(plan.errors[0]![1].message).toContain('input[1] has 8 tokens; the model takes at most 5');
    expect(Array.from(plan.callStart)).toEqual([0, 1, 3, 4]);
    // The failed call's texts are not run.
    expect(plan.unique.sort()).toEqual([0, 3]);
  });

  it('runs each distinct text once, shortest first, and keeps its repeats, across calls', () => {
    const texts = ['a long text here', 'short', 'a long text here', 'mid text', 'short'];
    const plan = planTask(texts, calls([3, MEAN_NORM], [2, MEAN_NORM | CALL_CLS]), 512, words, noClip);
    expect(plan.unique).toEqual([1, 3, 0]);
    expect(plan.copies).toEqual(
      new Map([
        [0, [2]],
        [1, [4]],
      ]),
    );
    expect(runTexts(plan.unique, plan.input, 0, 3)).toEqual(['short', 'mid text', 'a long text here']);
  });

  it('has no map of repeats when no text repeats', () => {
    expect(planTask(['a', 'b'], calls([2, MEAN_NORM]), 512, words, noClip).copies).toBeUndefined();
  });

  it('clips only texts longer than 16 characters a token allowed', () => {
    const clipped: string[] = [];
    const clip = (text: string): string => {
      clipped.push(text);
      return text.slice(0, 20);
    };
    const huge = 'x '.repeat(100);
    const plan = planTask(['short', huge], calls([2, MEAN_NORM]), 4, words, clip);
    expect(clipped).toEqual([huge]);
    expect(plan.input[1]).toBe(huge.slice(0, 20));
    expect(plan.input[0]).toBe('short');
  });
});

describe('callStarts', () => {
  it('is where each call starts, then the total', () => {
    expect(Array.from(callStarts(calls([2, 0], [0, 0], [3, 0])))).toEqual([0, 2, 2, 5]);
  });
});

describe('runEnd and fitToBudget: the size of a model run', () => {
  const input = ['a', 'bb', 'x'.repeat(40), 'y'.repeat(40), 'z'.repeat(400)];
  const unique = [0, 1, 2, 3, 4];

  it('takes at most batchSize texts', () => {
    expect(runEnd(unique, input, 0, 2, 8192, 512)).toBe(2);
    expect(runEnd(unique, input, 3, 32, 8192, 512)).toBe(5);
  });

  it('stops before the estimated padded tokens pass the budget, but always takes one text', () => {
    // Estimates (length / 4 + 2): 2, 2, 12, 12, 102. With a third text every row would pad to 12
    // tokens: 36, past 30. Two of 12 make 24; the one of 102 runs alone.
    expect(runEnd(unique, input, 0, 32, 30, 512)).toBe(2);
    expect(runEnd(unique, input, 2, 32, 30, 512)).toBe(4);
    expect(runEnd(unique, input, 4, 32, 30, 512)).toBe(5);
  });

  it('shrinks a tokenized run that came out over the budget to the texts that fit', () => {
    expect(fitToBudget(8, 100, 8192)).toBe(8);
    expect(fitToBudget(8, 100, 350)).toBe(3);
    expect(fitToBudget(8, 1000, 350)).toBe(1);
    expect(fitToBudget(1, 1000, 350)).toBe(1);
  });
});

describe('readMask', () => {
  it('reads an int64 mask into bytes and counts each row\'s tokens', () => {
    const { mask, tokens } = readMask(BigInt64Array.from([1n, 1n, 1n, 1n, 0n, 0n]), 2, 3);
    expect(Array.from(mask)).toEqual([1, 1, 1, 1, 0, 0]);
    expect(tokens).toEqual([3, 1]);
  });
});

describe('poolRow and normalizeRow', () => {
  // Two rows of three tokens of width 2; row 1's last token is padding.
  const hidden = [1, 2, 3, 4, 5, 6, /* row 1 */ 2, 0, 4, 0, 100, 100];
  const mask = Uint8Array.from([1, 1, 1, 1, 1, 0]);

  it('averages the tokens the mask keeps, or takes the first', () => {
    const out = new Float32Array(4);
    poolRow(hidden, mask, 0, 3, 2, 'mean', out, 0, new Float64Array(2));
    poolRow(hidden, mask, 1, 3, 2, 'mean', out, 2, new Float64Array(2));
    expect(Array.from(out)).toEqual([3, 4, 3, 0]);
    poolRow(hidden, mask, 1, 3, 2, 'cls', out, 0, new Float64Array(2));
    expect(Array.from(out.subarray(0, 2))).toEqual([2, 0]);
  });

  it('lasttoken takes the last token the mask keeps (padding skipped)', () => {
    const out = new Float32Array(4);
    poolRow(hidden, mask, 0, 3, 2, 'lasttoken', out, 0, new Float64Array(2));
    poolRow(hidden, mask, 1, 3, 2, 'lasttoken', out, 2, new Float64Array(2));
    expect(Array.from(out)).toEqual([5, 6, 4, 0]);
  });

  it('scales a row to unit length, and leaves a zero row zero', () => {
    const data = Float32Array.from([9, 3, 4, 0, 0]);
    normalizeRow(data, 1, 2);
    normalizeRow(data, 3, 2);
    expect(Array.from(data)).toEqual([9, Math.fround(0.6), Math.fround(0.8), 0, 0]);
  });
});

describe('AnswerBuilder', () => {
  it('lays small calls out in one shared buffer and gives a large call its own', () => {
    const dims = 4;
    const large = PACKED_CALL_BYTES / 4 / dims + 1;
    const out = new AnswerBuilder(calls([2, 0], [large, 0], [1, 0]), 3 + large, dims);
    out.setWidth(dims);
    const small0 = out.rows(0);
    const small2 = out.rows(2);
    const big = out.rows(1);
    expect(small0.buffer).toBe(small2.buffer);
    expect(small0.length).toBe(8);
    expect(big.buffer).not.toBe(small0.buffer);
    expect(big.length).toBe(large * dims);
    const answer = out.answer([], 512);
    expect(answer.packed!.length).toBe(12);
    expect(answer.vectors[0]).toBeNull();
    expect(answer.vectors[1]).toBe(big);
    expect(answer.width).toBe(dims);
  });

  it('drops the shared layout when the model turns out wider than its config said', () => {
    const out = new AnswerBuilder(calls([1, 0]), 1, 4);
    out.setWidth(6);
    expect(out.rows(0).length).toBe(6);
    const answer = out.answer([], 512);
    expect(answer.packed).toBeNull();
    expect(answer.vectors[0]!.length).toBe(6);
  });

  it('sends no vectors for a failed call', () => {
    const out = new AnswerBuilder(calls([1, 0], [1, 0]), 2, 0);
    out.setWidth(2);
    out.rows(0);
    const answer = out.answer([[1, { code: 'ERR_WARMPOOL_INVALID_INPUT', message: 'too long' }]], 512);
    expect(answer.vectors[0]).not.toBeNull();
    expect(answer.vectors[1]).toBeNull();
  });
});

describe('writeRun', () => {
  it('pools each distinct text once and gives its repeats a copy, or their own pooling', () => {
    // Call 0: 'a', 'b' (mean, normalised); call 1: 'a' again, same options; call 2: 'a' again, cls and raw.
    const texts = ['a', 'b', 'a', 'a'];
    const shape = calls([2, MEAN_NORM], [1, MEAN_NORM], [1, CALL_TRUNCATE | CALL_CLS]);
    const plan = planTask(texts, shape, 512, words, noClip);
    expect(plan.unique).toEqual([0, 1]);
    // The run: rows 'a' and 'b', three tokens each, width 2; 'b' has one padding token.
    const hidden = [3, 0, 3, 4, 3, 8, /* b */ 0, 2, 0, 4, 50, 50];
    const { mask, tokens } = readMask(BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n]), 2, 3);
    const out = new AnswerBuilder(shape, texts.length, 2);
    out.setWidth(2);
    writeRun(plan, shape, 0, 2, hidden, mask, 3, tokens, out, new Float64Array(2));
    const answer = out.answer(plan.errors, 512);
    // Packed in call order: call 0's two rows, call 1's, call 2's.
    const rows = Array.from(answer.packed!).map((x) => Math.round(x * 1e6) / 1e6);
    expect(rows).toEqual([0.6, 0.8, 0, 1, 0.6, 0.8, 3, 0]);
    expect(Array.from(answer.tokens)).toEqual([3, 2, 3, 3]);
  });
});

describe('clipText', () => {
  it('returns a short text as it is', () => {
    expect(clipText('a b c', 4, words)).toBe('a b c');
  });

  it('cuts a huge text at a space, to a prefix that holds more tokens than the limit', () => {
    const text = 'word '.repeat(1000);
    const prefix = clipText(text, 8, words);
    expect(prefix.length).toBeLessThan(text.length);
    expect(text.startsWith(prefix)).toBe(true);
    expect(prefix.endsWith('word')).toBe(true);
    expect(words(prefix)).toBeGreaterThan(9);
  });
});

describe('RunClock: the batch lane run size', () => {
  it('keeps the whole budget until it has measured a run, and for batchRunMs 0', () => {
    const clock = new RunClock();
    expect(clock.tokensFor(250, 8192)).toBe(8192);
    // A tiny run (the warm-up) is mostly fixed cost: not counted.
    clock.observe(8, 5);
    expect(clock.tokensFor(250, 8192)).toBe(8192);
    clock.observe(4096, 409.6);
    expect(clock.tokensFor(0, 8192)).toBe(8192);
  });

  it('gives the tokens a run of about batchRunMs holds, between 1,024 (or the budget) and the budget', () => {
    const clock = new RunClock();
    clock.observe(4096, 409.6); // 0.1 ms a padded token
    expect(clock.tokensFor(250, 8192)).toBe(2500);
    expect(clock.tokensFor(10_000, 8192)).toBe(8192);
    expect(clock.tokensFor(20, 8192)).toBe(1024);
    expect(clock.tokensFor(20, 512)).toBe(512);
  });

  it('cuts only the batch lane: an interactive task keeps its whole budget', () => {
    const clock = new RunClock();
    clock.observe(4096, 409.6);
    expect(clock.budget({ lane: 1, batchRunMs: 250, maxBatchTokens: 8192 })).toBe(2500);
    expect(clock.budget({ lane: 0, batchRunMs: 250, maxBatchTokens: 8192 })).toBe(8192);
    expect(clock.budget({ lane: 1, batchRunMs: 0, maxBatchTokens: 8192 })).toBe(8192);
  });

  it('follows the machine: runs that take longer make the next runs smaller', () => {
    const clock = new RunClock();
    clock.observe(4096, 409.6);
    const before = clock.tokensFor(250, 8192);
    for (let i = 0; i < 10; i++) clock.observe(4096, 819.2);
    expect(clock.tokensFor(250, 8192)).toBeLessThan(before * 0.6);
    expect(clock.tokensFor(250, 8192)).toBeGreaterThanOrEqual(1250);
  });
});
