// The control server: a small JSON HTTP API for tests to inspect and steer the front.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { s3Request, listAll, objectPath } from './s3-client.mjs';

/**
 * @param {object} o
 * @param {ReturnType<import('./front.mjs').createFront>} o.front
 * @param {object} o.s3conn  { port, region, accessKey, secretKey } of s3rver itself
 */
export function createControl({ front, s3conn, warn = () => {} }) {
  const agent = new http.Agent({ keepAlive: false });
  const conn = { ...s3conn, agent };

  const routes = {
    'GET /requests': () => front.requests,
    'DELETE /requests': () => { front.clearRequests(); return { ok: true }; },
    'POST /outage/start': async () => { await front.outageStart(); return { ok: true, outage: true }; },
    'POST /outage/end': async () => { await front.outageEnd(); return { ok: true, outage: false }; },
    'POST /close-idle': () => ({ ok: true, closed: front.closeIdle() }),
    'GET /faults': () => front.listFaults(),
    'POST /faults': (url, body) => {
      let spec;
      try { spec = JSON.parse(body.toString('utf8') || '{}'); } catch { throw httpError(400, 'body must be JSON'); }
      try { front.addFault(spec); } catch (e) { throw httpError(400, e.message); }
      return { ok: true, faults: front.listFaults() };
    },
    'DELETE /faults': () => { front.clearFaults(); return { ok: true }; },
    'GET /clock': () => ({ offset_ms: front.clockOffset }),
    'POST /clock': (url, body) => {
      let spec;
      try { spec = JSON.parse(body.toString('utf8') || '{}'); } catch { throw httpError(400, 'body must be JSON'); }
      try { front.setClockOffset(spec.offset_ms ?? 0); } catch (e) { throw httpError(400, e.message); }
      return { ok: true, offset_ms: front.clockOffset };
    },
    'GET /objects': async (url) => {
      const bucket = need(url, 'bucket');
      const pageSize = Number(url.searchParams.get('max-keys') || 1000); // small values exercise paging
      const objects = await listAll(conn, bucket, pageSize);
      const out = [];
      for (const o of objects) {
        const data = await getObject(bucket, o.key);
        out.push({ key: o.key, size: o.size, sha256: createHash('sha256').update(data).digest('hex') });
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    'GET /object': async (url) => ({ raw: await getObject(need(url, 'bucket'), need(url, 'key')) }),
    // An object lost behind the client's back (a lifecycle rule, an operator's mistake).
    'DELETE /object': async (url) => {
      const res = await s3Request({ ...conn, method: 'DELETE', path: objectPath(need(url, 'bucket'), need(url, 'key')) });
      if (res.status !== 204 && res.status !== 200) throw httpError(res.status, res.body.toString('utf8'));
      return { ok: true };
    },
  };

  async function getObject(bucket, key) {
    const res = await s3Request({ ...conn, method: 'GET', path: objectPath(bucket, key) });
    if (res.status !== 200) throw httpError(res.status, res.body.toString('utf8'));
    return res.body;
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://control');
      const route = routes[`${req.method} ${url.pathname}`];
      try {
        if (!route) throw httpError(404, `no route ${req.method} ${url.pathname}`);
        const result = await route(url, Buffer.concat(chunks));
        if (result && Buffer.isBuffer(result.raw)) {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': result.raw.length });
          res.end(result.raw);
        } else {
          send(res, 200, result);
        }
      } catch (e) {
        if (!e.status) warn(`control: ${e.stack ?? e}`);
        send(res, e.status ?? 500, { error: e.message });
      }
    });
  });

  return {
    port: null,
    /** `port`: the port to bind (0: a free one). */
    async start(port = 0) {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      this.port = server.address().port;
      return this.port;
    },
    async stop() {
      const closed = new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}

function need(url, name) {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw httpError(400, `missing query parameter "${name}"`);
  return v;
}

function httpError(status, message) {
  return Object.assign(new Error(message), { status });
}

function send(res, status, obj) {
  const body = Buffer.from(`${JSON.stringify(obj)}\n`);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
