#!/usr/bin/env node
// s3env.mjs -- starts s3rver, the SigV4-verifying fronts and the control server,
// prints one JSON line on stdout, and runs until stdin reaches EOF or SIGTERM/SIGINT.
// Usage: node --openssl-legacy-provider test/support/s3env.mjs
//          [--tls-dir DIR] [--bucket NAME]... [--region R] [--verbose] [--ignore-stdin]
//          [--data-dir DIR] [--http-port N] [--https-port N] [--https-wronghost-port N]
//          [--https-unknownca-port N] [--control-port N]
import { spawn, execFile } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';
const err = (msg) => process.stderr.write(`s3env: ${msg}\n`);

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3
// only has in the legacy provider. Without it paginated listings answer 500.
function haveDes() {
  try { createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8)); return true; } catch { return false; }
}

// Exit if whoever started us goes away without closing our stdin or signalling.
function watchParent(onGone) {
  const ppid = process.ppid;
  const t = setInterval(() => { if (process.ppid !== ppid) onGone(); }, 1000);
  t.unref();
}

if (!haveDes()) {
  // Re-exec ourselves with the flag; we only relay signals and the exit code.
  const child = spawn(process.execPath,
    ['--openssl-legacy-provider', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  watchParent(() => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}

function parseArgs(argv) {
  const o = { tlsDir: null, buckets: [], region: 'us-east-1', verbose: false, ignoreStdin: false, dataDir: null,
    ports: { http: 0, https: 0, https_wronghost: 0, https_unknownca: 0, control: 0 } };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const portOpt = /^--(http|https|https-wronghost|https-unknownca|control)-port$/.exec(a);
    if (a === '--tls-dir') o.tlsDir = resolve(val());
    else if (a === '--bucket') o.buckets.push(val());
    else if (a === '--region') o.region = val();
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--ignore-stdin') o.ignoreStdin = true;
    else if (a === '--data-dir') o.dataDir = resolve(val());
    else if (portOpt) {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${a} needs a port number`);
      o.ports[portOpt[1].replace('-', '_')] = n;
    }
    else throw new Error(`unknown option ${a}`);
  }
  if (o.buckets.length === 0) o.buckets.push('scb-test');
  return o;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    err(e.message);
    process.exit(2);
  }
  const { default: S3rver } = await import('s3rver');
  const { createFront } = await import('./front.mjs');
  const { createControl } = await import('./control.mjs');

  const cleanups = [];
  let stopping = false;
  async function shutdown(code) {
    if (stopping) return;
    stopping = true;
    for (const fn of cleanups.reverse()) {
      try { await fn(); } catch (e) { err(`cleanup: ${e.message}`); }
    }
    process.exit(code);
  }
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => shutdown(0));
  watchParent(() => { err('parent went away; stopping'); shutdown(0); });

  try {
    // A given --data-dir is the caller's: it keeps the objects for the next start.
    let dataDir = opts.dataDir;
    if (dataDir) {
      await mkdir(dataDir, { recursive: true });
    } else {
      dataDir = await mkdtemp(join(tmpdir(), 's3env-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    }

    if (opts.tlsDir) {
      await new Promise((res, rej) => execFile('bash', [join(HERE, 'gen-certs.sh'), opts.tlsDir], (e, so, se) =>
        (e ? rej(new Error(`gen-certs.sh failed: ${se || e.message}`)) : res())));
    }

    const s3rver = new S3rver({
      address: '127.0.0.1', port: 0, silent: true, directory: dataDir,
      configureBuckets: opts.buckets.map((name) => ({ name })),
    });
    const { port: s3rverPort } = await s3rver.run();
    cleanups.push(async () => {
      const closing = s3rver.close();
      s3rver.httpServer.closeAllConnections();
      await closing;
    });

    const front = createFront({
      upstreamPort: s3rverPort, region: opts.region, keys: { [ACCESS_KEY]: SECRET_KEY }, tlsDir: opts.tlsDir,
      log: opts.verbose ? err : () => {}, warn: err,
    });
    cleanups.push(() => front.stop());
    // Node sets SO_REUSEADDR on listening sockets: a port freed by a killed s3env binds again at once.
    const { ports: p } = opts;
    const ports = await front.start(p);

    const control = createControl({
      front, s3conn: { port: s3rverPort, region: opts.region, accessKey: ACCESS_KEY, secretKey: SECRET_KEY }, warn: err,
    });
    cleanups.push(() => control.stop());
    await control.start(p.control);

    process.stdout.write(`${JSON.stringify({
      s3rver: s3rverPort,
      http: ports.http,
      https: ports.https ?? null,
      https_wronghost: ports.https_wronghost ?? null,
      https_unknownca: ports.https_unknownca ?? null,
      control: control.port,
      region: opts.region,
      buckets: opts.buckets,
      access_key: ACCESS_KEY,
      secret_key: SECRET_KEY,
      ca: opts.tlsDir ? join(opts.tlsDir, 'ca.pem') : null,
    })}\n`);
    if (opts.verbose) err(`ready; data in ${dataDir}`);

    if (!opts.ignoreStdin) {
      process.stdin.on('end', () => shutdown(0));
      process.stdin.on('error', () => shutdown(0));
      process.stdin.resume();
    }
  } catch (e) {
    err(`failed to start: ${e.stack ?? e.message}`);
    await shutdown(1);
  }
}
