/**
 * Reading Text Embeddings Inference request bodies, with TEI's answers to bad ones: a malformed
 * or unknown value is a validation error (`422`, `Validation`), an empty batch or text an
 * `Empty` one (`400`), a batch larger than the server takes a validation error (`422`).
 */
import type { EmbedOptions } from '../../inputs.js';
import type { ModelStatus } from '../../options.js';
import type { WarmPool } from '../../pool.js';
import type { ModelInfo, ModelTask } from '../../types.js';
import { hasTask, modelFor } from '../context.js';
import { HttpError, TEI_CODES } from '../http-errors.js';

/** A TEI validation error (422): the request's data is not what the route takes. */
export function invalid(message: string, param: string | null = null, code = 'invalid_field'): HttpError {
  return new HttpError(422, code, message, param);
}

/** TEI's `Empty` error (400). */
export function empty(message: string, param: string | null = null): HttpError {
  return new HttpError(400, TEI_CODES.empty, message, param);
}

/** The body as a JSON object, else a validation error. */
export function objectBody(body: unknown, fields: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(422, 'invalid_body', `the body must be a JSON object with ${fields}`);
  }
  return body as Record<string, unknown>;
}

export function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean, received ${JSON.stringify(value)}`, name);
  return value;
}

/** TEI's batch limit: `batch size N > maximum allowed batch size M`, a validation error. */
export function checkBatch(size: number, maxInputs: number, param: string): void {
  if (size > maxInputs) {
    throw invalid(`batch size ${size} > maximum allowed batch size ${maxInputs}`, param, 'too_many_inputs');
  }
}

/**
 * TEI's `inputs` (`Input`): a string or an array of strings. TEI also takes token ids (an array
 * of integers, or an array of them); this server refuses them: the pool embeds text.
 */
export function inputTexts(inputs: unknown, maxInputs: number): string[] {
  if (inputs === undefined || inputs === null) throw invalid('inputs is required: a string or an array of strings', 'inputs', 'missing_input');
  if (typeof inputs === 'string') {
    if (inputs === '') throw empty('`inputs` cannot be empty', 'inputs');
    return [inputs];
  }
  if (!Array.isArray(inputs)) throw invalid('inputs must be a string or an array of strings', 'inputs', 'invalid_input');
  if (inputs.length === 0) throw empty('`inputs` cannot be empty', 'inputs');
  if (inputs.every((item) => Number.isInteger(item)) || inputs.some((item) => Array.isArray(item))) {
    throw invalid('token-id inputs are not supported by this server: send the text itself as a string or an array of strings', 'inputs', 'unsupported_input');
  }
  checkBatch(inputs.length, maxInputs, 'inputs');
  for (const item of inputs) {
    if (typeof item !== 'string') throw invalid('inputs must be a string or an array of strings', 'inputs', 'invalid_input');
    if (item === '') throw empty('`inputs` cannot be empty', 'inputs');
  }
  return inputs as string[];
}

/** `truncation_direction`: TEI takes `Left`/`left` and `Right`/`right`; the pool cuts on the right only. */
export function checkTruncationDirection(value: unknown): void {
  if (value === undefined || value === null || value === 'Right' || value === 'right') return;
  if (value === 'Left' || value === 'left') {
    throw invalid('truncation_direction "Left" is not supported by this server: texts are truncated on the right', 'truncation_direction', 'unsupported_truncation_direction');
  }
  throw invalid(`truncation_direction must be "Left" or "Right", received ${JSON.stringify(value)}`, 'truncation_direction');
}

/** `prompt_name`: a string or null (the pool checks that the model has that prompt). */
export function promptName(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid("prompt_name must be a string: the name of one of the model's prompts", 'prompt_name', 'invalid_prompt_name');
  return value;
}

/**
 * The text a prompt name stands for, as TEI resolves it: the named prompt, or the model's default
 * prompt when the request names none. An unknown name is a validation error listing the prompts.
 */
export function promptText(pool: WarmPool, name: string | undefined): string {
  const model = pool.model;
  const prompts = model?.prompts ?? {};
  const chosen = name ?? model?.defaultPrompt;
  if (chosen === undefined) return '';
  if (!Object.hasOwn(prompts, chosen)) {
    const known = Object.keys(prompts);
    throw invalid(`prompt_name ${JSON.stringify(chosen)} is not one of the model's prompts (${known.length > 0 ? known.join(', ') : 'it has none'})`, 'prompt_name', 'invalid_prompt_name');
  }
  return prompts[chosen]!;
}

/** TEI's `dimensions`: shortened vectors, an integer from 1 to the model's width; null or absent: full width. */
export function dimensions(model: ModelInfo | undefined, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(typeof value === 'number' && Number.isInteger(value) && value > 0)) throw invalid('dimensions must be a positive integer', 'dimensions', 'invalid_dimensions');
  if (model && value > model.dims) {
    throw invalid(`this model answers ${model.dims}-dimensional vectors; dimensions must be from 1 to ${model.dims}`, 'dimensions', 'unsupported_dimensions');
  }
  return value;
}

/**
 * What TEI answers when its model cannot do a route's task (`424`, `Backend`), in its words for
 * each task: here, when the pool has no model of that task.
 */
const NOT_A: Record<Exclude<ModelTask, 'custom'>, string> = {
  embed: 'Model is not an embedding model',
  rerank: 'model is not a re-ranker model',
  classify: 'Model is not a classifier model',
};

/**
 * The model a TEI route runs on. The request's `model` field (warmpool's own, not TEI's) names one
 * of the pool's models of the route's task (the main model also answers to its served name,
 * `modelName` or its folder's name); without it, the pool's first model of that task. A pool with no model of that task is answered as TEI answers a model that cannot do it (`424`,
 * `Backend`); a name the pool lacks, or a model of another task, `404` (`UnknownModelError`).
 */
export function teiModel(pool: WarmPool, task: Exclude<ModelTask, 'custom'>, value: unknown, modelName: string | undefined): ModelStatus {
  if (value !== undefined && value !== null && typeof value !== 'string') throw invalid("model must be a string: the name of one of the pool's models", 'model', 'invalid_model');
  if (!hasTask(pool, task)) throw new HttpError(424, TEI_CODES.unsupportedTask, NOT_A[task]);
  return modelFor(pool, task, (value ?? undefined) as string | undefined, modelName);
}



/** The options every TEI embedding route shares: `truncate` (default false), `truncation_direction`, `prompt_name`. */
export function embedOptions(body: Record<string, unknown>): Pick<EmbedOptions, 'truncate' | 'prompt'> {
  checkTruncationDirection(body.truncation_direction);
  const prompt = promptName(body.prompt_name);
  return { truncate: bool(body.truncate, 'truncate', false), ...(prompt !== undefined && { prompt }) };
}
