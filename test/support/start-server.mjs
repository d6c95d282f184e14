// Starts one of the loopback servers here (s3env.mjs, sts.mjs) as a child for the node --test suites.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { basename } from 'node:path';

/**
 * Starts `node [nodeFlags] script args`. `ready` resolves with the JSON of its first stdout line
 * (the ports) and rejects when it exits first or takes over `timeoutMs`. `kill()` closes its
 * stdin (the servers stop when it closes) and sends SIGKILL after 5 s; `kill(signal)` sends that
 * signal. Both resolve with { code, signal } once it has exited.
 */
export function startServer(script, args = [], { nodeFlags = [], timeoutMs = 20000 } = {}) {
  const name = basename(script, '.mjs');
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (l) => { stdout += `${l}\n`; });
  const ready = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in time: ${stderr}`)), timeoutMs);
    lines.once('line', (line) => { clearTimeout(timer); res(JSON.parse(line)); });
    exited.then(({ code }) => { clearTimeout(timer); rej(new Error(`${name} exited early (${code}): ${stderr}`)); });
  });
  const kill = async (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    if (signal) {
      child.kill(signal);
      return exited;
    }
    child.stdin.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    const result = await exited;
    clearTimeout(t);
    return result;
  };
  return { child, ready, exited, kill, stdout: () => stdout, stderr: () => stderr };
}
