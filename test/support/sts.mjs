#!/usr/bin/env node
// sts.mjs -- a loopback AWS STS for AssumeRoleWithWebIdentity (Kubernetes IRSA / OIDC federation).
// It checks the request the way STS documents it (query protocol, unsigned call, parameter
// constraints from the STS API model), answers STS's XML, and is steered through a JSON control port.
// Only Node built-ins: no npm packages needed.
// Usage: node test/support/sts.mjs [--port N] [--control-port N] [--duration-seconds N]
//          [--ignore-stdin] [--verbose]
// Prints one JSON line {"port":P,"control":C} when ready; stops on stdin EOF, SIGTERM, SIGINT, SIGHUP.
import http from 'node:http';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
export const API_VERSION = '2011-06-15';
const MAX_RECORDS = 1000;
const MAX_BODY = 1024 * 1024;
const MODES = new Set(['ok', 'expired', 'denied', 'invalid', 'idp_error']);

export const DEFAULT_CONFIG = Object.freeze({
  role_arn: 'arn:aws:iam::123456789012:role/scb-backup',
  token: 'scb-test-web-identity-token',
  mode: 'ok',
  count: null, // null: `mode` stays; N: `mode` answers the next N token checks, then back to "ok"
  duration_seconds: null, // null: the request's DurationSeconds, else the server default
  access_key_prefix: 'ASIA',
  // null: new random keys each time; a string: these keys every time (with a new session token), so
  // that a test's S3 server, which knows only its own keys, accepts what STS issued.
  issue_access_key_id: null,
  issue_secret_access_key: null,
  subject: 'system:serviceaccount:lnd:scb-backup',
  audience: 'sts.amazonaws.com',
  provider: null, // null: arn:aws:iam::<role's account>:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/<hash>
});

// Parameter constraints from the STS API model (botocore sts/2011-06-15/service-2.json).
const ROLE_ARN_LEN = [20, 2048];
const SESSION_NAME_LEN = [2, 64];
const SESSION_NAME_RE = /^[\w+=,.@-]*$/;
const TOKEN_LEN = [4, 20000];
const DURATION_RANGE = [900, 43200];
const PROVIDER_ID_LEN = [4, 2048];
const POLICY_LEN = [1, 2048];
// The IAM role ARN format (path optional): arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME
const ROLE_ARN_RE = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/((?:[\x21-\x7E]+\/)*)([\w+=,.@-]{1,64})$/;

const STATUS = {
  ValidationError: 400,
  MissingAction: 400,
  InvalidAction: 400,
  AccessDenied: 403,
  ExpiredTokenException: 400,
  InvalidIdentityToken: 400,
  IDPCommunicationError: 400,
  IDPRejectedClaim: 403,
};

/** Escape for XML text content (all we write: no attributes from user data). */
export function xmlEscape(s) {
  return String(s).replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]);
}

