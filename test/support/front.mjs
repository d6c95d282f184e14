// The verifying front: HTTP/HTTPS listeners that check SigV4 and digests, inject
// faults on demand, record requests, and forward good requests to s3rver.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyRequest } from './verify-sigv4.mjs';
import { sendError, errorXml, MESSAGES } from './s3-errors.mjs';

const MAX_RECORDS = 1000;
const FAULT_KINDS = new Set([
  'status500', 'slowdown', 'reset', 'stall', 'skew', 'baddigest', 'garbage', 'badetag', 'noetag', 'endlessheader',
  'slow', 'endlessbody', 'bigerror', 'redirect301', 'redirect307', 'denied',
]);
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
]);

/**
 * @param {object} o
 * @param {number} o.upstreamPort   s3rver's port (plain HTTP on 127.0.0.1)
 * @param {string} o.region
 * @param {Record<string,string>} o.keys  accessKey -> secretKey
 * @param {string|null} o.tlsDir    directory made by gen-certs.sh, or null for HTTP only
 * @param {(msg: string) => void} o.log     per-request log (verbose only)
 * @param {(msg: string) => void} o.warn    problems
 */
export function createFront({ upstreamPort, region, keys, tlsDir, log = () => {}, warn = () => {} }) {
  const requests = [];
  const faults = [];
  let nextId = 1;
  let nextConn = 1;
  const conns = new Map(); // socket carrying HTTP -> { id, active }
  const rawSockets = new Set(); // every accepted TCP socket (also mid-TLS-handshake)
  const stalled = new Set();
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let inOutage = false;
  let clockOffsetMs = 0; // the front's own clock = real time + this (POST /clock)
  const frontNow = () => new Date(Date.now() + clockOffsetMs);

  const listeners = [{ name: 'http', server: http.createServer() }];
  if (tlsDir) {
    const tls = (cert, key) => https.createServer({
      cert: readFileSync(join(tlsDir, cert)), key: readFileSync(join(tlsDir, key)),
    });
    listeners.push(
      { name: 'https', server: tls('server.pem', 'server.key') },
      { name: 'https_wronghost', server: tls('wronghost.pem', 'wronghost.key') },
      { name: 'https_unknownca', server: tls('unknownca-server.pem', 'unknownca-server.key') },
    );
  }

  for (const l of listeners) {
    const { server } = l;
    server.keepAliveTimeout = 5000;
    server.on('connection', (sock) => {
      rawSockets.add(sock);
      sock.on('close', () => rawSockets.delete(sock));
      if (server instanceof https.Server) return; // counted once TLS is up
      trackConn(sock);
    });
    if (server instanceof https.Server) {
      server.on('secureConnection', trackConn);
      server.on('tlsClientError', (err) => log(`${l.name}: TLS client error: ${err.code ?? err.message}`));
    }
    server.on('request', (req, res) => handle(l.name, req, res));
    server.on('clientError', (err, sock) => {
      if (sock.writable && err.code !== 'ECONNRESET') sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else sock.destroy();
    });
  }

  function trackConn(sock) {
    const c = { id: nextConn++, active: 0 };
    conns.set(sock, c);
    sock.on('close', () => conns.delete(sock));
  }

  function takeFault(req) {
    let path = req.url;
    try { path = `${req.url}\n${decodeURIComponent(req.url)}`; } catch { /* keep raw */ }
    for (const f of faults) {
      if (f.remaining > 0 && (!f.match || path.includes(f.match)) && (!f.method || f.method === req.method)) {
        f.remaining -= 1;
        return f;
      }
    }
    return null;
  }

  function handle(frontName, req, res) {
    const conn = conns.get(req.socket) ?? { id: 0, active: 0 };
    conn.active += 1;
    res.on('close', () => { conn.active -= 1; });
    const q = req.url.indexOf('?');
    const rec = {
      id: nextId++,
      conn: conn.id,
      front: frontName,
      method: req.method,
      path: q < 0 ? req.url : req.url.slice(0, q),
      query: q < 0 ? '' : req.url.slice(q + 1),
      headers: { ...req.headers },
      status: null,
      bytes: 0,
      sent: 0,
      fault: null,
      error: null,
    };
    requests.push(rec);
    if (requests.length > MAX_RECORDS) requests.splice(0, requests.length - MAX_RECORDS);

    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      rec.bytes = body.length;
      serve(frontName, req, res, body, rec).catch((err) => {
        warn(`front: internal error: ${err.stack ?? err}`);
        rec.error = 'InternalError';
        if (!res.headersSent) rec.status = sendError(res, 'InternalError', String(err.message ?? err), {}, 500);
        else res.destroy();
      });
    });
  }

  async function serve(frontName, req, res, body, rec) {
    const done = (status) => {
      rec.status = status;
      log(`${frontName} #${rec.id} conn ${rec.conn} ${req.method} ${req.url} -> ${status}${rec.fault ? ` (fault ${rec.fault})` : ''}${rec.error ? ` ${rec.error}` : ''}`);
    };
    // A front whose clock is off says so in every Date header it writes itself, as a real server would.
    if (clockOffsetMs !== 0) res.setHeader('Date', frontNow().toUTCString());
    const armed = takeFault(req);
    const fault = armed?.kind ?? null;
    if (fault) {
      rec.fault = fault;
      switch (fault) {
        case 'status500': return done(sendError(res, 'InternalError', MESSAGES.InternalError, {}, 500));
        case 'slowdown': return done(sendError(res, 'SlowDown', MESSAGES.SlowDown, {}, 503));
        case 'baddigest': return done(sendError(res, 'BadDigest', MESSAGES.BadDigest, {}, 400));
        case 'denied': return done(sendError(res, 'AccessDenied', MESSAGES.AccessDenied, {}, 403));
        case 'skew': {
          const now = frontNow().toISOString().replace(/\.\d{3}Z$/, 'Z');
          return done(sendError(res, 'RequestTimeTooSkewed', MESSAGES.RequestTimeTooSkewed,
            { RequestTime: req.headers['x-amz-date'] ?? '', ServerTime: now, MaxAllowedSkewMilliseconds: 900000 }, 403));
        }
        case 'reset':
          req.socket.destroy();
          return done(0);
        case 'garbage':
          req.socket.end('NOT HTTP\r\n\r\n');
          return done(0);
        case 'badetag':
        case 'noetag': {
          // A 200 that stores nothing: an ETag that is not the body's MD5, or none at all.
          const headers = { 'Content-Length': 0, 'x-amz-request-id': 'FAULT', Server: 'scb-test-front' };
          if (fault === 'badetag') headers.ETag = '"0123456789abcdef0123456789abcdef"';
          res.writeHead(200, headers);
          res.end();
          return done(200);
        }
        case 'endlessheader': {
          // A status line, then header lines that never end, until the client gives up.
          const sock = req.socket;
          stalled.add(sock);
          sock.write('HTTP/1.1 200 OK\r\n');
          const line = `X-Endless: ${'a'.repeat(1000)}\r\n`.repeat(16);
          const timer = setInterval(() => {
            if (sock.destroyed || !sock.writable) { clearInterval(timer); return; }
            if (sock.writableLength < 1 << 20) sock.write(line);
          }, 5);
          sock.on('close', () => { clearInterval(timer); stalled.delete(sock); });
          return done(null);
        }
        case 'endlessbody': {
          // A 200 whose chunked body never ends: written as fast as the client reads, until it
          // closes. `sent` counts the body bytes handed to the socket.
          stalled.add(req.socket);
          res.writeHead(200, { 'Content-Type': 'application/xml', 'x-amz-request-id': 'FAULT', Server: 'scb-test-front' });
          const chunk = Buffer.alloc(64 * 1024, 'x');
          const pump = () => {
            while (!res.destroyed && res.writable) {
              rec.sent += chunk.length;
              if (!res.write(chunk)) return;
            }
          };
          res.on('drain', pump);
          req.socket.on('close', () => stalled.delete(req.socket));
          pump();
          return done(200);
        }
        case 'bigerror': {
          // An error whose <Message> is `bytes` long (default 60000: under a 64 KiB cap) and full of
          // terminal escape sequences, raw in the XML as a careless server would send them.
          const unit = '\x1b[31mred\x1b[0m \x1b]0;title\x07 line\nbreak ';
          const message = unit.repeat(Math.ceil(armed.bytes / unit.length)).slice(0, armed.bytes);
          const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
            + `<Message>${message}</Message><RequestId>BIGERROR</RequestId></Error>`);
          res.writeHead(armed.status, { 'Content-Type': 'application/xml', 'Content-Length': body.length, Server: 'scb-test-front' });
          res.end(body);
          rec.sent = body.length;
          return done(armed.status);
        }
        case 'redirect301':
        case 'redirect307': {
          // S3's answers for a bucket in another region (301, permanent) and for a bucket whose DNS
          // is still propagating (307, temporary); both name the bucket's region.
          const permanent = fault === 'redirect301';
          const code = permanent ? 'PermanentRedirect' : 'TemporaryRedirect';
          const message = permanent
            ? 'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.'
            : 'Please re-send this request to the specified temporary endpoint. Continue to use the original request endpoint for future requests.';
          const endpoint = `scb-test.s3.${armed.region}.amazonaws.com`;
          const body = Buffer.from(errorXml(code, message, { Endpoint: endpoint, Bucket: 'scb-test' }));
          const headers = {
            'Content-Type': 'application/xml', 'Content-Length': body.length, 'x-amz-bucket-region': armed.region,
            Server: 'scb-test-front',
          };
          if (!permanent) headers.Location = `https://${endpoint}${req.url}`;
          res.writeHead(permanent ? 301 : 307, headers);
          res.end(body);
          rec.error = code;
          return done(permanent ? 301 : 307);
        }
        case 'stall':
          stalled.add(req.socket);
          req.socket.on('close', () => stalled.delete(req.socket));
          return done(null);
        case 'slow':
          // A slow but working server: wait, then verify and store as usual.
          await new Promise((resolve) => setTimeout(resolve, armed.ms));
          break;
        default:
          break;
      }
    }

    const v = await verifyRequest({
      method: req.method, url: req.url, rawHeaders: req.rawHeaders, body, region, keys, now: frontNow(),
    });
    if (!v.ok) {
      rec.error = v.code;
      return done(sendError(res, v.code, v.message, v.extra));
    }
    const status = await forward(req, res, body);
    return done(status);
  }

  function forward(req, res, body) {
    const headers = {};
    for (const [k, val] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = val;
    if (body.length || headers['content-length'] !== undefined) headers['content-length'] = String(body.length);
    if (clockOffsetMs !== 0) {
      // Verified above against the front's skewed clock; s3rver checks the time against the real one,
      // so hand it the request anonymously (s3rver allows that).
      delete headers.authorization;
      delete headers['x-amz-date'];
    }
    return new Promise((resolve) => {
      const attempt = (retry) => {
        const up = http.request({
          host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent: upstreamAgent,
        }, (ures) => {
          const out = []; // raw (name, value) pairs: keep s3rver's header case and order
          for (let i = 0; i + 1 < ures.rawHeaders.length; i += 2) {
            if (!HOP_BY_HOP.has(ures.rawHeaders[i].toLowerCase())) out.push(ures.rawHeaders[i], ures.rawHeaders[i + 1]);
          }
          res.writeHead(ures.statusCode, out);
          ures.pipe(res);
          ures.on('error', () => res.destroy());
          resolve(ures.statusCode);
        });
        up.on('error', (err) => {
          // s3rver closes idle keep-alive sockets; a reused one may die under us.
          if (retry && up.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return attempt(false);
          warn(`front: upstream error: ${err.code ?? err.message}`);
          if (res.headersSent) { res.destroy(); resolve(0); return; }
          resolve(sendError(res, 'InternalError', `upstream s3rver failed: ${err.code ?? err.message}`, {}, 500));
        });
        up.end(body);
      };
      attempt(true);
    });
  }

  const listen = (server, port) => new Promise((resolve, reject) => {
    const onErr = (e) => reject(e);
    server.once('error', onErr);
    server.listen(port, '127.0.0.1', () => { server.off('error', onErr); resolve(server.address().port); });
  });
  const closeServer = (server) => new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

  function destroyAll() {
    for (const s of rawSockets) s.destroy();
    for (const s of conns.keys()) s.destroy();
    for (const s of stalled) s.destroy();
  }

  return {
    ports: {},
    /** `wanted`: {http, https, https_wronghost, https_unknownca} ports to bind (0 or absent: a free one). */
    async start(wanted = {}) {
      for (const l of listeners) {
        l.port = await listen(l.server, wanted[l.name] || 0);
        this.ports[l.name] = l.port;
      }
      return this.ports;
    },
    async outageStart() {
      if (inOutage) return;
      inOutage = true;
      const closing = listeners.map((l) => closeServer(l.server));
      destroyAll();
      await Promise.all(closing);
    },
    async outageEnd() {
      if (!inOutage) return;
      for (const l of listeners) await listen(l.server, l.port);
      inOutage = false;
    },
    get inOutage() { return inOutage; },
    closeIdle() {
      let n = 0;
      for (const [sock, c] of conns) {
        if (c.active === 0) { sock.destroy(); n += 1; }
      }
      return n;
    },
    addFault({ count = 1, kind, match, method, ms = 1000, bytes = 60000, status = 500, region = 'eu-west-3' }) {
      if (!FAULT_KINDS.has(kind)) throw new Error(`unknown fault kind "${kind}" (one of ${[...FAULT_KINDS].join(', ')})`);
      if (!Number.isInteger(count) || count < 1) throw new Error('count must be a positive integer');
      if (match !== undefined && typeof match !== 'string') throw new Error('match must be a string');
      if (method !== undefined && !['GET', 'PUT', 'HEAD', 'POST', 'DELETE'].includes(method)) throw new Error('method must be GET, PUT, HEAD, POST or DELETE');
      if (!Number.isInteger(ms) || ms < 0) throw new Error('ms must be a non-negative integer');
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 64 << 20) throw new Error('bytes must be an integer in 1..67108864');
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new Error('status must be an integer in 400..599');
      if (typeof region !== 'string' || !region) throw new Error('region must be a non-empty string');
      const extra = { slow: { ms }, bigerror: { bytes, status }, redirect301: { region }, redirect307: { region } };
      faults.push({ kind, remaining: count, match: match || null, method: method || null, ...(extra[kind] ?? {}) });
    },
    /** Sets the front's clock to real time + offsetMs (SigV4 skew check and Date headers). */
    setClockOffset(offsetMs) {
      if (!Number.isInteger(offsetMs)) throw new Error('offset_ms must be an integer');
      clockOffsetMs = offsetMs;
    },
    get clockOffset() { return clockOffsetMs; },
    listFaults() { return faults.filter((f) => f.remaining > 0).map((f) => ({ ...f })); },
    clearFaults() { faults.length = 0; },
    get requests() { return requests; },
    clearRequests() { requests.length = 0; },
    async stop() {
      const closing = listeners.map((l) => closeServer(l.server));
      destroyAll();
      await Promise.all(closing);
      upstreamAgent.destroy();
    },
  };
}
