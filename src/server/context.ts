import { basename } from 'node:path';
import type { FastifyReply } from 'fastify';
import { UnknownModelError } from '../errors.js';
import type { EmbedOptions } from '../inputs.js';
import { resolveModel } from '../model.js';
import type { ModelStatus } from '../options.js';
import type { WarmPool } from '../pool.js';
import type { ModelTask, PackedVectors } from '../types.js';
import type { ErrorFormat } from './http-errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error shape of the API the route imitates. @default 'openai' */
    errorFormat?: ErrorFormat;
    /** Answered without the API key (liveness and readiness probes). */
    public?: boolean;
  }
}

/**
 * The pool's main model, the one `/info` describes and `POST /` serves: its embedding model (the
 * one `pool.embed()` uses when a call names none), else its first model.
 */
export function mainModel(pool: WarmPool): ModelStatus {
  const models = pool.models;
  return models.find((m) => m.name === 'default' && m.task === 'embed') ?? models.find((m) => m.task === 'embed') ?? models[0]!;
}

/** A model's last path segment: its folder's name, never the folder's path. */
const lastSegment = (path: string): string => basename(path.replace(/[\\/]+$/, ''));

/**
 * A model's id as answers give it: the hub id of a hub model, the folder's name of a model on
 * disk, a custom model's module file name (never a path: answers do not describe the server's disk).
 */
export function publicModelId(model: ModelStatus): string {
  if (model.task === 'custom') return lastSegment(model.source);
  try {
    return resolveModel(model.options, { name: model.name, task: model.task, module: undefined, moduleOptions: undefined }).id;
  } catch {
    return lastSegment(model.options.model);
  }
}

/** The name answers give the served (main) model: `modelName`, else its model option's last segment. */
export function servedModelName(pool: WarmPool, modelName: string | undefined): string {
  return modelName ?? lastSegment(mainModel(pool).options.model);
}

/**
 * The name a model goes by in answers (`/v1/models`, the `model` field of OpenAI's answers): the
 * main model's served name, any other model's name in the pool.
 */
export function answerName(pool: WarmPool, model: ModelStatus, modelName: string | undefined): string {
  return model.name === mainModel(pool).name ? servedModelName(pool, modelName) : model.name;
}

/** Whether the pool has a model of `task`. */
export function hasTask(pool: WarmPool, task: ModelTask): boolean {
  return pool.models.some((m) => m.task === task);
}

/**
 * The model of `task` a request runs on: the one it names (by its name in the pool, or the main
 * model by its served name), else the pool's first of that task (for `embed`, the pool's embedding model). A name the pool lacks, or a
 * model of another task, is the pool's own `UnknownModelError` (404), with its message.
 */
export function modelFor(pool: WarmPool, task: ModelTask, name: string | undefined, modelName?: string): ModelStatus {
  const models = pool.models;
  let found = name === undefined ? (task === 'embed' ? mainModel(pool) : models.find((m) => m.task === task)) : models.find((m) => m.name === name);
  // The main model also answers to its served name, the one `/v1/models` and `/info` give it.
  if (found === undefined && name !== undefined && name === servedModelName(pool, modelName)) found = mainModel(pool);
  if (found && found.task === task) return found;
  const list = models.map((m) => `"${m.name}" (${m.task})`).join(', ');
  if (name === undefined) throw new UnknownModelError(`the pool has no ${task} model; its models are ${list}`);
  if (found) throw new UnknownModelError(`model "${name}" is a ${found.task} model, not a ${task} one; the pool's models are ${list}`);
  throw new UnknownModelError(`the pool has no model named ${JSON.stringify(name)}; its models are ${list}`);
}

/**
 * The model an OpenAI-style request (`/v1/embeddings`, `/v1/rerank`) runs on. Clients of these
 * APIs always send a model name, often one of the hosted service's (`text-embedding-3-small`,
 * `rerank-v3.5`): a name that is one of the pool's models of `task` picks it; the main model's
 * served name (`modelName`, or its folder's name) picks the main model; a model of the pool of
 * another task is a `404` (`UnknownModelError`); any other name runs on the pool's first model of
 * `task`, as this server always did. A pool with no model of `task`: `404`.
 */
export function openaiModel(pool: WarmPool, task: ModelTask, name: string | undefined, modelName: string | undefined): ModelStatus {
  if (name !== undefined && (pool.models.some((m) => m.name === name) || name === servedModelName(pool, modelName))) return modelFor(pool, task, name, modelName);
  return modelFor(pool, task, undefined);
}

/**
 * Runs `body` with a signal that fires when the client goes away before its answer is written:
 * a caller nobody waits for must not hold a worker.
 */
export async function whileConnected<T>(reply: FastifyReply, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableEnded) controller.abort(new Error('the client closed the connection'));
  };
  reply.raw.once('close', onClose);
  try {
    return await body(controller.signal);
  } finally {
    reply.raw.off('close', onClose);
  }
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
  return whileConnected(reply, (signal) => pool.embedPacked(texts, { ...options, signal }));
}

/** Vectors of one call as rows (views, no copy). */
export function rows(packed: PackedVectors): Float32Array[] {
  const [n, d] = packed.dims;
  return Array.from({ length: n }, (_, r) => packed.data.subarray(r * d, (r + 1) * d));
}
