// node --test suite for s3env.mjs restarts: killed (SIGKILL) and started again on the same ports
// with the same --data-dir, it still has the objects stored before the kill.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { s3Request } from './s3-client.mjs';
import { startServer } from './start-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const S3ENV = join(HERE, 's3env.mjs');

/** Start s3env.mjs; resolves with its JSON line. */
const startEnv = (args) => startServer(S3ENV, args, { nodeFlags: ['--openssl-legacy-provider'] });

const objects = async (env, bucket) => (await fetch(`http://127.0.0.1:${env.control}/objects?bucket=${bucket}`)).json();
const get = (env, key) => s3Request({ port: env.http, path: `/scb-test/${key}` });

describe('s3env restart', () => {
  test('SIGKILL, then a start on the same ports and --data-dir keeps the objects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3env-restart-'));
    const tlsDir = join(dir, 'tls');
    const dataDir = join(dir, 'data');
    let p = startEnv(['--tls-dir', tlsDir, '--data-dir', dataDir]);
    try {
      const first = await p.ready;
      const put = await s3Request({ port: first.http, method: 'PUT', path: '/scb-test/a/before', body: 'kept' });
      assert.equal(put.status, 200, put.body.toString());

      const { signal } = await p.kill('SIGKILL');
      assert.equal(signal, 'SIGKILL');
      for (const port of [first.http, first.https, first.https_wronghost, first.https_unknownca, first.control]) {
        await assert.rejects(s3Request({ port, path: '/scb-test' }), { code: 'ECONNREFUSED' }, `port ${port}`);
      }
      assert.ok(existsSync(dataDir));

      p = startEnv(['--tls-dir', tlsDir, '--data-dir', dataDir,
        '--http-port', String(first.http), '--https-port', String(first.https),
        '--https-wronghost-port', String(first.https_wronghost),
        '--https-unknownca-port', String(first.https_unknownca), '--control-port', String(first.control)]);
      const second = await p.ready;
      for (const k of ['http', 'https', 'https_wronghost', 'https_unknownca', 'control']) {
        assert.equal(second[k], first[k], k);
      }
      assert.deepEqual((await objects(second, 'scb-test')).map((o) => o.key), ['a/before']);
      const got = await get(second, 'a/before');
      assert.equal(got.status, 200);
      assert.equal(got.body.toString(), 'kept');
      const put2 = await s3Request({ port: second.http, method: 'PUT', path: '/scb-test/a/after', body: 'new' });
      assert.equal(put2.status, 200, put2.body.toString());

      // A clean stop leaves a given --data-dir in place (it is the caller's).
      const { code } = await p.kill('SIGTERM');
      assert.equal(code, 0);
      assert.ok(existsSync(join(dataDir, 'scb-test')));
    } finally {
      await p.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a port in use makes the start fail (exit 1)', async () => {
    const a = startEnv([]);
    try {
      const env = await a.ready;
      const b = startEnv(['--http-port', String(env.http)]);
      await assert.rejects(b.ready, /exited early \(1\).*EADDRINUSE/s);
    } finally {
      await a.kill('SIGTERM');
    }
  });

  test('a bad port option exits 2', async () => {
    const b = startEnv(['--http-port', 'x']);
    await assert.rejects(b.ready, /exited early \(2\).*needs a port number/s);
  });
});
