// The hand-rolled pool's worker, as a user would write it for Piscina: load the transformers.js
// feature-extraction pipeline once per worker (top-level await), then embed whatever each task
// sends. The model comes from IDLE_MODEL (worker threads share the parent's environment).
import { threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { env, pipeline } from '@huggingface/transformers';

env.allowRemoteModels = false;
env.localModelPath = fileURLToPath(new URL('../../models/', import.meta.url));
const extractor = await pipeline('feature-extraction', process.env.IDLE_MODEL ?? 'glove-100d', { dtype: 'fp32' });

export default async function embed(texts) {
  const out = await extractor(texts, { pooling: 'mean', normalize: true });
  return { data: out.data, dims: out.dims, threadId };
}
