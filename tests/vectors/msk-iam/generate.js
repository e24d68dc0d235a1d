// Regenerates vectors.json with AWS's published MSK IAM SASL signer for
// JavaScript (npm: aws-msk-iam-sasl-signer-js, Apache-2.0), not with
// hookloop's code: the clock is pinned by replacing Date, the credentials
// come from a fixed provider. Run it outside the repository:
//   mkdir /tmp/g && cd /tmp/g && npm install aws-msk-iam-sasl-signer-js@1.0.3
//   node <repo>/tests/vectors/msk-iam/generate.js > <repo>/tests/vectors/msk-iam/vectors.json
'use strict';
const path = require('path');
const signerPkg = require.resolve('aws-msk-iam-sasl-signer-js', { paths: [process.cwd()] });
const version = require(path.join(path.dirname(signerPkg), '..', 'package.json')).version;

const RealDate = Date;
let pinned = 0;
global.Date = class extends RealDate {
  constructor(...a) { if (a.length) super(...a); else super(pinned); }
  static now() { return pinned; }
};

const { generateAuthTokenFromCredentialsProvider } = require(signerPkg);

// Inputs: the credentials and regions of the signers' own tests (JS, Go,
// Python), a key without a session token, and the AWS documentation's
// example key with a token holding characters that need encoding.
const cases = [
  { name: 'js-spec credentials, us-east-1', region: 'us-east-1', time: '2026-11-24T06:00:00Z',
    creds: { accessKeyId: 'testAccessKeyId', secretAccessKey: 'testSecretAccessKey', sessionToken: 'testSessionToken' } },
  { name: 'go-test credentials, us-west-2', region: 'us-west-2', time: '2023-10-02T15:04:05Z',
    creds: { accessKeyId: 'MOCK-ACCESS-KEY', secretAccessKey: 'MOCK-SECRET-KEY', sessionToken: 'MOCK-SESSION-TOKEN' } },
  { name: 'python-test credentials, us-west-2', region: 'us-west-2', time: '2024-02-29T23:59:59Z',
    creds: { accessKeyId: 'MOCK_AWS_ACCESS_KEY', secretAccessKey: 'MOCK_AWS_SECRET_KEY', sessionToken: 'MOCK_AWS_TOKEN' } },
  { name: 'no session token, eu-central-1', region: 'eu-central-1', time: '2025-01-01T00:00:00Z',
    creds: { accessKeyId: 'TEST-MY-ACCESS-KEY', secretAccessKey: 'TEST-MY-SECRET-KEY' } },
  { name: 'documentation key, token needing encoding, us-gov-west-1', region: 'us-gov-west-1', time: '2015-08-30T12:36:00Z',
    creds: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
             sessionToken: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+abc/def==' } },
];

(async () => {
  const out = [];
  for (const c of cases) {
    pinned = RealDate.parse(c.time);
    const r = await generateAuthTokenFromCredentialsProvider({
      region: c.region, awsCredentialsProvider: async () => c.creds });
    const token = r.token;
    out.push({
      name: c.name, region: c.region, time: c.time, time_s: pinned / 1000,
      access_key_id: c.creds.accessKeyId, secret_access_key: c.creds.secretAccessKey,
      session_token: c.creds.sessionToken || null,
      user_agent: 'aws-msk-iam-sasl-signer-js/' + version,
      url: Buffer.from(token, 'base64url').toString('utf-8'),
      token,
      expiry_ms: r.expiryTime,
    });
  }
  process.stdout.write(JSON.stringify({
    source: 'aws-msk-iam-sasl-signer-js ' + version + ' (npm), generateAuthTokenFromCredentialsProvider',
    vectors: out }, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
