/** Collects what opening a collection found wrong on disk into one {@link CollectionRecovery}. */
import type { CollectionRecovery } from '../types.js';

export class RecoveryReport {
  readonly #problems: string[] = [];
  readonly #kept: string[] = [];
  #acknowledgedLoss = false;
  #records = 0;
  #bytes = 0;
  #missing = 0;

  /** Something found and dealt with that lost nothing. */
  problem(sentence: string): void {
    this.#problems.push(sentence);
  }

  /** Log bytes found missing: acknowledged records may be gone. */
  lost(sentence: string, bytesMissing: number): void {
    this.#problems.push(sentence);
    this.#acknowledgedLoss = true;
    this.#missing += bytesMissing;
  }

  /** A record dropped from a file (one torn by a crash, or cut by damage). */
  dropped(sentence: string, bytes: number): void {
    this.#problems.push(sentence);
    this.#records++;
    this.#bytes += bytes;
  }

  /** A copy of a damaged file as found. */
  kept(path: string): void {
    this.#kept.push(path);
  }

  /** The report, or undefined when nothing was found. */
  result(): CollectionRecovery | undefined {
    if (this.#problems.length === 0) return undefined;
    const kept = this.#kept.length > 0 ? ` Damaged files kept as found: ${this.#kept.join(', ')}.` : '';
    return {
      at: new Date().toISOString(),
      acknowledgedLoss: this.#acknowledgedLoss,
      recordsDropped: this.#records,
      bytesDropped: this.#bytes,
      bytesMissing: this.#missing,
      keptAs: [...this.#kept],
      problems: [...this.#problems],
      message: `${this.#problems.join('; ')}.${kept}`,
    };
  }
}
