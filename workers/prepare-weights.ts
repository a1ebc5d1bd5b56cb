/**
 * Prepares a model for shared weights, in a process of its own (see shared-weights.ts): onnxruntime
 * loads the model once, optimises it as every worker's session would, and writes the optimised
 * graph with every large initializer, the matrix-multiply weights already prepacked included, into
 * an external data file beside it. Sessions created later from that file map the weights from the
 * page cache instead of copying and prepacking them onto their own heap.
 *
 * A process rather than a thread: onnxruntime's allocations while optimising stay out of the pool's
 * heaps, and a crash (an abort in native code) costs this process, not the pool.
 *
 * Usage: node prepare-weights.js <source.onnx> <out.onnx> <data file name>
 * Prints one line of JSON: `{ "ok": true, "ms": ... }` or `{ "ok": false, "error": "..." }`.
 */
import { performance } from 'node:perf_hooks';

const [source, out, dataName] = process.argv.slice(2);

async function main(): Promise<void> {
  if (!source || !out || !dataName) throw new Error('usage: prepare-weights <source.onnx> <out.onnx> <data file name>');
  const ort = (await import('onnxruntime-node')).default;
  const began = performance.now();
  const session = await ort.InferenceSession.create(source, {
    // The level every worker's session runs at (onnxruntime's default, which transformers.js keeps).
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    optimizedModelFilePath: out,
    extra: {
      session: {
        save_external_prepacked_constant_initializers: '1',
        optimized_model_external_initializers_file_name: dataName,
        optimized_model_external_initializers_min_size_in_bytes: '1024',
      },
    },
  });
  const ms = performance.now() - began;
  const inputs = session.inputNames;
  await session.release();
  process.stdout.write(`${JSON.stringify({ ok: true, ms, inputs })}\n`);
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) })}\n`);
  process.exitCode = 1;
});
