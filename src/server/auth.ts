import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http-errors.js';

/**
 * Checks `Authorization: Bearer <key>` in constant time. Both sides are hashed first, so the
 * comparison runs over equal-length digests and leaks neither the key nor its length.
 */
export function bearerCheck(apiKey: string): (header: string | undefined) => void {
  const expected = createHash('sha256').update(apiKey).digest();
  return (header) => {
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
    if (!match) throw new HttpError(401, 'missing_api_key', 'this server needs an API key: send the header "Authorization: Bearer <key>"');
    const given = createHash('sha256').update(match[1]!).digest();
    if (!timingSafeEqual(given, expected)) throw new HttpError(401, 'invalid_api_key', 'the API key is not valid');
  };
}
