import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away self-signed certificate for localhost / 127.0.0.1 / ::1. */
export interface TestCertificate {
  readonly key: Buffer;
  readonly cert: Buffer;
}

let cached: TestCertificate | undefined;

/**
 * Makes a self-signed certificate at run time with the openssl CLI (no key is
 * ever committed), once per test process.
 */
export function testCertificate(): TestCertificate {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    cached = { key: readFileSync(key), cert: readFileSync(cert) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
