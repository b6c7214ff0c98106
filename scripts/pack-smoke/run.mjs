#!/usr/bin/env node
/**
 * Are the packages publishable? Packs @tessera/jose, @tessera/protocol, @tessera/guard, @tessera/server and
 * @tessera/client exactly as
 * `npm publish` would (their `prepack` builds them), checks what each tarball holds, installs the
 * three tarballs into a scratch project in a temporary directory outside the repository, and runs
 * consumer.mjs there (jose signs and verifies; the server starts, a user logs in; the guard verifies
 * the access token over HTTP and follows its revocation) and `npx tessera --help` and `--version`.
 *
 * Usage: node scripts/pack-smoke/run.mjs   (KEEP=1 keeps the scratch directory and prints it)
 *
 * Time: about a minute, most of it `npm install` from the npm cache. better-sqlite3 compiles its
 * native addon from source on install (no prebuilt binaries can be fetched here), which alone takes
 * ~80 s of CPU: the scratch install skips install scripts and takes the addon the repository's own
 * install compiled, when it is the very same better-sqlite3 version (else it runs `npm rebuild
 * better-sqlite3`). FULL_INSTALL=1 runs every install script instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = [
  '@tessera/jose',
  '@tessera/protocol',
  '@tessera/guard',
  '@tessera/server',
  '@tessera/client',
];
const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'tessera-pack-smoke-'));
const problems = [];

function log(message) {
  process.stdout.write(`pack-smoke [${((Date.now() - started) / 1000).toFixed(1)} s] ${message}\n`);
}

/** Runs a command, streaming nothing; returns stdout, throws with both streams on failure. */
function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

try {
  // 1. Pack, running each package's prepack (the build), as `npm publish` would.
  const packed = JSON.parse(
    run('npm', ['pack', ...PACKAGES.flatMap((name) => ['-w', name]), '--pack-destination', work, '--json'], {
      cwd: ROOT,
    }).stdout,
  );
  const tarballs = packed.map((entry) => join(work, entry.filename));
  log(
    `packed ${packed.map((entry) => `${entry.filename} (${Math.round(entry.size / 1024)} KiB)`).join(', ')}`,
  );

  // 2. What each tarball holds.
  for (const entry of packed) {
    const into = join(work, 'unpacked', entry.name);
    mkdirSync(into, { recursive: true });
    execFileSync('tar', ['-xzf', join(work, entry.filename), '-C', into]);
    checkContents(entry.name, join(into, 'package'));
  }
  if (problems.length) throw new Error(`the tarballs are not publishable:\n  ${problems.join('\n  ')}`);
  log('tarballs hold LICENSE, README, dist with resolvable source maps, no tests');

  // 3. A scratch project outside the repository, with nothing but the tarballs and their dependencies.
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify(
      {
        name: 'tessera-pack-smoke',
        private: true,
        type: 'module',
        // What the server README tells Node 20 users to add: a dependency's overrides do not apply
        // to its consumers, and cookie@2 (via @fastify/cookie and light-my-request) wants Node 22.
        overrides: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).overrides,
      },
      null,
      2,
    )}\n`,
  );
  copyFileSync(join(ROOT, 'scripts/pack-smoke/consumer.mjs'), join(app, 'consumer.mjs'));
  const full = process.env.FULL_INSTALL === '1';
  const install = run(
    'npm',
    ['install', '--no-audit', '--no-fund', ...(full ? [] : ['--ignore-scripts']), ...tarballs],
    { cwd: app },
  );
  const warnings = `${install.stdout}\n${install.stderr}`
    .split('\n')
    .filter((line) => /EBADENGINE|ERESOLVE|deprecated|peer dep/i.test(line));
  if (warnings.length) throw new Error(`npm install warned:\n${warnings.join('\n')}`);
  if (!full) provideSqliteAddon(app);
  log(`installed the tarballs into ${app}${full ? '' : ' (install scripts skipped)'}`);

  // 4. Use them.
  const consumer = run(process.execPath, ['--enable-source-maps', 'consumer.mjs'], {
    cwd: app,
    timeout: 60_000,
  });
  process.stdout.write(consumer.stdout);
  const help = run('npx', ['--no-install', 'tessera', '--help'], { cwd: app });
  if (!help.stdout.includes('Usage: tessera <command>'))
    throw new Error(`npx tessera --help printed:\n${help.stdout}`);
  const version = run('npx', ['--no-install', 'tessera', '--version'], { cwd: app }).stdout;
  const expected = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')).version;
  if (version !== `tessera ${expected}\n`)
    throw new Error(`npx tessera --version printed ${JSON.stringify(version)}`);
  log('npx tessera --help and --version work');
  log('passed');
} catch (err) {
  process.stderr.write(`pack-smoke failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  if (process.env.KEEP === '1') log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