/** STS (query protocol) error body. */
export function errorXml(code, message, requestId, type = 'Sender') {
  return `<ErrorResponse xmlns="${XMLNS}">\n  <Error>\n    <Type>${type}</Type>\n`
    + `    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n`
    + `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
}

/** ISO-8601 without milliseconds, as STS writes <Expiration>: 2024-01-02T03:04:05Z. */
export const isoSeconds = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');

class StsError extends Error {
  constructor(code, message, status = STATUS[code] ?? 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function validateConfigPatch(patch) {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('body must be a JSON object');
  for (const [k, v] of Object.entries(patch)) {
    if (!(k in DEFAULT_CONFIG)) throw new Error(`unknown config key "${k}"`);
    switch (k) {
      case 'mode':
        if (!MODES.has(v)) throw new Error(`mode must be one of ${[...MODES].join(', ')}`);
        break;
      case 'count':
      case 'duration_seconds':
        if (v !== null && (!Number.isInteger(v) || v < (k === 'count' ? 0 : 1))) {
          throw new Error(`${k} must be null or an integer >= ${k === 'count' ? 0 : 1}`);
        }
        break;
      case 'access_key_prefix':
        if (typeof v !== 'string' || !/^[A-Z0-9]{1,12}$/.test(v)) throw new Error('access_key_prefix must be 1..12 of [A-Z0-9]');
        break;
      case 'provider':
      case 'issue_access_key_id':
      case 'issue_secret_access_key':
        if (v !== null && (typeof v !== 'string' || v === '')) throw new Error(`${k} must be null or a non-empty string`);
        break;
      default:
        if (typeof v !== 'string' || v === '') throw new Error(`${k} must be a non-empty string`);
    }
  }
}

/**
 * @param {object} o
 * @param {number|null} o.durationSeconds  initial `duration_seconds` of the config (--duration-seconds)
 * @param {(msg: string) => void} o.log   per-request log (verbose only)
 * @param {(msg: string) => void} o.warn  problems
 */
export function createSts({ durationSeconds = null, log = () => {}, warn = () => {} } = {}) {
  let config = { ...DEFAULT_CONFIG, duration_seconds: durationSeconds };
  const requests = [];
  const issued = [];
  let nextId = 1;
  let serial = 0; // credentials issued by this process: each success gets new ones
  const runTag = randomBytes(8).toString('hex').toUpperCase(); // tells two servers' keys apart

  // ---- the STS endpoint --------------------------------------------------------------------
  const server = http.createServer();
  server.keepAliveTimeout = 5000;
  server.on('request', (req, res) => {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', () => {
      try {
        serve(req, res, Buffer.concat(chunks), tooBig);
      } catch (e) {
        warn(`internal error: ${e.stack ?? e}`);
        if (!res.headersSent) send(res, 500, errorXml('InternalFailure', String(e.message), randomUUID(), 'Receiver'), randomUUID());
      }
    });
  });
  server.on('clientError', (err, sock) => {
    if (sock.writable && err.code !== 'ECONNRESET') sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else sock.destroy();
  });

  function serve(req, res, body, tooBig) {
    const requestId = randomUUID();
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const contentType = req.headers['content-type'] ?? null;
    const seen = new Map(); // first value of each name; a Map so that names like __proto__ are plain data
    const addParams = (sp) => { for (const [k, v] of sp) if (!seen.has(k)) seen.set(k, v); };
    const isForm = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType ?? '');
    if (req.method === 'POST' && isForm && !tooBig) addParams(new URLSearchParams(body.toString('utf8')));
    addParams(new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1))); // the body wins over the query
    const params = Object.fromEntries(seen);
    const signed = isSigned(req.headers, params);
    const rec = {
      id: nextId++,
      method: req.method,
      path,
      content_type: contentType,
      params,
      authorization: signed,
      headers: { ...req.headers },
      status: null,
      code: null,
    };
    requests.push(rec);
    if (requests.length > MAX_RECORDS) requests.splice(0, requests.length - MAX_RECORDS);

    let status;
    let xml;
    try {
      check(req, path, body, isForm, tooBig, signed);
      const creds = assume(params);
      xml = successXml(creds, requestId);
      status = 200;
    } catch (e) {
      if (!(e instanceof StsError)) throw e;
      status = e.status;
      rec.code = e.code;
      xml = errorXml(e.code, e.message, requestId, e.status >= 500 ? 'Receiver' : 'Sender');
    }
    rec.status = status;
    log(`${req.method} ${path} -> ${status}${rec.code ? ` ${rec.code}` : ''}`);
    send(res, status, xml, requestId);
  }

  function check(req, path, body, isForm, tooBig, signed) {
    // Test-server strictness first (codes TestServer.*: real STS words these differently or not at all).
    if (req.method !== 'POST' && req.method !== 'GET') {
      throw new StsError('TestServer.BadMethod', `method ${req.method}: STS query calls are POST (form body) or GET (query string)`, 405);
    }
    if (path !== '/') throw new StsError('TestServer.BadPath', `path "${path}": the STS query endpoint is "/"`, 404);
    if (tooBig) throw new StsError('TestServer.BodyTooLarge', `request body over ${MAX_BODY} bytes`, 413);
    if (req.method === 'POST' && body.length > 0 && !isForm) {
      throw new StsError('TestServer.BadContentType',
        `POST body with Content-Type "${req.headers['content-type'] ?? ''}": it must be application/x-www-form-urlencoded`);
    }
    if (req.method === 'GET' && body.length > 0) {
      throw new StsError('TestServer.BadMethod', 'GET with a body: put the parameters in the query string or use POST');
    }
    if (signed) {
      throw new StsError('TestServer.SignedRequest',
        'AssumeRoleWithWebIdentity is an unsigned call: the request carries SigV4 material (Authorization, '
        + 'X-Amz-Security-Token or X-Amz-Signature/X-Amz-Credential). A client that signs it has credentials it '
        + 'should not be using here.');
    }
  }

  function assume(p) {
    if (p.Action === undefined || p.Action === '') throw new StsError('MissingAction', 'Missing Action');
    if (p.Action !== 'AssumeRoleWithWebIdentity') {
      throw new StsError('InvalidAction', `Could not find operation ${p.Action} for version ${p.Version ?? 'NO_VERSION_SPECIFIED'}`
        + ' (this test STS implements AssumeRoleWithWebIdentity only)');
    }
    if (p.Version !== API_VERSION) {
      throw new StsError('InvalidAction', `Could not find operation AssumeRoleWithWebIdentity for version ${p.Version ?? 'NO_VERSION_SPECIFIED'}`);
    }

    // Model constraints, all reported at once like AWS does.
    const errors = [];
    const len = (name, v, [min, max], sensitive = false) => {
      const shown = sensitive ? '' : ` '${v}'`;
      if (v === undefined) errors.push(`Value null at '${name}' failed to satisfy constraint: Member must not be null`);
      else if (v.length < min) errors.push(`Value${shown} at '${name}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`);
      else if (v.length > max) errors.push(`Value${shown} at '${name}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
      else return true;
      return false;
    };
    len('roleArn', p.RoleArn, ROLE_ARN_LEN);
    if (len('roleSessionName', p.RoleSessionName, SESSION_NAME_LEN) && !SESSION_NAME_RE.test(p.RoleSessionName)) {
      errors.push(`Value '${p.RoleSessionName}' at 'roleSessionName' failed to satisfy constraint: `
        + 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
    }
    len('webIdentityToken', p.WebIdentityToken, TOKEN_LEN, true);
    if (p.ProviderId !== undefined) len('providerId', p.ProviderId, PROVIDER_ID_LEN);
    if (p.Policy !== undefined) len('policy', p.Policy, POLICY_LEN);
    let requested = null;
    if (p.DurationSeconds !== undefined) {
      requested = /^\d{1,9}$/.test(p.DurationSeconds) ? Number(p.DurationSeconds) : NaN;
      if (Number.isNaN(requested)) {
        errors.push(`Value '${p.DurationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer`);
      } else if (requested < DURATION_RANGE[0]) {
        errors.push(`Value '${requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${DURATION_RANGE[0]}`);
      } else if (requested > DURATION_RANGE[1]) {
        errors.push(`Value '${requested}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to ${DURATION_RANGE[1]}`);
      }
    }
    if (errors.length) {
      const n = errors.length;
      throw new StsError('ValidationError', `${n} validation error${n > 1 ? 's' : ''} detected: ${errors.join('; ')}`);
    }
    const arn = ROLE_ARN_RE.exec(p.RoleArn);
    if (!arn) throw new StsError('ValidationError', 'Request ARN is invalid');

    // The configured behaviour.
    let { mode } = config;
    if (mode !== 'ok' && config.count !== null) {
      if (config.count <= 0) mode = 'ok';
      else if (--config.count === 0) config = { ...config, mode: 'ok', count: null };
    }
    const nowS = Math.floor(Date.now() / 1000);
    switch (mode) {
      case 'expired':
        throw new StsError('ExpiredTokenException',
          `Token expired: current date/time ${nowS} must be before the expiration date/time ${nowS - 300}`);
      case 'denied':
        throw new StsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
      case 'invalid':
        throw new StsError('InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  "
          + 'please reference AssumeRoleWithWebIdentity documentation for requirements');
      case 'idp_error':
        throw new StsError('IDPCommunicationError', 'The request could not be fulfilled because the identity provider (IDP) '
          + 'that was asked to verify the incoming identity token could not be reached.');
      default:
    }
    if (p.WebIdentityToken !== config.token) {
      throw new StsError('InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS '
        + '(test STS: it is not the configured token).');
    }
    if (p.RoleArn !== config.role_arn) {
      throw new StsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }

    // Success: new credentials every time.
    const duration = config.duration_seconds ?? requested ?? 3600;
    serial += 1;
    const prefix = config.access_key_prefix;
    const fill = 20 - prefix.length;
    const num = String(serial).padStart(Math.min(6, fill), '0');
    const tag = createHash('sha256').update(`${runTag}:${serial}`).digest('hex').toUpperCase();
    const accessKeyId = `${prefix}${tag.slice(0, Math.max(0, fill - num.length))}${num}`.slice(0, 20);
    const secret = randomBytes(30).toString('base64'); // 40 chars of [A-Za-z0-9+/], like real secrets
    const sessionToken = Buffer.concat([Buffer.from(`scb-test-sts:${runTag}:${serial}:`), randomBytes(480)]).toString('base64');
    const expiration = isoSeconds(Date.now() + duration * 1000);
    const [, partition, account, , roleName] = arn;
    const roleHash = createHash('sha256').update(p.RoleArn).digest('hex').toUpperCase();
    const roleId = `AROA${roleHash.slice(0, 17)}`;
    const creds = {
      access_key_id: config.issue_access_key_id ?? accessKeyId,
      secret_access_key: config.issue_secret_access_key ?? secret,
      session_token: sessionToken,
      expiration,
    };
    issued.push(creds);
    return {
      ...creds,
      subject: config.subject,
      audience: config.audience,
      provider: config.provider
        ?? `arn:${partition}:iam::${account}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/${roleHash.slice(17, 49)}`,
      assumed_arn: `arn:${partition}:sts::${account}:assumed-role/${roleName}/${p.RoleSessionName}`,
      assumed_id: `${roleId}:${p.RoleSessionName}`,
    };
  }

  function successXml(c, requestId) {
    const e = xmlEscape;
    return `<AssumeRoleWithWebIdentityResponse xmlns="${XMLNS}">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>${c.access_key_id}</AccessKeyId>
      <SecretAccessKey>${c.secret_access_key}</SecretAccessKey>
      <SessionToken>${c.session_token}</SessionToken>
      <Expiration>${c.expiration}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>${e(c.subject)}</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>${e(c.assumed_arn)}</Arn>
      <AssumedRoleId>${e(c.assumed_id)}</AssumedRoleId>
    </AssumedRoleUser>
    <Provider>${e(c.provider)}</Provider>
    <Audience>${e(c.audience)}</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
  }

  // ---- the control API ---------------------------------------------------------------------
  const routes = {
    'GET /config': () => config,
    'POST /config': (b) => {
      let patch;
      try { patch = JSON.parse(b.toString('utf8') || '{}'); } catch { throw httpError(400, 'body must be JSON'); }
      try { validateConfigPatch(patch); } catch (e) { throw httpError(400, e.message); }
      config = { ...config, ...patch };
      return { ok: true, config };
    },
    'DELETE /config': () => { config = { ...DEFAULT_CONFIG, duration_seconds: durationSeconds }; return { ok: true, config }; },
    'GET /requests': () => requests,
    'DELETE /requests': () => { requests.length = 0; return { ok: true }; },
    'GET /issued': () => issued,
    'DELETE /issued': () => { issued.length = 0; return { ok: true }; },
  };
  const control = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://control');
      const route = routes[`${req.method} ${url.pathname}`];
      try {
        if (!route) throw httpError(404, `no route ${req.method} ${url.pathname}`);
        sendJson(res, 200, route(Buffer.concat(chunks)));
      } catch (e) {
        if (!e.status) warn(`control: ${e.stack ?? e}`);
        sendJson(res, e.status ?? 500, { error: e.message });
      }
    });
  });

  const listen = (srv, port) => new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => { srv.off('error', reject); resolve(srv.address().port); });
  });
  const close = (srv) => new Promise((resolve) => {
    if (!srv.listening) { resolve(); return; }
    srv.close(() => resolve());
    srv.closeAllConnections();
  });

  return {
    port: null,
    controlPort: null,
    get config() { return config; },
    requests,
    issued,
    /** Listen on 127.0.0.1 (0: a free port). */
    async start({ port = 0, controlPort = 0 } = {}) {
      this.port = await listen(server, port);
      this.controlPort = await listen(control, controlPort);
      return { port: this.port, control: this.controlPort };
    },
    async stop() {
      await Promise.all([close(server), close(control)]);
    },
  };
}

function isSigned(headers, params) {
  if (headers.authorization !== undefined || headers['x-amz-security-token'] !== undefined) return true;
  return ['X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', 'Signature', 'AWSAccessKeyId']
    .some((k) => Object.hasOwn(params, k));
}

function send(res, status, xml, requestId) {
  const body = Buffer.from(xml);
  res.writeHead(status, {
    'Content-Type': 'text/xml',
    'Content-Length': body.length,
    'x-amzn-RequestId': requestId,
    Date: new Date().toUTCString(),
  });
  res.end(body);
}

function httpError(status, message) {
  return Object.assign(new Error(message), { status });
}

function sendJson(res, status, obj) {
  const body = Buffer.from(`${JSON.stringify(obj)}\n`);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

// ---- CLI ---------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = { port: 0, controlPort: 0, durationSeconds: null, ignoreStdin: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = (min, max) => {
      const v = val();
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${a} needs an integer ${min}..${max}`);
      return n;
    };
    if (a === '--port') o.port = int(0, 65535);
    else if (a === '--control-port') o.controlPort = int(0, 65535);
    else if (a === '--duration-seconds') o.durationSeconds = int(1, 10 * 365 * 86400);
    else if (a === '--ignore-stdin') o.ignoreStdin = true;
    else if (a === '--verbose') o.verbose = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

