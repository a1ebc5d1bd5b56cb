// The naive job: a fresh thread imports transformers.js, loads the model, embeds one text,
// posts the vector and is terminated by its parent. Every job pays the whole start-up again.
import { parentPort, workerData } from 'node:worker_threads';

const { env, pipeline } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.localModelPath = workerData.modelsDir;
const pipe = await pipeline('feature-extraction', workerData.model, {
  dtype: 'fp32',
  session_options: { intraOpNumThreads: 1, interOpNumThreads: 1 },
});
const out = await pipe(workerData.text, { pooling: 'mean', normalize: true });
parentPort.postMessage(out.data);
await pipe.dispose();
