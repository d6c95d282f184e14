// node --test suite for s3env.mjs: the SigV4-verifying front, faults, outage, control API.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import net from 'node:net';
import { s3Request, objectPath, xmlValue } from './s3-client.mjs';
import { verifyRequest } from './verify-sigv4.mjs';
import { startServer } from './start-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const S3ENV = join(HERE, 's3env.mjs');

/** Start s3env.mjs; resolves once its JSON line is read. */
const startEnv = (args, { legacyFlag = true } = {}) =>
  startServer(S3ENV, args, { nodeFlags: legacyFlag ? ['--openssl-legacy-provider'] : [] });

async function control(env, method, path, body) {
  const res = await fetch(`http://127.0.0.1:${env.control}${path}`, {
    method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
  return { status: res.status, data };
}

const sha256hex = (b) => createHash('sha256').update(b).digest('hex');

describe('s3env front', () => {
  let proc;
  let env;
  let tlsDir;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const conn = (extra = {}) => ({ port: env.http, region: env.region, agent: keepAlive, ...extra });

  before(async () => {
    tlsDir = mkdtempSync(join(tmpdir(), 's3env-tls-'));
    proc = startEnv(['--tls-dir', tlsDir, '--bucket', 'scb-test', '--bucket', 'other']);
    env = await proc.ready;
  });
  after(async () => {
    keepAlive.destroy();
    await proc?.kill();
    rmSync(tlsDir, { recursive: true, force: true });
  });

  test('JSON line has the contract fields', () => {
    for (const k of ['s3rver', 'http', 'https', 'https_wronghost', 'https_unknownca', 'control']) {
      assert.equal(typeof env[k], 'number', k);
    }
    assert.equal(env.region, 'us-east-1');
    assert.deepEqual(env.buckets, ['scb-test', 'other']);
    assert.equal(env.access_key, 'S3RVER');
    assert.equal(env.secret_key, 'S3RVER');
    assert.equal(env.ca, join(tlsDir, 'ca.pem'));
    assert.ok(existsSync(env.ca));
    assert.doesNotMatch(proc.stderr(), /S3RVER/);
  });

  test('signed PUT then GET round-trips over HTTP', async () => {
    const data = Buffer.from('channel backup bytes \x00\x01\x02');
    const put = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'plain/channel.backup'), body: data });
    assert.equal(put.status, 200, put.body.toString());
    const get = await s3Request({ ...conn(), method: 'GET', path: objectPath('scb-test', 'plain/channel.backup') });
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, data);
    const objs = await control(env, 'GET', '/objects?bucket=scb-test');
    assert.deepEqual(objs.data.find((o) => o.key === 'plain/channel.backup'),
      { key: 'plain/channel.backup', size: data.length, sha256: sha256hex(data) });
    const raw = await control(env, 'GET', `/object?bucket=scb-test&key=${encodeURIComponent('plain/channel.backup')}`);
    assert.deepEqual(raw.data, data);
  });

  test('HTTPS with the test CA round-trips; wrong host and unknown CA are refused', async () => {
    const ca = readFileSync(env.ca);
    const data = Buffer.from('over tls');
    const put = await s3Request({ protocol: 'https', port: env.https, ca, method: 'PUT', path: objectPath('scb-test', 'tls/obj'), body: data });
    assert.equal(put.status, 200, put.body.toString());
    const get = await s3Request({ protocol: 'https', port: env.https, ca, path: objectPath('scb-test', 'tls/obj') });
    assert.deepEqual(get.body, data);
    // Without servername: verification by IP SAN.
    const byIp = await s3Request({ protocol: 'https', port: env.https, ca, servername: '', path: objectPath('scb-test', 'tls/obj') });
    assert.equal(byIp.status, 200);
    await assert.rejects(s3Request({ protocol: 'https', port: env.https_wronghost, ca, path: objectPath('scb-test', 'tls/obj') }),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    await assert.rejects(s3Request({ protocol: 'https', port: env.https_unknownca, ca, path: objectPath('scb-test', 'tls/obj') }),
      (e) => /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/.test(e.code));
    // The same CA file works against unknownca when trusted explicitly (proves that listener is fine).
    const other = readFileSync(join(tlsDir, 'unknown-ca.pem'));
    const ok = await s3Request({ protocol: 'https', port: env.https_unknownca, ca: other, path: objectPath('scb-test', 'tls/obj') });
    assert.equal(ok.status, 200);
  });

  test('wrong secret -> 403 SignatureDoesNotMatch with StringToSign and CanonicalRequest', async () => {
    const res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'b', secretKey: 'WRONG' });
    assert.equal(res.status, 403);
    assert.equal(res.headers['content-type'], 'application/xml');
    const xml = res.body.toString();
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(xmlValue(xml, 'StringToSign'), /^AWS4-HMAC-SHA256\n\d{8}T\d{6}Z\n\d{8}\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/);
    assert.match(xmlValue(xml, 'CanonicalRequest'), /^PUT\n\/scb-test\/x\n\n/);
    assert.ok(xmlValue(xml, 'RequestId'));
    assert.doesNotMatch(xml, /WRONG/);
  });

  test('unknown access key -> 403 InvalidAccessKeyId; missing/garbled Authorization refused', async () => {
    const res = await s3Request({ ...conn(), path: objectPath('scb-test', 'x'), accessKey: 'NOPE' });
    assert.equal(res.status, 403);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'InvalidAccessKeyId');
    const anon = await s3Request({ ...conn(), path: objectPath('scb-test', 'x'), tamper: (r) => { delete r.headers.authorization; } });
    assert.equal(anon.status, 403);
    assert.equal(xmlValue(anon.body.toString(), 'Code'), 'AccessDenied');
    const bad = await s3Request({ ...conn(), path: objectPath('scb-test', 'x'), tamper: (r) => { r.headers.authorization = 'AWS4-HMAC-SHA256 nonsense'; } });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.body.toString(), 'Code'), 'AuthorizationHeaderMalformed');
  });

  test('wrong region in the scope -> 403 SignatureDoesNotMatch', async () => {
    const res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'b', region: 'eu-west-1' });
    assert.equal(res.status, 403);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'SignatureDoesNotMatch');
  });

  test('tampering after signing is caught', async () => {
    // body changed: payload hash mismatch
    let res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'good',
      tamper: (r) => { r.body = Buffer.from('evil'); } });
    assert.equal(res.status, 400);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'XAmzContentSHA256Mismatch');
    // signed header changed
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'good',
      headers: { 'x-amz-meta-a': '1' }, tamper: (r) => { r.headers['x-amz-meta-a'] = '2'; } });
    assert.equal(res.status, 403);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'SignatureDoesNotMatch');
    // unsigned x-amz-* header added
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'good',
      tamper: (r) => { r.headers['x-amz-meta-b'] = '1'; } });
    assert.equal(res.status, 403);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'AccessDenied');
    // path changed
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'x'), body: 'good',
      tamper: (r) => { r.path = objectPath('scb-test', 'y'); } });
    assert.equal(res.status, 403);
    // query changed
    res = await s3Request({ ...conn(), path: '/scb-test', query: { 'list-type': '2', prefix: 'a' },
      tamper: (r) => { r.query.prefix = 'b'; } });
    assert.equal(res.status, 403);
  });

  test('Content-MD5 and x-amz-checksum-sha256 are checked', async () => {
    const body = Buffer.from('digest me');
    const md5 = createHash('md5').update(body).digest('base64');
    const wrongMd5 = createHash('md5').update('other').digest('base64');
    let res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'md5'), body, headers: { 'content-md5': wrongMd5 } });
    assert.equal(res.status, 400);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'BadDigest');
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'md5'), body, headers: { 'content-md5': md5 } });
    assert.equal(res.status, 200, res.body.toString());
    const sha = createHash('sha256').update(body).digest('base64');
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'sha'), body, headers: { 'x-amz-checksum-sha256': sha } });
    assert.equal(res.status, 200, res.body.toString());
    res = await s3Request({ ...conn(), method: 'PUT', path: objectPath('scb-test', 'sha'), body,
      headers: { 'x-amz-checksum-sha256': createHash('sha256').update('x').digest('base64') } });
    assert.equal(res.status, 400);
    assert.equal(xmlValue(res.body.toString(), 'Code'), 'BadDigest');
  });

  const SPECIAL_KEYS = ['with space.backup', 'a+b', 'k=v', 'tilde~x', '100%', 'pct%25literal', '€uro', 'dir/sub/file.backup',
    "q'uote(1)!*", 'semi;colon,comma&amp', 'mixed dir/ä ö+=~%/€ end'];

  test('keys with special characters verify and round-trip', async () => {
    for (const [i, key] of SPECIAL_KEYS.entries()) {
      const body = Buffer.from(`object ${i} ${key}`);
      const put = await s3Request({ ...conn(), method: 'PUT', path: objectPath('other', key), body });
      assert.equal(put.status, 200, `${key}: ${put.body}`);
      const get = await s3Request({ ...conn(), path: objectPath('other', key) });
      assert.equal(get.status, 200, key);
      assert.deepEqual(get.body, body, key);
      const raw = await control(env, 'GET', `/object?bucket=other&key=${encodeURIComponent(key)}`);
      assert.deepEqual(raw.data, body, key);
    }
    // Paginated listing (needs the legacy provider in s3rver) sees exactly these keys.
    const objs = await control(env, 'GET', '/objects?bucket=other&max-keys=3');
    assert.equal(objs.status, 200, JSON.stringify(objs.data));
    assert.deepEqual(objs.data.map((o) => o.key), [...SPECIAL_KEYS].sort());
    // A listing with a prefix containing special characters verifies too.
    const list = await s3Request({ ...conn(), path: '/other', query: { 'list-type': '2', prefix: 'mixed dir/ä ö+=' } });
    assert.equal(list.status, 200, list.body.toString());
    assert.equal(xmlValue(list.body.toString(), 'Key'), 'mixed dir/ä ö+=~%/€ end');
    // The front saw the keys percent-encoded exactly once.
    const reqs = (await control(env, 'GET', '/requests')).data;
    assert.ok(reqs.some((r) => r.path === '/other/%E2%82%ACuro'));
    assert.ok(reqs.some((r) => r.path === '/other/a%2Bb'));
  });

  test('an independent hand-written SigV4 signer is accepted (path as sent on the wire)', async () => {
    const key = 'hand signed/a b+c=d~e%f€.bin';
    const path = objectPath('scb-test', key);
    assert.equal(path, '/scb-test/hand%20signed/a%20b%2Bc%3Dd~e%25f%E2%82%AC.bin');
    const body = Buffer.from('hand');
    const res = await handSigned({ port: env.http, method: 'PUT', path, body });
    assert.equal(res.status, 200, res.body.toString());
    const get = await handSigned({ port: env.http, method: 'GET', path, body: Buffer.alloc(0) });
    assert.deepEqual(get.body, body);
  });

  test('keep-alive: one connection reused; close-idle forces a reconnect', async () => {
    await control(env, 'DELETE', '/requests');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await s3Request({ ...conn({ agent }), path: objectPath('scb-test', 'plain/channel.backup') });
        assert.equal(r.status, 200);
      }
      const closed = await control(env, 'POST', '/close-idle');
      assert.ok(closed.data.closed >= 1);
      await new Promise((r) => setTimeout(r, 50));
      const r = await s3Request({ ...conn({ agent }), path: objectPath('scb-test', 'plain/channel.backup') });
      assert.equal(r.status, 200);
      const reqs = (await control(env, 'GET', '/requests')).data;
      assert.equal(reqs.length, 4);
      assert.equal(new Set(reqs.slice(0, 3).map((x) => x.conn)).size, 1);
      assert.notEqual(reqs[3].conn, reqs[0].conn);
      assert.equal(reqs[0].method, 'GET');
      assert.equal(reqs[0].status, 200);
      assert.match(reqs[0].headers.authorization, /^AWS4-HMAC-SHA256 Credential=S3RVER\//);
    } finally {
      agent.destroy();
    }
  });

  test('outage: connections refused until it ends, on the same ports', async () => {
    const before = await s3Request({ ...conn({ agent: false }), path: objectPath('scb-test', 'plain/channel.backup') });
    assert.equal(before.status, 200);
    await control(env, 'POST', '/outage/start');
    try {
      await assert.rejects(s3Request({ ...conn({ agent: false }), path: objectPath('scb-test', 'plain/channel.backup') }),
        { code: 'ECONNREFUSED' });
      await assert.rejects(s3Request({ protocol: 'https', port: env.https, ca: readFileSync(env.ca), path: '/scb-test', agent: false }),
        { code: 'ECONNREFUSED' });
      // a second start is a no-op
      assert.equal((await control(env, 'POST', '/outage/start')).status, 200);
    } finally {
      await control(env, 'POST', '/outage/end');
    }
    const after = await s3Request({ ...conn({ agent: false }), path: objectPath('scb-test', 'plain/channel.backup') });
    assert.equal(after.status, 200);
  });

  test('faults: each kind is delivered once, then requests succeed', async () => {
    const path = objectPath('scb-test', 'plain/channel.backup');
    const expectHttp = { status500: [500, 'InternalError'], slowdown: [503, 'SlowDown'], skew: [403, 'RequestTimeTooSkewed'], baddigest: [400, 'BadDigest'] };
    for (const [kind, [status, code]] of Object.entries(expectHttp)) {
      const add = await control(env, 'POST', '/faults', { count: 1, kind });
      assert.equal(add.status, 200);
      const r = await s3Request({ ...conn({ agent: false }), path });
      assert.equal(r.status, status, kind);
      assert.equal(xmlValue(r.body.toString(), 'Code'), code);
      const ok = await s3Request({ ...conn({ agent: false }), path });
      assert.equal(ok.status, 200, `${kind} cleared`);
    }
    // slow: answered as usual, only later
    await control(env, 'POST', '/faults', { count: 1, kind: 'slow', ms: 300 });
    const t0 = Date.now();
    const slow = await s3Request({ ...conn({ agent: false }), path });
    assert.equal(slow.status, 200, 'slow still answers');
    assert.ok(Date.now() - t0 >= 290, `slow took ${Date.now() - t0} ms`);
    assert.equal((await control(env, 'POST', '/faults', { count: 1, kind: 'slow', ms: -1 })).status, 400);
    for (const kind of ['reset', 'garbage']) {
      await control(env, 'POST', '/faults', { count: 1, kind });
      await assert.rejects(s3Request({ ...conn({ agent: false }), path }), kind);
      const ok = await s3Request({ ...conn({ agent: false }), path });
      assert.equal(ok.status, 200, `${kind} cleared`);
    }
    // garbage on the raw socket really is "NOT HTTP"
    await control(env, 'POST', '/faults', { count: 1, kind: 'garbage' });
    const rawReply = await new Promise((resolve, reject) => {
      const s = net.connect(env.http, '127.0.0.1', () => s.write('GET /scb-test HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.equal(rawReply, 'NOT HTTP\r\n\r\n');

    // stall: no answer until an outage
    await control(env, 'POST', '/faults', { count: 1, kind: 'stall' });
    let settled = false;
    const stalled = s3Request({ ...conn({ agent: false }), path })
      .then((r) => r, (e) => e).finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false);
    await control(env, 'POST', '/outage/start');
    await control(env, 'POST', '/outage/end');
    assert.equal((await stalled).code, 'ECONNRESET');

    // match: only matching paths are hit; count > 1; DELETE clears
    await control(env, 'POST', '/faults', { count: 2, kind: 'status500', match: 'only-this' });
    assert.equal((await s3Request({ ...conn({ agent: false }), path })).status, 200);
    assert.equal((await s3Request({ ...conn({ agent: false }), path: objectPath('scb-test', 'only-this') })).status, 500);
    assert.deepEqual((await control(env, 'GET', '/faults')).data.map((f) => f.remaining), [1]);
    await control(env, 'DELETE', '/faults');
    assert.equal((await s3Request({ ...conn({ agent: false }), path: objectPath('scb-test', 'only-this') })).status, 404);

    const bad = await control(env, 'POST', '/faults', { count: 1, kind: 'nonsense' });
    assert.equal(bad.status, 400);
    const reqs = (await control(env, 'GET', '/requests')).data;
    assert.ok(reqs.some((r) => r.fault === 'stall'));
  });

  test('faults: badetag / noetag answer 200 without storing; endlessheader never ends its header', async () => {
    const key = `etag-fault-${Date.now()}`;
    const path = objectPath('scb-test', key);
    for (const kind of ['badetag', 'noetag']) {
      await control(env, 'POST', '/faults', { count: 1, kind });
      const r = await s3Request({ ...conn({ agent: false }), method: 'PUT', path, body: Buffer.from('x') });
      assert.equal(r.status, 200, kind);
      assert.equal(r.headers.etag, kind === 'badetag' ? '"0123456789abcdef0123456789abcdef"' : undefined);
      assert.equal((await s3Request({ ...conn({ agent: false }), path })).status, 404, `${kind} stored nothing`);
    }
    await control(env, 'POST', '/faults', { count: 1, kind: 'endlessheader' });
    const got = await new Promise((resolve, reject) => {
      const s = net.connect(env.http, '127.0.0.1', () => s.write('GET /scb-test HTTP/1.1\r\nHost: x\r\n\r\n'));
      let n = 0;
      let head = '';
      s.on('data', (d) => {
        if (head.length < 64) head += d.toString('latin1');
        n += d.length;
        if (n > 256 * 1024) { s.destroy(); resolve({ head, n }); }
      });
      s.on('error', reject);
    });
    assert.ok(got.head.startsWith('HTTP/1.1 200 OK\r\nX-Endless: '));
    assert.ok(!got.head.includes('\r\n\r\n'));
  });

  test('faults: endlessbody never ends its body; bigerror, redirect301, redirect307 answer as documented', async () => {
    const path = objectPath('scb-test', 'plain/channel.backup');
    // endlessbody: a 200 whose chunked body goes on past anything a client would read; `sent` counts it.
    await control(env, 'DELETE', '/requests');
    await control(env, 'POST', '/faults', { count: 1, kind: 'endlessbody' });
    const endless = await new Promise((resolve, reject) => {
      const s = net.connect(env.http, '127.0.0.1', () => s.write('PUT /scb-test/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'));
      let n = 0;
      let head = '';
      s.on('data', (d) => {
        if (head.length < 200) head += d.toString('latin1');
        n += d.length;
        if (n > 4 << 20) { s.destroy(); resolve({ head, n }); }
      });
      s.on('end', () => reject(new Error(`the endless body ended after ${n} bytes`)));
      s.on('error', reject);
    });
    assert.match(endless.head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(endless.head, /transfer-encoding: chunked/i);
    const rec = (await control(env, 'GET', '/requests')).data.find((r) => r.fault === 'endlessbody');
    assert.ok(rec.sent >= 4 << 20, `sent ${rec.sent}`);

    // bigerror: `bytes` of <Message> with raw escape sequences, with the chosen status.
    await control(env, 'POST', '/faults', { count: 1, kind: 'bigerror', bytes: 100000, status: 503 });
    const big = await s3Request({ ...conn({ agent: false }), path });
    assert.equal(big.status, 503);
    const message = xmlValue(big.body.toString(), 'Message');
    assert.equal(message.length, 100000);
    assert.ok(message.includes('\x1b[31m'));
    assert.equal((await control(env, 'POST', '/faults', { count: 1, kind: 'bigerror', status: 200 })).status, 400);

    // redirect301 / redirect307: S3's redirect errors, naming the bucket's region in x-amz-bucket-region.
    for (const [kind, status, code] of [['redirect301', 301, 'PermanentRedirect'], ['redirect307', 307, 'TemporaryRedirect']]) {
      await control(env, 'POST', '/faults', { count: 1, kind, region: 'ap-south-2' });
      const r = await s3Request({ ...conn({ agent: false }), path });
      assert.equal(r.status, status, kind);
      assert.equal(r.headers['x-amz-bucket-region'], 'ap-south-2');
      assert.equal(xmlValue(r.body.toString(), 'Code'), code);
      assert.equal(xmlValue(r.body.toString(), 'Endpoint'), 'scb-test.s3.ap-south-2.amazonaws.com');
      assert.equal(r.headers.location !== undefined, status === 307);
    }
    assert.equal((await s3Request({ ...conn({ agent: false }), path: objectPath('scb-test') })).status, 200, 'faults used up');
  });

  test('clock: a front clock 1 h ahead refuses a request signed now, accepts one signed at its time', async () => {
    const path = objectPath('scb-test', 'plain/channel.backup');
    assert.equal((await control(env, 'POST', '/clock', { offset_ms: 3600000 })).status, 200);
    try {
      const r = await s3Request({ ...conn({ agent: false }), path });
      assert.equal(r.status, 403);
      assert.equal(xmlValue(r.body.toString(), 'Code'), 'RequestTimeTooSkewed');
      const serverDate = new Date(r.headers.date);
      assert.ok(Math.abs(serverDate.getTime() - (Date.now() + 3600000)) < 5000, r.headers.date);
      const ok = await s3Request({ ...conn({ agent: false }), path, date: new Date(Date.now() + 3600000) });
      assert.equal(ok.status, 200, ok.body.toString());
    } finally {
      await control(env, 'POST', '/clock', { offset_ms: 0 });
    }
    assert.equal((await control(env, 'GET', '/clock')).data.offset_ms, 0);
  });

  test('control: unknown route 404, missing bucket 400, DELETE /requests clears', async () => {
    assert.equal((await control(env, 'GET', '/nope')).status, 404);
    assert.equal((await control(env, 'GET', '/objects')).status, 400);
    await control(env, 'DELETE', '/requests');
    assert.deepEqual((await control(env, 'GET', '/requests')).data, []);
  });
});

describe('verify-sigv4 against the AWS S3 documentation examples', () => {
  // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
  const keys = { AKIAIOSFODNN7EXAMPLE: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const now = new Date('2013-05-24T00:00:00Z');
  const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const auth = (signed, sig) => `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signed},Signature=${sig}`;
  const check = (method, url, headers, body = Buffer.alloc(0)) =>
    verifyRequest({ method, url, rawHeaders: Object.entries(headers).flat(), body, region: 'us-east-1', keys, now });

  test('GET object with Range', async () => {
    const v = await check('GET', '/test.txt', {
      Host: 'examplebucket.s3.amazonaws.com', Range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      Authorization: auth('host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'),
    });
    assert.deepEqual(v, { ok: true, accessKey: 'AKIAIOSFODNN7EXAMPLE' });
  });

  test('PUT object signing Date and an encoded "$" in the path', async () => {
    const body = Buffer.from('Welcome to Amazon S3.');
    const v = await check('PUT', '/test%24file.text', {
      Host: 'examplebucket.s3.amazonaws.com', Date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY', 'x-amz-content-sha256': sha256hex(body),
      Authorization: auth('date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class', '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd'),
    }, body);
    assert.deepEqual(v, { ok: true, accessKey: 'AKIAIOSFODNN7EXAMPLE' });
  });

  test('GET bucket lifecycle (empty query value)', async () => {
    const v = await check('GET', '/?lifecycle', {
      Host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY,
      Authorization: auth('host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'),
    });
    assert.deepEqual(v, { ok: true, accessKey: 'AKIAIOSFODNN7EXAMPLE' });
  });

  test('list objects (query sorted by key)', async () => {
    const v = await check('GET', '/?max-keys=2&prefix=J', {
      Host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': EMPTY,
      Authorization: auth('host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'),
    });
    assert.deepEqual(v, { ok: true, accessKey: 'AKIAIOSFODNN7EXAMPLE' });
  });

  test('a wrong signature reports the canonical request S3 would build', async () => {
    const v = await check('GET', '/test.txt', {
      Host: 'examplebucket.s3.amazonaws.com', Range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z',
      Authorization: auth('host;range;x-amz-content-sha256;x-amz-date', '0'.repeat(64)),
    });
    assert.equal(v.code, 'SignatureDoesNotMatch');
    assert.equal(v.extra.CanonicalRequest, [
      'GET', '/test.txt', '', 'host:examplebucket.s3.amazonaws.com', 'range:bytes=0-9',
      `x-amz-content-sha256:${EMPTY}`, 'x-amz-date:20130524T000000Z', '',
      'host;range;x-amz-content-sha256;x-amz-date', EMPTY].join('\n'));
    assert.equal(v.extra.StringToSign, 'AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n'
      + '7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
  });
});

describe('s3env lifecycle', () => {
  test('exits 0 and removes its data dir when stdin closes', async () => {
    const p = startEnv(['--verbose']);
    try {
      const env = await p.ready;
      await new Promise((r) => setTimeout(r, 100));
      const dataDir = /data in (\S+)/.exec(p.stderr())?.[1];
      assert.ok(dataDir && existsSync(dataDir), p.stderr());
      assert.equal(env.https, null);
      assert.equal(env.ca, null);
      p.child.stdin.end();
      const { code } = await p.exited;
      assert.equal(code, 0);
      assert.equal(existsSync(dataDir), false);
      await assert.rejects(fetch(`http://127.0.0.1:${env.control}/requests`));
      await assert.rejects(s3Request({ port: env.s3rver, path: '/scb-test' }), { code: 'ECONNREFUSED' });
    } finally {
      await p.kill();
    }
  });

  test('re-execs itself with --openssl-legacy-provider and stops on SIGTERM', async () => {
    const p = startEnv(['--verbose', '--region', 'eu-central-1', '--bucket', 'b1'], { legacyFlag: false });
    try {
      const env = await p.ready;
      assert.equal(env.region, 'eu-central-1');
      assert.deepEqual(env.buckets, ['b1']);
      for (let i = 0; i < 3; i++) {
        const r = await s3Request({ port: env.http, region: 'eu-central-1', method: 'PUT', path: `/b1/k${i}`, body: 'x' });
        assert.equal(r.status, 200, r.body.toString());
      }
      const objs = await control(env, 'GET', '/objects?bucket=b1&max-keys=1');
      assert.equal(objs.status, 200, JSON.stringify(objs.data));
      assert.deepEqual(objs.data.map((o) => o.key), ['k0', 'k1', 'k2']);
      await new Promise((r) => setTimeout(r, 100));
      const dataDir = /data in (\S+)/.exec(p.stderr())?.[1];
      p.child.kill('SIGTERM');
      const { code } = await p.exited;
      assert.equal(code, 0);
      assert.equal(existsSync(dataDir), false);
    } finally {
      await p.kill();
    }
  });
});

/** SigV4 written from the AWS documentation with node:crypto only, no smithy. */
async function handSigned({ port, method, path, body }) {
  const amzDate = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  const day = amzDate.slice(0, 8);
  const headers = { host: `127.0.0.1:${port}`, 'x-amz-content-sha256': sha256hex(body), 'x-amz-date': amzDate };
  const names = Object.keys(headers).sort();
  const canonical = [method, path, '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), headers['x-amz-content-sha256']].join('\n');
  const scope = `${day}/us-east-1/s3/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n');
  const hmac = (k, s) => createHmac('sha256', k).update(s).digest();
  const kSign = ['us-east-1', 's3', 'aws4_request'].reduce(hmac, hmac('AWS4S3RVER', day));
  const sig = createHmac('sha256', kSign).update(sts).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=S3RVER/${scope}, SignedHeaders=${names.join(';')}, Signature=${sig}`;
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(body);
  });
}
