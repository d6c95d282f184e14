#!/usr/bin/env node
// s3server.mjs -- plain s3rver (the one test/support installs) on 127.0.0.1 with a data folder
// chosen by the benchmark, plus a timestamped log of every PUT for the benchmark.
//
//   node test/bench/s3server.mjs --dir DIR [--bucket NAME]
//
// stdout, one JSON object per line; times are CLOCK_MONOTONIC nanoseconds (process.hrtime),
// the same clock as Python's time.monotonic_ns():
//   {"ev":"ready","port":P,"dir":DIR}
//   {"ev":"req","t":NS,"id":N,"url":"/bucket/key"}        PUT request headers parsed
//   {"ev":"stored","t":NS,"id":N,"key":K}                  s3rver's store finished putObject
//   {"ev":"res","t":NS,"id":N,"status":S}                  response fully handed to the socket
// Stops on SIGTERM/SIGINT, on stdin EOF and when its parent goes away.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(HERE, '..', 'support', 'package.json'));
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const dir = opt('--dir');
const bucket = opt('--bucket', 'scb-test');
if (!dir) {
  process.stderr.write('s3server: --dir DIR is required\n');
  process.exit(2);
}

const now = () => process.hrtime.bigint().toString();
const emit = (o) => process.stdout.write(`${JSON.stringify(o).replace(/"t":"(\d+)"/, '"t":$1')}\n`);

const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: dir,
  configureBuckets: [{ name: bucket }],
});

// Tag each PUT with an id so the store hook can refer to it; the store sees the key only.
let nextId = 0;
const pendingByKey = new Map();
const origPut = server.store.putObject.bind(server.store);
server.store.putObject = async (object) => {
  const r = await origPut(object);
  const ids = pendingByKey.get(`${object.bucket}/${object.key}`) ?? [];
  emit({ ev: 'stored', t: now(), id: ids.shift() ?? null, key: object.key });
  return r;
};

const { port } = await server.run();
server.httpServer.prependListener('request', (req, res) => {
  if (req.method !== 'PUT') return;
  const t = now();
  const id = nextId++;
  const path = decodeURIComponent(req.url.split('?')[0]).replace(/^\//, '');
  if (!pendingByKey.has(path)) pendingByKey.set(path, []);
  pendingByKey.get(path).push(id);
  emit({ ev: 'req', t, id, url: req.url });
  res.on('finish', () => emit({ ev: 'res', t: now(), id, status: res.statusCode }));
});
emit({ ev: 'ready', port, dir });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  const closing = server.close();
  server.httpServer.closeAllConnections();
  await closing.catch(() => {});
  process.exit(0);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
const ppid = process.ppid;
setInterval(() => { if (process.ppid !== ppid) stop(); }, 1000).unref();
