/**
 * The shapes of Text Embeddings Inference's answers (v1.9), written here as small JSON schemas
 * (field names, types, which fields are required: facts read from TEI's API and router source),
 * and a check of a real answer against the shape TEI gives for that route and status, with ajv.
 * Extra fields are allowed, as TEI's schemas allow them (this server adds `code` to its errors).
 */
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';

const uint = { type: 'integer', minimum: 0 };
const floats = { type: 'array', items: { type: 'number' } };
const classifier = {
  type: 'object',
  required: ['id2label', 'label2id'],
  properties: { id2label: { type: 'object', additionalProperties: { type: 'string' } }, label2id: { type: 'object', additionalProperties: uint } },
};

/** TEI's error types, and the status its router sends with each. */
export const TEI_ERROR_STATUS = { Unhealthy: 503, Backend: 424, Overloaded: 429, Validation: 422, Tokenizer: 422, Empty: 400 } as const;

export const TEI_SCHEMAS: Record<string, SchemaObject> = {
  ErrorResponse: {
    type: 'object',
    required: ['error', 'error_type'],
    properties: { error: { type: 'string' }, error_type: { enum: Object.keys(TEI_ERROR_STATUS) } },
  },
  EmbedResponse: { type: 'array', items: floats },
  EmbedAllResponse: { type: 'array', items: { type: 'array', items: floats } },
  EmbedSparseResponse: {
    type: 'array',
    items: { type: 'array', items: { type: 'object', required: ['index', 'value'], properties: { index: uint, value: { type: 'number' } } } },
  },
  SimilarityResponse: floats,
  RerankResponse: {
    type: 'array',
    items: { type: 'object', required: ['index', 'score'], properties: { index: uint, score: { type: 'number' }, text: { type: 'string' } } },
  },
  PredictResponse: {
    anyOf: [{ $ref: '#/definitions/labels' }, { type: 'array', items: { $ref: '#/definitions/labels' } }],
    definitions: {
      labels: {
        type: 'array',
        items: { type: 'object', required: ['label', 'score'], properties: { label: { type: 'string' }, score: { type: 'number' } } },
      },
    },
  },
  TokenizeResponse: {
    type: 'array',
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'text', 'special'],
        properties: {
          id: uint,
          text: { type: 'string' },
          special: { type: 'boolean' },
          start: { anyOf: [uint, { type: 'null' }] },
          stop: { anyOf: [uint, { type: 'null' }] },
        },
      },
    },
  },
  DecodeResponse: { type: 'array', items: { type: 'string' } },
  Info: {
    type: 'object',
    required: [
      'model_id',
      'model_dtype',
      'served_model_name',
      'model_type',
      'max_concurrent_requests',
      'max_input_length',
      'max_batch_tokens',
      'max_client_batch_size',
      'auto_truncate',
      'tokenization_workers',
      'version',
    ],
    properties: {
      model_id: { type: 'string' },
      model_sha: { type: ['string', 'null'] },
      model_dtype: { type: 'string' },
      served_model_name: { type: 'string' },
      model_type: {
        oneOf: [
          { type: 'object', required: ['embedding'], properties: { embedding: { type: 'object', required: ['pooling'], properties: { pooling: { type: 'string' } } } } },
          { type: 'object', required: ['classifier'], properties: { classifier } },
          { type: 'object', required: ['reranker'], properties: { reranker: classifier } },
        ],
      },
      max_concurrent_requests: uint,
      max_input_length: uint,
      max_batch_tokens: uint,
      max_batch_requests: { anyOf: [uint, { type: 'null' }] },
      max_client_batch_size: uint,
      auto_truncate: { type: 'boolean' },
      tokenization_workers: uint,
      version: { type: 'string' },
      sha: { type: ['string', 'null'] },
      docker_label: { type: ['string', 'null'] },
    },
  },
  OpenAICompatResponse: {
    type: 'object',
    required: ['object', 'data', 'model', 'usage'],
    properties: {
      object: { type: 'string' },
      model: { type: 'string' },
      data: {
        type: 'array',
        items: {
          type: 'object',
          required: ['object', 'embedding', 'index'],
          properties: { object: { type: 'string' }, index: uint, embedding: { anyOf: [floats, { type: 'string' }] } },
        },
      },
      usage: { type: 'object', required: ['prompt_tokens', 'total_tokens'], properties: { prompt_tokens: uint, total_tokens: uint } },
    },
  },
};

/** The schema of each route's successful answer. */
export const TEI_ROUTES: Record<string, keyof typeof TEI_SCHEMAS> = {
  'POST /embed': 'EmbedResponse',
  'POST /': 'EmbedResponse',
  'POST /invocations': 'EmbedResponse',
  'POST /embed_all': 'EmbedAllResponse',
  'POST /embed_sparse': 'EmbedSparseResponse',
  'POST /similarity': 'SimilarityResponse',
  'POST /rerank': 'RerankResponse',
  'POST /predict': 'PredictResponse',
  'POST /tokenize': 'TokenizeResponse',
  'POST /decode': 'DecodeResponse',
  'GET /info': 'Info',
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = new Map(Object.entries(TEI_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)]));

const describe = (errors: ErrorObject[] | null | undefined): string[] => (errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message ?? e.keyword}`);

/**
 * What is wrong with `body` as TEI's answer to `route` (`'POST /embed'`) with `status`: a 2xx is
 * checked against the route's answer schema (or `schema`, for `POST /` of a reranker or
 * classifier, which TEI answers as `/rerank` or `/predict`), anything else against TEI's error shape; an error
 * with a status TEI sends (400, 422, 424, 429, 503) must carry the error type TEI sends it with.
 * Empty when nothing is.
 */
export function teiProblems(route: string, status: number, body: unknown, schema?: keyof typeof TEI_SCHEMAS): string[] {
  if (status >= 200 && status < 300) {
    const name = schema ?? TEI_ROUTES[route];
    if (name === undefined) return [`no TEI schema for ${route}`];
    const validate = validators.get(name)!;
    return validate(body) ? [] : describe(validate.errors).map((p) => `${name}: ${p}`);
  }
  const validate = validators.get('ErrorResponse')!;
  if (!validate(body)) return describe(validate.errors).map((p) => `ErrorResponse: ${p}`);
  const type = (body as { error_type: keyof typeof TEI_ERROR_STATUS }).error_type;
  const sent = Object.values(TEI_ERROR_STATUS) as number[];
  if (sent.includes(status) && TEI_ERROR_STATUS[type] !== status) return [`error_type ${type} comes with ${TEI_ERROR_STATUS[type]} in TEI, not ${status}`];
  return [];
}
