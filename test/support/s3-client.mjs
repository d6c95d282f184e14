// A minimal S3 client signing with @smithy/signature-v4, used by the control
// server (to read s3rver independently of the front) and by the tests.
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';

/** RFC 3986 encoding as S3 clients do: every byte but A-Za-z0-9-_.~ */
export const uriEscape = (s) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Encode an object key for the path: each segment escaped, "/" kept. */
export const encodeKey = (key) => key.split('/').map(uriEscape).join('/');

export const objectPath = (bucket, key) => (key === undefined ? `/${bucket}` : `/${bucket}/${encodeKey(key)}`);

function queryString(query) {
  const parts = [];
  for (const [k, v] of Object.entries(query)) {
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${uriEscape(k)}=${uriEscape(one)}`);
  }
  return parts.join('&');
}

/**
 * Send one signed request. Returns { status, headers, body: Buffer }.
 * opts: protocol ('http'|'https'), port, host (default 127.0.0.1), ca, servername,
 *   method, path (already encoded), query (object), headers, body (Buffer|string),
 *   region, accessKey, secretKey, agent, date (signing time, default now),
 *   tamper(signedRequest) -- called after signing, may change headers/body.
 */
export async function s3Request(opts) {
  const {
    protocol = 'http', host = '127.0.0.1', port, method = 'GET', path, query = {},
    region = 'us-east-1', accessKey = 'S3RVER', secretKey = 'S3RVER', agent, ca, servername,
  } = opts;
  const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(opts.body);
  const headers = {
    host: `${host}:${port}`,
    'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
    ...(body.length || method === 'PUT' || method === 'POST' ? { 'content-length': String(body.length) } : {}),
    ...(opts.headers ?? {}),
  };
  const signer = new SignatureV4({
    service: 's3', region, sha256: Sha256, uriEscapePath: false, applyChecksum: false,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
  const signed = await signer.sign(new HttpRequest({
    method, protocol: `${protocol}:`, hostname: host, port, path, query, headers, body,
  }), opts.date ? { signingDate: opts.date } : {});
  const req = { method, path, query, headers: { ...signed.headers }, body };
  opts.tamper?.(req);
  const qs = queryString(req.query);
  const lib = protocol === 'https' ? https : http;
  return new Promise((resolve, reject) => {
    const r = lib.request({
      host, port, method: req.method, path: qs ? `${req.path}?${qs}` : req.path, headers: req.headers,
      agent, ca, servername, ...(protocol === 'https' && !servername ? { servername: 'localhost' } : {}),
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Extract <Tag>value</Tag> (first) from S3 XML. */
export function xmlValue(xml, tag) {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? xmlUnescape(m[1]) : undefined;
}

export function xmlUnescape(s) {
  return s.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (all, name, dec, hex) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[name];
  });
}

/** All objects of a bucket via ListObjectsV2 (paginated): [{ key, size }] */
export async function listAll(conn, bucket, pageSize = 1000) {
  const out = [];
  let token;
  for (;;) {
    const query = { 'list-type': '2', 'max-keys': String(pageSize), ...(token ? { 'continuation-token': token } : {}) };
    const res = await s3Request({ ...conn, method: 'GET', path: `/${bucket}`, query });
    const xml = res.body.toString('utf8');
    if (res.status !== 200) throw Object.assign(new Error(`ListObjectsV2 ${bucket}: ${res.status} ${xml}`), { status: res.status });
    for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      out.push({ key: xmlValue(m[1], 'Key'), size: Number(xmlValue(m[1], 'Size')) });
    }
    if (xmlValue(xml, 'IsTruncated') !== 'true') break;
    token = xmlValue(xml, 'NextContinuationToken');
    if (!token) break;
  }
  return out;
}
