// The certificate helper lives with the other test certificates.
export { type TestCertificate, testCertificate } from '../certs.js';
