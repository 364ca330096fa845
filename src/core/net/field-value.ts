/**
 * A header field value (or a reason phrase) as Node writes one: tab, visible
 * ASCII, space and obs-text (RFC 9110 §5.5), nothing else. Node's
 * `_http_outgoing` refuses any other character with an exception.
 *
 * @example
 * ```ts
 * import { FIELD_VALUE } from './field-value.js';
 * FIELD_VALUE.test('text/html; charset=utf-8'); // true
 * FIELD_VALUE.test('O\x01K'); // false
 * ```
 */
export const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