/** Records what would make a published package broken or leaky. */
function checkContents(name, dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const files = listFiles(dir);
  for (const required of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']) {
    if (!files.includes(required)) problems.push(`${name}: no ${required}`);
  }
  if (
    existsSync(join(dir, 'LICENSE')) &&
    !readFileSync(join(dir, 'LICENSE'), 'utf8').includes('Apache License')
  ) {
    problems.push(`${name}: LICENSE is not the Apache License`);
  }
  for (const file of files) {
    if (/(^|\/)test\/|\.test\.|\.tsbuildinfo$/.test(file)) problems.push(`${name}: ships ${file}`);
  }
  // Every export target exists.
  for (const target of Object.values(pkg.exports ?? {}).flatMap((value) =>
    typeof value === 'string' ? [value] : Object.values(value),
  )) {
    if (!files.includes(relative('.', target)))
      problems.push(`${name}: exports ${target}, which is not in the tarball`);
  }
  for (const [bin, target] of Object.entries(pkg.bin ?? {})) {
    if (!files.includes(relative('.', target))) problems.push(`${name}: bin ${bin} → ${target} is missing`);
    else if (!readFileSync(join(dir, target), 'utf8').startsWith('#!/usr/bin/env node\n'))
      problems.push(`${name}: bin ${bin} has no #!/usr/bin/env node line`);
  }
  // Source maps (.js.map for stack traces, .d.ts.map for go-to-definition) must resolve: each source
  // either ships or is inlined in the map.
  for (const file of files.filter((f) => f.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    map.sources.forEach((source, i) => {
      if (typeof map.sourcesContent?.[i] === 'string') return;
      const resolved = resolve(dir, dirname(file), map.sourceRoot ?? '', source);
      if (!resolved.startsWith(`${dir}/`) || !existsSync(resolved))
        problems.push(`${name}: ${file} names ${source}, which is not in the tarball`);
    });
  }
  // Compiled output (dist/) has its source map; hand-written scripts (the bin shims in bin/, the
  // debugger page's assets in src/) are their own source.
  for (const file of files.filter(
    (f) => (f.endsWith('.js') || f.endsWith('.d.ts')) && f.startsWith('dist/'),
  )) {
    if (!files.includes(`${file}.map`)) problems.push(`${name}: ${file} has no source map`);
  }
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** better-sqlite3's addon, from the repository's install when it is the same version (see the top). */
function provideSqliteAddon(app) {
  const ours = join(ROOT, 'node_modules/better-sqlite3');
  const theirs = join(app, 'node_modules/better-sqlite3');
  const version = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  const addon = 'build/Release/better_sqlite3.node';
  if (existsSync(join(ours, addon)) && version(ours) === version(theirs)) {
    mkdirSync(join(theirs, 'build/Release'), { recursive: true });
    cpSync(join(ours, addon), join(theirs, addon));
  } else {
    run('npm', ['rebuild', 'better-sqlite3'], { cwd: app });
  }
}
