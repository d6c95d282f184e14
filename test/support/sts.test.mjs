// node --test suite for sts.mjs: the loopback STS for AssumeRoleWithWebIdentity.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { startServer } from './start-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const STS = join(HERE, 'sts.mjs');
const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE = 'arn:aws:iam::123456789012:role/scb-backup';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bG5kOnNjYiJ9.c2ln-_+/=';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Start sts.mjs; `ready` resolves with its JSON line. */
const startSts = (args = []) => startServer(STS, args, { timeoutMs: 10000 });

/** A tiny XML parser (elements, attributes, text, the five entities): enough to prove well-formedness. */
function parseXml(src) {
  let i = 0;
  const fail = (m) => { throw new Error(`XML: ${m} at ${i}: ${JSON.stringify(src.slice(i, i + 40))}`); };
  const decode = (t) => {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(t)) fail('bad entity');
    return t.replace(/&(amp|lt|gt|quot|apos);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]);
  };
  const skipWs = () => { while (/\s/.test(src[i] ?? '')) i++; };
  function element() {
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_:][\w.:-]*\s*=\s*"[^"<]*")*)\s*(\/?)>/.exec(src.slice(i));
    if (!open) fail('expected a start tag');
    i += open[0].length;
    const node = { name: open[1], attrs: {}, children: [], text: '' };
    for (const m of open[2].matchAll(/([A-Za-z_:][\w.:-]*)\s*=\s*"([^"]*)"/g)) node.attrs[m[1]] = decode(m[2]);
    if (open[3]) return node;
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) fail('unclosed element');
      node.text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(src.slice(i));
        if (!close || close[1] !== node.name) fail(`mismatched end tag for ${node.name}`);
        i += close[0].length;
        return node;
      }
      node.children.push(element());
    }
  }
  if (src.startsWith('<?xml')) i = src.indexOf('?>') + 2;
  skipWs();
  const root = element();
  skipWs();
  if (i !== src.length) fail('trailing content');
  return root;
}

/** The text of the element at path `a/b/c` below `node` (undefined if absent). */
function at(node, path) {
  let n = node;
  for (const name of path.split('/')) {
    n = n?.children.find((c) => c.name === name);
  }
  return n === undefined ? undefined : n.text;
}

const form = (params) => new URLSearchParams(params).toString();
const goodParams = (extra = {}) => ({
  Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE, RoleSessionName: 'scb-backup-1',
  WebIdentityToken: TOKEN, ...extra,
});

async function stsCall(env, { method = 'POST', params = goodParams(), headers = {}, query = '', body } = {}) {
  const init = { method, headers: { ...headers } };
  if (method === 'POST') {
    init.headers['content-type'] ??= 'application/x-www-form-urlencoded; charset=utf-8';
    init.body = body ?? form(params);
  }
  const qs = method === 'GET' ? `?${form(params)}` : query;
  const res = await fetch(`http://127.0.0.1:${env.port}/${qs}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, xml: parseXml(text) };
}

async function control(env, method, path, body) {
  const res = await fetch(`http://127.0.0.1:${env.control}${path}`, {
    method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, data: await res.json() };
}

function assertError(r, status, code, message) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.xml.name, 'ErrorResponse');
  assert.equal(r.xml.attrs.xmlns, NS);
  assert.equal(at(r.xml, 'Error/Type'), 'Sender');
  assert.equal(at(r.xml, 'Error/Code'), code);
  if (message instanceof RegExp) assert.match(at(r.xml, 'Error/Message'), message);
  else if (message !== undefined) assert.equal(at(r.xml, 'Error/Message'), message);
  assert.match(at(r.xml, 'RequestId'), UUID);
  assert.equal(r.headers.get('x-amzn-requestid'), at(r.xml, 'RequestId'));
  assert.match(r.headers.get('content-type'), /^text\/xml/);
}

const creds = (r) => ({
  access_key_id: at(r.xml, 'AssumeRoleWithWebIdentityResult/Credentials/AccessKeyId'),
  secret_access_key: at(r.xml, 'AssumeRoleWithWebIdentityResult/Credentials/SecretAccessKey'),
  session_token: at(r.xml, 'AssumeRoleWithWebIdentityResult/Credentials/SessionToken'),
  expiration: at(r.xml, 'AssumeRoleWithWebIdentityResult/Credentials/Expiration'),
});
const secondsLeft = (expiration) => (Date.parse(expiration) - Date.now()) / 1000;

