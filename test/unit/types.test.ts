// Type tests of the public API: checked by `npm run typecheck` (tsc over test/), where a wrong type
// or a missing `@ts-expect-error` fails. The checks sit in functions that are type-checked but
// never called: at run time nothing is created.
import { describe, expectTypeOf, it } from 'vitest';
import {
  createPool,
  embed,
  ERROR_CLASSES,
  InvalidInputError,
  QueueFullError,
  WarmpoolError,
  type CollectionInfo,
  type CollectionRecovery,
  type HealthReport,
  type MigrationResult,
  type ModelFingerprint,
  type PackedVectors,
  type SearchHit,
  type StatsSnapshot,
  type WarmPool,
} from '../../dist/src/index.js';

describe('public types', () => {
  it('embed: one text gives one vector, an array gives an array', () => {
    typeCheckOnly((pool: WarmPool) => {
      expectTypeOf(pool.embed('a')).toEqualTypeOf<Promise<Float32Array>>();
      expectTypeOf(pool.embed(['a', 'b'])).toEqualTypeOf<Promise<Float32Array[]>>();
      expectTypeOf(pool.embed(['a'] as readonly string[], { normalize: false, pooling: 'cls', timeout: 100 })).toEqualTypeOf<Promise<Float32Array[]>>();
      expectTypeOf(pool.embedPacked(['a'])).toEqualTypeOf<Promise<PackedVectors>>();
      expectTypeOf(embed('a')).toEqualTypeOf<Promise<Float32Array>>();
      // @ts-expect-error a number is not a text
      void pool.embed(1);
      // @ts-expect-error pooling is 'mean' or 'cls'
      void pool.embed('a', { pooling: 'max' });
      expectTypeOf(pool.embed('a', { dimensions: 32 })).toEqualTypeOf<Promise<Float32Array>>();
      expectTypeOf(pool.embed('a', { prompt: 'query', pooling: 'lasttoken' })).toEqualTypeOf<Promise<Float32Array>>();
      expectTypeOf(pool.model!.pooling).toEqualTypeOf<'mean' | 'cls' | 'lasttoken'>();
      expectTypeOf(pool.model!.prompts).toEqualTypeOf<Readonly<Record<string, string>>>();
      // @ts-expect-error dimensions is a number
      void pool.embed('a', { dimensions: '32' });
      // @ts-expect-error an unknown option (refused at run time too)
      void pool.embed('a', { normalise: false });
    });
  });

  it('collections: search hits, info with its recovery report', () => {
    typeCheckOnly((pool: WarmPool) => {
      expectTypeOf(pool.search('q', { k: 3, collection: 'notes' })).toEqualTypeOf<Promise<SearchHit[]>>();
      expectTypeOf(pool.search(new Float32Array(3))).toEqualTypeOf<Promise<SearchHit[]>>();
      expectTypeOf<SearchHit['score']>().toEqualTypeOf<number>();
      expectTypeOf(pool.collections().info('notes')).toEqualTypeOf<Promise<CollectionInfo>>();
      expectTypeOf<CollectionInfo['recovery']>().toEqualTypeOf<CollectionRecovery | undefined>();
      expectTypeOf<CollectionRecovery['acknowledgedLoss']>().toEqualTypeOf<boolean>();
      expectTypeOf(pool.count()).toEqualTypeOf<Promise<number>>();
    });
  });

  it('collections: the model fingerprint and the migration', () => {
    typeCheckOnly((pool: WarmPool) => {
      expectTypeOf<CollectionInfo['model']>().toEqualTypeOf<ModelFingerprint | null | undefined>();
      expectTypeOf(pool.collections().migrate('notes', { onProgress: (p) => void p.migrated, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<MigrationResult>>();
      expectTypeOf<MigrationResult['from']>().toEqualTypeOf<ModelFingerprint | undefined>();
      // @ts-expect-error: the progress callback gets one object
      void pool.collections().migrate('notes', { onProgress: (a: number, b: number) => a + b });
    });
  });

  it('pool: options are checked, stats and health are typed snapshots', () => {
    typeCheckOnly((pool: WarmPool) => {
      expectTypeOf(createPool({ threads: 2 })).toEqualTypeOf<WarmPool>();
      expectTypeOf(createPool({ threads: { min: 1, max: 2 } })).toEqualTypeOf<WarmPool>();
      // @ts-expect-error an unknown option
      createPool({ thread: 2 });
      expectTypeOf(pool.stats()).toEqualTypeOf<StatsSnapshot>();
      expectTypeOf(pool.health()).toEqualTypeOf<HealthReport>();
      expectTypeOf(pool.close()).toEqualTypeOf<Promise<void>>();
    });
  });

  it('errors: instanceof narrows to the class and its literal code', () => {
    const error = null as unknown;
    if (error instanceof QueueFullError) {
      expectTypeOf(error.code).toEqualTypeOf<'ERR_WARMPOOL_QUEUE_FULL'>();
      expectTypeOf(error).toMatchTypeOf<WarmpoolError>();
    }
    if (error instanceof InvalidInputError) expectTypeOf(error.code).toEqualTypeOf<'ERR_WARMPOOL_INVALID_INPUT'>();
    expectTypeOf(new ERROR_CLASSES.PoolClosedError()).toEqualTypeOf<PoolClosedErrorInstance>();
  });
});

/** Type-checks `body` without running it. */
function typeCheckOnly(body: (pool: WarmPool) => void): void {
  void body;
}

type PoolClosedErrorInstance = InstanceType<(typeof ERROR_CLASSES)['PoolClosedError']>;
