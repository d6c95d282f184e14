// Verifies an incoming S3 request's AWS SigV4 Authorization header (plus payload
// hash and digests) by re-signing it with AWS's own signer, @smithy/signature-v4.
//
// verifyRequest(...) resolves to { ok: true, accessKey } or
// { ok: false, code, message, extra } where code is an S3 error code.
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { MESSAGES } from './s3-errors.mjs';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60 * 1000;

const fail = (code, message = MESSAGES[code], extra = {}) => ({ ok: false, code, message, extra });

/** Parse "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." or null. */
export function parseAuthorization(value) {
  const m = /^AWS4-HMAC-SHA256\s+(.+)$/.exec(value ?? '');
  if (!m) return null;
  const parts = {};
  for (const piece of m[1].split(',')) {
    const eq = piece.indexOf('=');
    if (eq < 0) return null;
    parts[piece.slice(0, eq).trim()] = piece.slice(eq + 1).trim();
  }
  const { Credential, SignedHeaders, Signature } = parts;
  if (!Credential || !SignedHeaders || !Signature) return null;
  const cred = Credential.split('/');
  if (cred.length !== 5 || cred[4] !== 'aws4_request') return null;
  const [accessKey, date, region, service] = cred;
  if (!/^\d{8}$/.test(date) || !/^[0-9a-f]{64}$/.test(Signature)) return null;
  const signedHeaders = SignedHeaders.split(';');
  if (signedHeaders.some((h) => !h || h !== h.toLowerCase())) return null;
  return { accessKey, date, region, service, signedHeaders, signature: Signature };
}

