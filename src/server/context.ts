import { basename } from 'node:path';
import type { FastifyReply } from 'fastify';
import type { EmbedOptions } from '../inputs.js';
import type { WarmPool } from '../pool.js';
import type { PackedVectors } from '../types.js';
import type { ErrorFormat } from './http-errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error shape of the API the route imitates. @default 'openai' */
    errorFormat?: ErrorFormat;
    /** Answered without the API key (liveness and readiness probes). */
    public?: boolean;
  }
}

/** The name answers give the served model: `modelName`, else the model option's last segment. */
export function servedModelName(pool: WarmPool, modelName: string | undefined): string {
  return modelName ?? basename(pool.options.model.replace(/[\\/]+$/, ''));
}

/**
 * Runs one embedding call for a request, aborted when the client goes away before its answer is
 * written: a caller nobody waits for must not hold a worker.
 */
export async function embedForRequest(
  pool: WarmPool,
  reply: FastifyReply,
  texts: string[],
  options: Omit<EmbedOptions, 'signal'> = {},
): Promise<PackedVectors> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableEnded) controller.abort(new Error('the client closed the connection'));
  };
  reply.raw.once('close', onClose);
  try {
    return await pool.embedPacked(texts, { ...options, signal: controller.signal });
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** Vectors of one call as rows (views, no copy). */
export function rows(packed: PackedVectors): Float32Array[] {
  const [n, d] = packed.dims;
  return Array.from({ length: n }, (_, r) => packed.data.subarray(r * d, (r + 1) * d));
}
