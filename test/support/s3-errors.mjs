// S3-style XML error responses.
import { randomBytes } from 'node:crypto';

const STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  InvalidAccessKeyId: 403,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
  BadDigest: 400,
  InvalidDigest: 400,
  InternalError: 500,
  SlowDown: 503,
  RequestTimeTooSkewed: 403,
};

export function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
  })[c]);
}

export function requestId() {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** Body of an S3 error; `extra` is an object of additional elements (in order). */
export function errorXml(code, message, extra = {}, reqId = requestId()) {
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>';
  xml += `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>`;
  for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined && v !== null) xml += `<${k}>${xmlEscape(v)}</${k}>`;
  }
  xml += `<RequestId>${reqId}</RequestId><HostId>scb-test-front</HostId></Error>`;
  return xml;
}

/** Write an S3 error response. Returns the status used. */
export function sendError(res, code, message, extra = {}, status = STATUS[code] ?? 400) {
  const reqId = requestId();
  const body = Buffer.from(errorXml(code, message, extra, reqId));
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': body.length,
    'x-amz-request-id': reqId,
    Server: 'scb-test-front',
  });
  res.end(body);
  return status;
}

export const MESSAGES = {
  AccessDenied: 'Access Denied',
  InvalidAccessKeyId: 'The AWS Access Key Id you provided does not exist in our records.',
  SignatureDoesNotMatch:
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  XAmzContentSHA256Mismatch: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  BadDigest: 'The Content-MD5 you specified did not match what we received.',
  BadChecksum: 'The SHA256 you specified did not match the calculated checksum.',
  InvalidDigest: 'The Content-MD5 you specified is not valid.',
  InternalError: 'We encountered an internal error. Please try again.',
  SlowDown: 'Please reduce your request rate.',
  RequestTimeTooSkewed: 'The difference between the request time and the current time is too large.',
};
