/** WARMPOOL_TEST_HOOKS, the one switch of failures on purpose (CONTRIBUTING.md): parsing only, no workers. */
import { describe, expect, it } from 'vitest';
import { TEST_HOOKS_ENV, parseTestHooks, testHooks } from '../../dist/src/test-hooks.js';
import * as api from '../../dist/src/index.js';

describe('testHooks', () => {
  it('is empty when the variable is unset or blank', () => {
    expect(testHooks({})).toEqual({});
    expect(testHooks({ [TEST_HOOKS_ENV]: '  ' })).toEqual({});
  });

  it('reads every hook from one JSON object', () => {
    const hooks = {
      crash: 0.5,
      exit: 0,
      hang: 1,
      indexCrash: 6,
      indexExit: 20,
      loadExit: true,
      indexLoadExit: false,
      spawnFail: [2, 3],
      crashInSnapshot: true,
    };
    expect(testHooks({ [TEST_HOOKS_ENV]: JSON.stringify(hooks) })).toEqual(hooks);
    expect(Object.isFrozen(testHooks({ [TEST_HOOKS_ENV]: '{"crash":0.1}' }))).toBe(true);
  });

  it('reads this thread’s process.env by default, as it is at the moment of asking', () => {
    const before = process.env[TEST_HOOKS_ENV];
    try {
      process.env[TEST_HOOKS_ENV] = '{"exit":1}';
      expect(testHooks()).toEqual({ exit: 1 });
      process.env[TEST_HOOKS_ENV] = '{"loadExit":true}';
      expect(testHooks()).toEqual({ loadExit: true });
      delete process.env[TEST_HOOKS_ENV];
      expect(testHooks()).toEqual({});
    } finally {
      if (before === undefined) delete process.env[TEST_HOOKS_ENV];
      else process.env[TEST_HOOKS_ENV] = before;
    }
  });

  it.each([
    ['{"crash":2}', RangeError, /WARMPOOL_TEST_HOOKS.crash must be a probability from 0 to 1, received 2/],
    ['{"hang":-0.5}', RangeError, /WARMPOOL_TEST_HOOKS.hang must be a probability from 0 to 1, received -0.5/],
    ['{"explode":0.1}', TypeError, /unknown hook "explode"; valid ones are crash, exit, hang, indexCrash, indexExit, loadExit, indexLoadExit, spawnFail, loadFail, loadHang, crashInSnapshot, crashInMigration, noKeywordIndex, indexSlow, nativePause/],
    ['{"indexExit":0.5}', RangeError, /WARMPOOL_TEST_HOOKS.indexExit must be a request number from 1, received 0.5/],
    ['{"indexCrash":0}', RangeError, /WARMPOOL_TEST_HOOKS.indexCrash must be a request number from 1, received 0/],
    ['{"loadExit":1}', TypeError, /WARMPOOL_TEST_HOOKS.loadExit must be true or false, received 1/],
    ['{"spawnFail":"2,3"}', TypeError, /WARMPOOL_TEST_HOOKS.spawnFail must be an array of worker numbers from 1, received "2,3"/],
    ['{"spawnFail":[0]}', TypeError, /spawnFail must be an array of worker numbers from 1/],
    ['crash=0.01', TypeError, /WARMPOOL_TEST_HOOKS must hold a JSON object, received "crash=0.01"/],
    ['[1]', TypeError, /must hold a JSON object/],
  ])('refuses %s: a mistake must not quietly test nothing', (text, ErrorClass, message) => {
    expect(() => parseTestHooks(text)).toThrow(ErrorClass);
    expect(() => parseTestHooks(text)).toThrow(message);
  });

  it('is no part of the public API', () => {
    expect(Object.keys(api).filter((name) => /hook|inject/i.test(name))).toEqual([]);
  });
});
