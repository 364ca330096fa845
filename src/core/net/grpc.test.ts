import { describe, expect, it } from 'vitest';
import {
  formatGrpcTimeout,
  grpcMessage,
  grpcToHttpStatus,
  httpToGrpcStatus,
  isGrpc,
  judgeGrpcTrailers,
  parseGrpcTimeout,
  trailersOnlyStatus,
} from './grpc.js';

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['5S', 5000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['99999999S', 99_999_999_000],
  ])('reads %s as %d ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it.each(['', '5', 'S', '5s', '-1S', '123456789S', '1.5S', ' 5S', '5S ', '5X'])('ignores malformed %j', (value) => {
    expect(parseGrpcTimeout(value)).toBeUndefined();
  });

  it('ignores an absent or repeated header', () => {
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
    expect(parseGrpcTimeout(['1S', '2S'])).toBeUndefined();
  });

  it('writes what is left in whole milliseconds, at least 1', () => {
    expect(formatGrpcTimeout(1234.2)).toBe('1235m');
    expect(formatGrpcTimeout(0)).toBe('1m');
    expect(formatGrpcTimeout(-5)).toBe('1m');
  });
});

describe('gRPC status mapping', () => {
  it('judges failures by their HTTP equivalent', () => {
    expect([0, 1, 2, 3, 4, 5, 7, 8, 12, 13, 14, 15, 16].map(grpcToHttpStatus)).toEqual([
      200, 499, 500, 400, 504, 404, 403, 429, 501, 500, 503, 500, 401,
    ]);
  });

  it('tells balancer errors to gRPC clients in gRPC terms', () => {
    expect([504, 503, 502, 429, 401, 403, 404, 400, 413, 500].map(httpToGrpcStatus)).toEqual([
      4, 14, 14, 8, 16, 7, 12, 13, 13, 14,
    ]);
  });

  it('reads the status of a trailers-only answer, nothing else', () => {
    expect(trailersOnlyStatus({ 'grpc-status': '14' })).toBe(14);
    expect(trailersOnlyStatus({ 'grpc-status': '0' })).toBe(0);
    expect(trailersOnlyStatus({})).toBeUndefined();
    expect(trailersOnlyStatus({ 'grpc-status': '1e1' })).toBeUndefined();
    expect(trailersOnlyStatus({ 'grpc-status': '123' })).toBeUndefined();
  });

  it('recognises gRPC content types only', () => {
    expect(isGrpc({ 'content-type': 'application/grpc' })).toBe(true);
    expect(isGrpc({ 'content-type': 'application/grpc+proto' })).toBe(true);
    expect(isGrpc({ 'content-type': 'application/GRPC;charset=utf-8' })).toBe(true);
    expect(isGrpc({ 'content-type': 'application/grpc-web' })).toBe(false);
    expect(isGrpc({ 'content-type': 'application/json' })).toBe(false);
    expect(isGrpc({})).toBe(false);
  });

  it('percent-encodes grpc-message outside printable ASCII, and %', () => {
    expect(grpcMessage('no backend: 100%')).toBe('no backend: 100%25');
    expect(grpcMessage('line\nbreak é')).toBe('line%0Abreak %C3%A9');
  });
});

describe('judgeGrpcTrailers', () => {
  const grpcAnswer = () => ({ status: 200, headers: { 'content-type': 'application/grpc' }, body: undefined });

  it('judges a failure status in the trailers by its HTTP equivalent', () => {
    const response = grpcAnswer();
    expect(judgeGrpcTrailers(response, { 'grpc-status': '14', 'grpc-message': 'down' })).toBe(503);
    expect(response).toMatchObject({ grpcStatus: 14, judgedStatus: 503 });
  });

  it('reads raw HTTP/1.1 trailers, whatever the case of the name', () => {
    const response = grpcAnswer();
    expect(judgeGrpcTrailers(response, ['X-Other', '1', 'Grpc-Status', '13'])).toBe(500);
    expect(response).toMatchObject({ grpcStatus: 13, judgedStatus: 500 });
  });

  it('leaves OK, a malformed status, a non-gRPC answer and a judged trailers-only answer alone', () => {
    const ok = grpcAnswer();
    expect(judgeGrpcTrailers(ok, { 'grpc-status': '0' })).toBeUndefined();
    expect(judgeGrpcTrailers(ok, { 'grpc-status': 'x' })).toBeUndefined();
    expect(judgeGrpcTrailers(ok, {})).toBeUndefined();
    expect(ok).not.toHaveProperty('judgedStatus');
    const plain = { status: 200, headers: { 'content-type': 'text/plain' }, body: undefined };
    expect(judgeGrpcTrailers(plain, { 'grpc-status': '14' })).toBeUndefined();
    const judged = { ...grpcAnswer(), grpcStatus: 8, judgedStatus: 429 };
    expect(judgeGrpcTrailers(judged, { 'grpc-status': '14' })).toBeUndefined();
    expect(judged).toMatchObject({ grpcStatus: 8, judgedStatus: 429 });
  });
});