/** rawHeaders array -> { lowercasename: value } with repeated headers joined by ",". */
export function headerMap(rawHeaders) {
  const map = Object.create(null);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    map[name] = name in map ? `${map[name]},${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return map;
}

/** "a=1&b&c=%20" -> { a: "1", b: "", c: " " }; repeated keys become arrays. */
export function parseQuery(rawQuery) {
  const query = {};
  const dec = (s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  };
  for (const piece of rawQuery.split('&')) {
    if (!piece) continue;
    const eq = piece.indexOf('=');
    const key = dec(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? '' : dec(piece.slice(eq + 1));
    if (key === '__proto__') continue;
    if (!Object.hasOwn(query, key)) query[key] = value;
    else if (Array.isArray(query[key])) query[key].push(value);
    else query[key] = [query[key], value];
  }
  return query;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? null : d;
}

const toLongDate = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
const hexBytes = (s) => Buffer.from(s).toString('hex').match(/../g)?.join(' ') ?? '';

/**
 * @param {object} p
 * @param {string} p.method
 * @param {string} p.url        request target exactly as received (path?query)
 * @param {string[]} p.rawHeaders
 * @param {Buffer} p.body
 * @param {string} p.region     the region this endpoint serves (not the client's claim)
 * @param {Record<string,string>} p.keys  accessKey -> secretKey
 * @param {Date} [p.now]
 */
export async function verifyRequest({ method, url, rawHeaders, body, region, keys, now = new Date() }) {
  const headers = headerMap(rawHeaders);

  // a. Authorization header
  if (headers.authorization === undefined) return fail('AccessDenied');
  const auth = parseAuthorization(headers.authorization);
  if (!auth) {
    return fail('AuthorizationHeaderMalformed',
      'The authorization header is malformed; it must be AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=..., Signature=<64 hex>.');
  }
  const secretKey = keys[auth.accessKey];
  if (secretKey === undefined) {
    return fail('InvalidAccessKeyId', MESSAGES.InvalidAccessKeyId, { AWSAccessKeyId: auth.accessKey });
  }

  // b. payload hash
  const contentSha = headers['x-amz-content-sha256'];
  const bodySha = createHash('sha256').update(body).digest('hex');
  if (contentSha === undefined) {
    return fail('XAmzContentSHA256Mismatch', 'Missing required header for this request: x-amz-content-sha256',
      { ClientComputedContentSHA256: '', S3ComputedContentSHA256: bodySha });
  }
  if (contentSha !== 'UNSIGNED-PAYLOAD' && contentSha !== bodySha) {
    return fail('XAmzContentSHA256Mismatch', MESSAGES.XAmzContentSHA256Mismatch,
      { ClientComputedContentSHA256: contentSha, S3ComputedContentSHA256: bodySha });
  }

  // c. digests
  const md5 = headers['content-md5'];
  if (md5 !== undefined) {
    const want = createHash('md5').update(body).digest('base64');
    if (Buffer.from(md5, 'base64').length !== 16) return fail('InvalidDigest');
    if (md5 !== want) {
      return fail('BadDigest', MESSAGES.BadDigest, { ExpectedDigest: md5, CalculatedDigest: want });
    }
  }
  const ckSha = headers['x-amz-checksum-sha256'];
  if (ckSha !== undefined && ckSha !== createHash('sha256').update(body).digest('base64')) {
    return fail('BadDigest', MESSAGES.BadChecksum);
  }

  // Every header named in SignedHeaders must be present; host and all x-amz-* must be signed.
  const signedSet = new Set(auth.signedHeaders);
  const missing = auth.signedHeaders.filter((h) => headers[h] === undefined);
  if (missing.length) {
    return fail('AccessDenied', `Signed header(s) not present in the request: ${missing.join(', ')}`);
  }
  const notSigned = Object.keys(headers)
    .filter((h) => (h === 'host' || h.startsWith('x-amz-')) && !signedSet.has(h));
  if (notSigned.length) {
    return fail('AccessDenied', 'There were headers present in the request which were not signed',
      { HeadersNotSigned: notSigned.join(', ') });
  }

  // Date: x-amz-date (or Date) gives the signing time; the scope date must match it.
  let signingDate;
  let longDate;
  if (headers['x-amz-date'] !== undefined) {
    signingDate = parseAmzDate(headers['x-amz-date']);
    longDate = headers['x-amz-date'];
  } else if (headers.date !== undefined) {
    signingDate = new Date(headers.date);
    if (Number.isNaN(signingDate.getTime())) signingDate = null;
    else longDate = toLongDate(signingDate);
  }
  if (!signingDate) return fail('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  if (auth.date !== longDate.slice(0, 8)) {
    return fail('AuthorizationHeaderMalformed',
      `Invalid credential date "${auth.date}". This date is not the same as X-Amz-Date: "${longDate.slice(0, 8)}".`);
  }

  // d. re-sign with smithy
  const q = url.indexOf('?');
  const rawPath = (q < 0 ? url : url.slice(0, q)) || '/';
  const query = parseQuery(q < 0 ? '' : url.slice(q + 1));
  const [hostname, port] = splitHost(headers.host ?? '');
  const signedOnly = {};
  for (const h of auth.signedHeaders) signedOnly[h] = headers[h];
  const request = new HttpRequest({
    method, protocol: 'http:', hostname, port, path: rawPath, query, headers: signedOnly, body,
  });
  const credentials = { accessKeyId: auth.accessKey, secretAccessKey: secretKey };
  const signer = new SignatureV4({
    service: 's3', region, credentials, sha256: Sha256, uriEscapePath: false, applyChecksum: false,
  });

  // The canonical request / string to sign exactly as S3 would build them (for
  // the error body, and as the fallback when signRequest cannot express the
  // client's SignedHeaders set, e.g. when the client signed "date").
  const canonicalHeaders = {};
  for (const h of auth.signedHeaders) {
    canonicalHeaders[h] = headers[h].replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
  }
  const scope = `${longDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const canonicalRequest = signer.createCanonicalRequest(request, canonicalHeaders, contentSha);
  const stringToSign = await signer.createStringToSign(longDate, scope, canonicalRequest, ALGORITHM);

  const fromParts = await signer.getSignature(longDate, scope,
    signer.getSigningKey(credentials, region, longDate.slice(0, 8)), canonicalRequest);
  let expected = fromParts;
  const signed = await signer.sign(request, { signingDate, signableHeaders: signedSet });
  const out = parseAuthorization(signed.headers.authorization);
  if (out && out.signedHeaders.join(';') === auth.signedHeaders.join(';')) {
    expected = out.signature;
    if (expected !== fromParts) {
      // Would make the <CanonicalRequest> in error bodies misleading; never seen.
      process.emitWarning('verify-sigv4: smithy signRequest and canonical-request signature differ');
    }
  }

  if (expected !== auth.signature) {
    return fail('SignatureDoesNotMatch', MESSAGES.SignatureDoesNotMatch, {
      AWSAccessKeyId: auth.accessKey,
      StringToSign: stringToSign,
      SignatureProvided: auth.signature,
      StringToSignBytes: hexBytes(stringToSign),
      CanonicalRequest: canonicalRequest,
      CanonicalRequestBytes: hexBytes(canonicalRequest),
    });
  }

  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    return fail('RequestTimeTooSkewed', MESSAGES.RequestTimeTooSkewed, {
      RequestTime: longDate,
      ServerTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      MaxAllowedSkewMilliseconds: MAX_SKEW_MS,
    });
  }
  return { ok: true, accessKey: auth.accessKey };
}

function splitHost(host) {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  return m ? [m[1], m[2] ? Number(m[2]) : undefined] : [host, undefined];
}