async function main() {
  const err = (msg) => process.stderr.write(`sts: ${msg}\n`);
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    err(e.message);
    process.exit(2);
  }
  const sts = createSts({ durationSeconds: opts.durationSeconds, log: opts.verbose ? err : () => {}, warn: err });
  let stopping = false;
  const shutdown = async (code) => {
    if (stopping) return;
    stopping = true;
    try { await sts.stop(); } catch (e) { err(`stop: ${e.message}`); }
    process.exit(code);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => shutdown(0));
  // Exit if whoever started us goes away without closing our stdin or signalling.
  const ppid = process.ppid;
  setInterval(() => { if (process.ppid !== ppid) { err('parent went away; stopping'); shutdown(0); } }, 1000).unref();

  try {
    const ports = await sts.start({ port: opts.port, controlPort: opts.controlPort });
    process.stdout.write(`${JSON.stringify(ports)}\n`);
  } catch (e) {
    err(`failed to start: ${e.code ?? ''} ${e.message}`);
    await shutdown(1);
    return;
  }
  if (!opts.ignoreStdin) {
    process.stdin.on('end', () => shutdown(0));
    process.stdin.on('error', () => shutdown(0));
    process.stdin.resume();
  }
}

const isMain = (() => {
  try { return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url)); } catch { return false; }
})();
if (isMain) await main();
