// A custom model for warmpool: GloVe word vectors looked up by a raw onnxruntime-node session.
// warmpool imports this module once in each worker of the model and calls its default export;
// the handler it returns stays warm and gets the inputs of concurrent calls in one batch.
//
// Input: a word (string). Output: its vector (a Float32Array, moved to the caller, not copied),
// or null when the word is not in the vocabulary.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node'; // installed with @huggingface/transformers

/** @type {import('warmpool').TaskLoader<string, Float32Array | null>} */
export default async function load({ options, intraOpThreads, native }) {
  const folder = options.folder; // a model folder with tokenizer.json and onnx/model.onnx
  const vocab = JSON.parse(readFileSync(`${folder}/tokenizer.json`, 'utf8')).model.vocab;
  // Native work goes through native(): past loadTimeout the pool ends a stuck load, never inside it.
  const session = await native(() =>
    ort.InferenceSession.create(`${folder}/onnx/model.onnx`, {
      intraOpNumThreads: intraOpThreads, // the pool sizes this so workers x threads fit the cores
      interOpNumThreads: 1,
    }),
  );
  const idOf = (word) => vocab[word.toLowerCase()];

  return {
    // A bad input fails its own call only, before the batch runs.
    check(word) {
      if (typeof word !== 'string' || !/^\S+$/.test(word)) throw new TypeError('each input must be one word (a string without spaces)');
    },
    // One model run for the whole batch: input_ids [1, n] -> last_hidden_state [1, n, dims].
    async run(words) {
      const ids = words.map((w) => BigInt(idOf(w) ?? 0));
      const shape = [1, ids.length];
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), shape),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
      };
      const { last_hidden_state: out } = await session.run(feeds);
      const dims = out.dims[2];
      const data = out.data;
      // Fresh arrays: they are moved to the callers.
      return words.map((w, i) => (idOf(w) === undefined ? null : data.slice(i * dims, (i + 1) * dims)));
    },
    async dispose() {
      await session.release();
    },
  };
}
