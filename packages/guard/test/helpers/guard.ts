import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGuard, type Guard, GuardError, type GuardOptions } from '../../src/index.js';
import { AUDIENCE, bearer, createTestLogger, type TestIssuer } from './issuer.js';

export type TestLogger = ReturnType<typeof createTestLogger>;

/** A guard for the test issuer, on the issuer's clock, with a logger the test can read. */
export function guardFor(
  issuer: TestIssuer,
  options: Partial<GuardOptions> = {},
): { guard: Guard; logger: TestLogger } {
  const logger = createTestLogger();
  const guard = createGuard({
    issuer: issuer.url,
    audience: AUDIENCE,
    clock: issuer.clock.now,
    logger,
    ...options,
  });
  return { guard, logger };
}

/** A port nothing listens on (bound, then released), for "connection refused". */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Runs `test/fixtures/close_and_exit.ts` in a child process with `env`; resolves with its exit
 * code and output, or rejects if it has not exited within `timeoutMs` (something kept it alive).
 */
export async function runCloseAndExit(
  env: Record<string, string>,
  timeoutMs = 6000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const build = await buildForChild();
  const child = spawn(process.execPath, [join(build, 'guard/test/fixtures/close_and_exit.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the process did not exit within ${timeoutMs} ms after close(); output: ${stdout} ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const GUARD_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const JOSE_SRC = join(GUARD_ROOT, '../jose/src');
const PROTOCOL_SRC = join(GUARD_ROOT, '../protocol/src');
const CACHE = join(GUARD_ROOT, 'node_modules/.cache/tessera-guard-child');

let built: Promise<string> | undefined;

/**
 * The sources a child process needs (guard, jose, protocol, the fixture), transpiled to JavaScript with the
 * repository's TypeScript (types stripped, nothing checked), so the child runs exactly the code
 * under test without a build. Cached by the sources' paths, sizes and mtimes: only the first run
 * after a change pays for the transpiling. It lives under the package's node_modules so that the
 * child resolves `ioredis` like the package does.
 */
export function buildForChild(): Promise<string> {
  built ??= build();
  return built;
}

async function build(): Promise<string> {
  const files = [
    ...sourcesUnder(JOSE_SRC).map((file) => ({ file, out: join('jose/src', relative(JOSE_SRC, file)) })),
    ...sourcesUnder(PROTOCOL_SRC).map((file) => ({
      file,
      out: join('protocol/src', relative(PROTOCOL_SRC, file)),
    })),
    ...sourcesUnder(join(GUARD_ROOT, 'src')).map((file) => ({
      file,
      out: join('guard', relative(GUARD_ROOT, file)),
    })),
    {
      file: join(GUARD_ROOT, 'test/fixtures/close_and_exit.ts'),
      out: 'guard/test/fixtures/close_and_exit.ts',
    },
  ];
  const fingerprint = createHash('sha256');
  for (const { file } of files) {
    const stat = statSync(file);
    fingerprint.update(`${file}:${stat.size}:${stat.mtimeMs}\n`);
  }
  const target = join(CACHE, fingerprint.digest('hex').slice(0, 16));
  if (existsSync(join(target, 'complete'))) return target;

  const ts = (await import('typescript')).default;
  const staging = `${target}.${process.pid}.${Date.now()}`;
  for (const { file, out } of files) {
    const destination = join(staging, out.replace(/\.ts$/, '.js'));
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const specifier = (to: string) => {
      const path = relative(dirname(destination), join(staging, to)).split(sep).join('/');
      return path.startsWith('.') ? path : `./${path}`;
    };
    const code = outputText
      .replace(/(['"])@tessera\/jose\1/g, `'${specifier('jose/src/index.js')}'`)
      .replace(/(['"])@tessera\/protocol\1/g, `'${specifier('protocol/src/index.js')}'`)
      .replace(/(['"])@tessera\/guard\1/g, `'${specifier('guard/src/index.js')}'`);
    mkdirSync(dirname(destination), { recursive: true });
    writeFileSync(destination, code);
  }
  writeFileSync(join(staging, 'complete'), '');
  // Stale builds go; a build another worker finished first wins.
  for (const entry of existsSync(CACHE) ? readdirSync(CACHE) : []) {
    if (/^[0-9a-f]{16}$/.test(entry) && join(CACHE, entry) !== target)
      rmSync(join(CACHE, entry), { recursive: true, force: true });
  }
  try {
    renameSync(staging, target);
  } catch {
    rmSync(staging, { recursive: true, force: true });
  }
  return target;
}

function sourcesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(directory, name));
}

/** The GuardError `guard` refuses `token` with (fails if it accepts it). */
export async function refusal(guard: Guard, token: string): Promise<GuardError> {
  const err = await guard.authenticate(bearer(token)).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GuardError)) throw new Error('expected the token to be refused');
  return err;
}