describe('sts.mjs', () => {
  let proc;
  let env;
  before(async () => {
    proc = startSts();
    env = await proc.ready;
  });
  after(async () => { await proc?.kill(); });
  beforeEach(async () => {
    await control(env, 'DELETE', '/config');
    await control(env, 'POST', '/config', { role_arn: ROLE, token: TOKEN });
    await control(env, 'DELETE', '/requests');
  });

  test('JSON line: exactly {port, control}', () => {
    assert.deepEqual(Object.keys(env).sort(), ['control', 'port']);
    assert.ok(Number.isInteger(env.port) && env.port > 0);
    assert.ok(Number.isInteger(env.control) && env.control > 0 && env.control !== env.port);
  });

  test('success: the XML parses and has every field', async () => {
    const r = await stsCall(env);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^text\/xml/);
    assert.equal(r.xml.name, 'AssumeRoleWithWebIdentityResponse');
    assert.equal(r.xml.attrs.xmlns, NS);
    const c = creds(r);
    assert.match(c.access_key_id, /^ASIA[A-Z0-9]{16}$/);
    assert.match(c.secret_access_key, /^[A-Za-z0-9+/]{40}$/);
    assert.ok(c.session_token.length > 100, c.session_token);
    assert.match(c.expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(secondsLeft(c.expiration) - 3600) < 10, c.expiration);
    const res = 'AssumeRoleWithWebIdentityResult';
    assert.equal(at(r.xml, `${res}/SubjectFromWebIdentityToken`), 'system:serviceaccount:lnd:scb-backup');
    assert.equal(at(r.xml, `${res}/AssumedRoleUser/Arn`), 'arn:aws:sts::123456789012:assumed-role/scb-backup/scb-backup-1');
    assert.match(at(r.xml, `${res}/AssumedRoleUser/AssumedRoleId`), /^AROA[A-Z0-9]{17}:scb-backup-1$/);
    assert.match(at(r.xml, `${res}/Provider`), /^arn:aws:iam::123456789012:oidc-provider\/oidc\.eks\.us-east-1\.amazonaws\.com\/id\/[0-9A-F]{32}$/);
    assert.equal(at(r.xml, `${res}/Audience`), 'sts.amazonaws.com');
    assert.match(at(r.xml, 'ResponseMetadata/RequestId'), UUID);
    assert.equal(r.headers.get('x-amzn-requestid'), at(r.xml, 'ResponseMetadata/RequestId'));
  });

  test('each success issues new credentials; /issued lists them', async () => {
    await control(env, 'DELETE', '/issued');
    const a = creds(await stsCall(env));
    const b = creds(await stsCall(env));
    assert.notEqual(a.access_key_id, b.access_key_id);
    assert.notEqual(a.secret_access_key, b.secret_access_key);
    assert.notEqual(a.session_token, b.session_token);
    const { data } = await control(env, 'GET', '/issued');
    assert.deepEqual(data, [a, b]);
  });

  test('GET with the parameters in the query string works', async () => {
    const r = await stsCall(env, { method: 'GET' });
    assert.equal(r.status, 200, r.text);
    assert.match(creds(r).access_key_id, /^ASIA/);
    const { data } = await control(env, 'GET', '/requests');
    assert.equal(data.at(-1).method, 'GET');
    assert.equal(data.at(-1).params.WebIdentityToken, TOKEN);
  });

  test('a signed request is refused (400 TestServer.SignedRequest)', async () => {
    const issuedBefore = (await control(env, 'GET', '/issued')).data.length;
    const auth = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00';
    assertError(await stsCall(env, { headers: { authorization: auth } }), 400, 'TestServer.SignedRequest', /unsigned/);
    assertError(await stsCall(env, { headers: { 'x-amz-security-token': 'FwoG' } }), 400, 'TestServer.SignedRequest');
    assertError(await stsCall(env, { method: 'GET', params: goodParams({ 'X-Amz-Signature': 'ab', 'X-Amz-Credential': 'x' }) }),
      400, 'TestServer.SignedRequest');
    const { data } = await control(env, 'GET', '/requests');
    assert.deepEqual(data.map((x) => [x.authorization, x.status, x.code]), [
      [true, 400, 'TestServer.SignedRequest'], [true, 400, 'TestServer.SignedRequest'], [true, 400, 'TestServer.SignedRequest'],
    ]);
    assert.equal((await control(env, 'GET', '/issued')).data.length, issuedBefore);
  });

  test('bad RoleArn: 400 ValidationError', async () => {
    const call = (RoleArn) => stsCall(env, { params: goodParams({ RoleArn }) });
    assertError(await call('arn:aws:iam::123456789012:role:scb-backup'), 400, 'ValidationError', 'Request ARN is invalid');
    assertError(await call('arn:aws:iam::12345:role/scb-backup'), 400, 'ValidationError', 'Request ARN is invalid');
    assertError(await call('arn:aws:iam::123456789012:user/scb-backup'), 400, 'ValidationError', 'Request ARN is invalid');
    assertError(await call('arn:aws:iam::1:role'), 400, 'ValidationError',
      "1 validation error detected: Value 'arn:aws:iam::1:role' at 'roleArn' failed to satisfy constraint: "
      + 'Member must have length greater than or equal to 20');
    const p = goodParams();
    delete p.RoleArn;
    assertError(await stsCall(env, { params: p }), 400, 'ValidationError',
      "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    // A role path is fine.
    await control(env, 'POST', '/config', { role_arn: 'arn:aws:iam::123456789012:role/k8s/scb-backup' });
    const ok = await call('arn:aws:iam::123456789012:role/k8s/scb-backup');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(at(ok.xml, 'AssumeRoleWithWebIdentityResult/AssumedRoleUser/Arn'),
      'arn:aws:sts::123456789012:assumed-role/scb-backup/scb-backup-1');
  });

  test('RoleSessionName, WebIdentityToken, DurationSeconds constraints: 400 ValidationError', async () => {
    const call = (extra) => stsCall(env, { params: goodParams(extra) });
    assertError(await call({ RoleSessionName: 'x' }), 400, 'ValidationError', /at 'roleSessionName'.*greater than or equal to 2/);
    assertError(await call({ RoleSessionName: 'x'.repeat(65) }), 400, 'ValidationError', /at 'roleSessionName'.*less than or equal to 64/);
    assertError(await call({ RoleSessionName: 'has space' }), 400, 'ValidationError', /regular expression pattern: \[\\w\+=,\.@-\]\*/);
    assertError(await call({ RoleSessionName: 'a/b' }), 400, 'ValidationError', /roleSessionName/);
    assertError(await call({ WebIdentityToken: 'abc' }), 400, 'ValidationError',
      "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4");
    assertError(await call({ WebIdentityToken: 'a'.repeat(20001) }), 400, 'ValidationError', /webIdentityToken.*less than or equal to 20000/);
    assertError(await call({ DurationSeconds: '899' }), 400, 'ValidationError', /durationSeconds.*greater than or equal to 900/);
    assertError(await call({ DurationSeconds: '43201' }), 400, 'ValidationError', /durationSeconds.*less than or equal to 43200/);
    assertError(await call({ DurationSeconds: 'soon' }), 400, 'ValidationError', /durationSeconds.*integer/);
    // Several at once, like AWS.
    assertError(await call({ RoleSessionName: 'x', WebIdentityToken: 'ab' }), 400, 'ValidationError', /^2 validation errors detected: /);
    // The limits themselves pass.
    await control(env, 'POST', '/config', { token: 't'.repeat(20000) });
    const r = await call({ RoleSessionName: 'ab', WebIdentityToken: 't'.repeat(20000), DurationSeconds: '900' });
    assert.equal(r.status, 200, r.text);
    assert.ok(Math.abs(secondsLeft(creds(r).expiration) - 900) < 10);
    const r2 = await call({ RoleSessionName: `${'w'.repeat(56)}+=,.@-_9`, WebIdentityToken: 't'.repeat(20000), DurationSeconds: '43200' });
    assert.equal(r2.status, 200, r2.text);
    assert.ok(Math.abs(secondsLeft(creds(r2).expiration) - 43200) < 10);
  });

  test('Action and Version are checked', async () => {
    const p = goodParams();
    delete p.Action;
    assertError(await stsCall(env, { params: p }), 400, 'MissingAction');
    assertError(await stsCall(env, { params: goodParams({ Action: 'AssumeRole' }) }), 400, 'InvalidAction', /Could not find operation AssumeRole /);
    assertError(await stsCall(env, { params: goodParams({ Version: '2012-01-01' }) }), 400, 'InvalidAction', /for version 2012-01-01/);
  });

  test('wrong token: 400 InvalidIdentityToken; wrong role: 403 AccessDenied', async () => {
    assertError(await stsCall(env, { params: goodParams({ WebIdentityToken: `${TOKEN}x` }) }), 400, 'InvalidIdentityToken');
    assertError(await stsCall(env, { params: goodParams({ RoleArn: 'arn:aws:iam::123456789012:role/other' }) }), 403, 'AccessDenied',
      'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    assert.equal((await stsCall(env)).status, 200);
  });

  test('modes: expired, denied, invalid, idp_error', async () => {
    const cases = [
      ['expired', 400, 'ExpiredTokenException', /^Token expired: current date\/time \d+ must be before the expiration date\/time \d+$/],
      ['denied', 403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'],
      ['invalid', 400, 'InvalidIdentityToken', /verification key/],
      ['idp_error', 400, 'IDPCommunicationError', /could not be reached/],
    ];
    for (const [mode, status, code, message] of cases) {
      assert.equal((await control(env, 'POST', '/config', { mode })).status, 200);
      assertError(await stsCall(env), status, code, message);
      assertError(await stsCall(env, { method: 'GET' }), status, code, message);
    }
    const { data } = await control(env, 'GET', '/requests');
    assert.deepEqual(data.map((x) => x.code), ['ExpiredTokenException', 'ExpiredTokenException', 'AccessDenied', 'AccessDenied',
      'InvalidIdentityToken', 'InvalidIdentityToken', 'IDPCommunicationError', 'IDPCommunicationError']);
    await control(env, 'POST', '/config', { mode: 'ok' });
    assert.equal((await stsCall(env)).status, 200);
  });

  test('mode with count: fails N times, then back to ok', async () => {
    await control(env, 'POST', '/config', { mode: 'idp_error', count: 2 });
    assertError(await stsCall(env), 400, 'IDPCommunicationError');
    assert.equal((await control(env, 'GET', '/config')).data.count, 1);
    assertError(await stsCall(env), 400, 'IDPCommunicationError');
    const { data: cfg } = await control(env, 'GET', '/config');
    assert.equal(cfg.mode, 'ok');
    assert.equal(cfg.count, null);
    assert.equal((await stsCall(env)).status, 200);
  });

  test('the request log records params verbatim; DELETE /requests clears it', async () => {
    const odd = 'a+b/c=d&e%f é';
    await control(env, 'POST', '/config', { token: odd });
    const r = await stsCall(env, { params: goodParams({ WebIdentityToken: odd }) });
    assert.equal(r.status, 200, r.text);
    await stsCall(env, { params: goodParams({ RoleSessionName: 'x' }) });
    const { data } = await control(env, 'GET', '/requests');
    assert.equal(data.length, 2);
    assert.equal(data[0].method, 'POST');
    assert.equal(data[0].path, '/');
    assert.equal(data[0].content_type, 'application/x-www-form-urlencoded; charset=utf-8');
    assert.deepEqual(data[0].params, goodParams({ WebIdentityToken: odd }));
    assert.equal(data[0].authorization, false);
    assert.equal(data[0].status, 200);
    assert.equal(data[0].code, null);
    assert.equal(data[1].status, 400);
    assert.equal(data[1].code, 'ValidationError');
    assert.equal(data[1].params.RoleSessionName, 'x');
    assert.deepEqual((await control(env, 'DELETE', '/requests')).data, { ok: true });
    assert.deepEqual((await control(env, 'GET', '/requests')).data, []);
  });

  test('config: duration_seconds (any >= 1, test-only), access_key_prefix, subject/audience/provider', async () => {
    await control(env, 'POST', '/config', {
      duration_seconds: 5, access_key_prefix: 'AKIATEST', subject: 'sub-1', audience: 'aud-1', provider: 'https://oidc.example',
    });
    const r = await stsCall(env, { params: goodParams({ DurationSeconds: '3600' }) }); // the config wins
    assert.equal(r.status, 200, r.text);
    const c = creds(r);
    assert.match(c.access_key_id, /^AKIATEST[A-Z0-9]{12}$/);
    const left = secondsLeft(c.expiration);
    assert.ok(left > 2 && left <= 6, `${left}`);
    assert.equal(at(r.xml, 'AssumeRoleWithWebIdentityResult/SubjectFromWebIdentityToken'), 'sub-1');
    assert.equal(at(r.xml, 'AssumeRoleWithWebIdentityResult/Audience'), 'aud-1');
    assert.equal(at(r.xml, 'AssumeRoleWithWebIdentityResult/Provider'), 'https://oidc.example');
    // Without an override the request's DurationSeconds counts.
    await control(env, 'POST', '/config', { duration_seconds: null });
    const r2 = await stsCall(env, { params: goodParams({ DurationSeconds: '1800' }) });
    assert.ok(Math.abs(secondsLeft(creds(r2).expiration) - 1800) < 10);
  });

  test('config: bad values are refused with 400 and change nothing', async () => {
    for (const bad of [{ mode: 'sometimes' }, { duration_seconds: 0 }, { duration_seconds: 1.5 }, { nope: 1 },
      { access_key_prefix: 'asia' }, { token: '' }, { count: -1 }]) {
      const r = await control(env, 'POST', '/config', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.ok(r.data.error);
    }
    const bodyNotJson = await fetch(`http://127.0.0.1:${env.control}/config`, { method: 'POST', body: '{' });
    assert.equal(bodyNotJson.status, 400);
    const { data } = await control(env, 'GET', '/config');
    assert.equal(data.mode, 'ok');
    assert.equal(data.token, TOKEN);
    assert.equal((await control(env, 'GET', '/nothing')).status, 404);
  });

  test('test-server strictness: method, path, content type', async () => {
    const raw = async (method, path, headers, body) => {
      const res = await fetch(`http://127.0.0.1:${env.port}${path}`, { method, headers, body });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, xml: parseXml(text) };
    };
    assertError(await raw('PUT', '/', { 'content-type': 'application/x-www-form-urlencoded' }, form(goodParams())),
      405, 'TestServer.BadMethod');
    assertError(await raw('POST', '/sts', { 'content-type': 'application/x-www-form-urlencoded' }, form(goodParams())),
      404, 'TestServer.BadPath');
    assertError(await raw('POST', '/', { 'content-type': 'application/json' }, JSON.stringify(goodParams())),
      400, 'TestServer.BadContentType');
    // Content-Type without charset, upper-case: fine.
    const ok = await raw('POST', '/', { 'Content-Type': 'Application/X-WWW-Form-Urlencoded' }, form(goodParams()));
    assert.equal(ok.status, 200, ok.text);
    // POST with an empty body and the parameters in the query string: fine too (query protocol).
    const q = await raw('POST', `/?${form(goodParams())}`, {}, '');
    assert.equal(q.status, 200, q.text);
  });

  test('nothing but the JSON line ever goes to stdout', () => {
    assert.equal(proc.stdout(), `${JSON.stringify(env)}\n`);
  });
});

describe('sts.mjs process', () => {
  const refused = (port) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });

  test('stdin EOF stops it (exit 0, ports closed)', async () => {
    const p = startSts();
    try {
      const env = await p.ready;
      assert.equal((await stsCall(env)).status, 400); // default token differs from TOKEN
      p.child.stdin.end();
      const { code } = await p.exited;
      assert.equal(code, 0);
      assert.ok(await refused(env.port));
      assert.ok(await refused(env.control));
    } finally {
      await p.kill();
    }
  });

  test('--ignore-stdin: survives stdin EOF, stops on SIGTERM; --port, --control-port, --duration-seconds', async () => {
    const free = await Promise.all([0, 1].map(() => new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    })));
    const p = startSts(['--ignore-stdin', '--port', String(free[0]), '--control-port', String(free[1]), '--duration-seconds', '7']);
    try {
      const env = await p.ready;
      assert.deepEqual(env, { port: free[0], control: free[1] });
      p.child.stdin.end();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(p.child.exitCode, null);
      const { data: cfg } = await control(env, 'GET', '/config');
      assert.equal(cfg.duration_seconds, 7);
      const r = await stsCall(env, { params: goodParams({ RoleArn: cfg.role_arn, WebIdentityToken: cfg.token }) });
      assert.equal(r.status, 200, r.text);
      const left = secondsLeft(creds(r).expiration);
      assert.ok(left > 4 && left <= 8, `${left}`);
      p.child.kill('SIGTERM');
      const { code } = await p.exited;
      assert.equal(code, 0);
    } finally {
      await p.kill();
    }
  });

  test('a bad option exits 2; a port in use exits 1', async () => {
    const bad = startSts(['--bogus']);
    await assert.rejects(bad.ready, /exited early \(2\)/);
    const bad2 = startSts(['--duration-seconds', '0']);
    await assert.rejects(bad2.ready, /exited early \(2\)/);
    const first = startSts();
    try {
      const env = await first.ready;
      const clash = startSts(['--port', String(env.port)]);
      await assert.rejects(clash.ready, /exited early \(1\).*EADDRINUSE/s);
    } finally {
      await first.kill();
    }
  });
});
