#!/usr/bin/env node
/**
 * Builds the packages in place, incrementally, so that `dist/` always mirrors `src/` and is never
 * deleted (a running server or another `npm start` may be loading files from it).
 *
 * Usage: node scripts/build.mjs [jose|protocol|guard|server|client]…   (default: all, in dependency order)
 *
 * 1. `tsc -b`: TypeScript project references (guard and server reference jose) and `.tsbuildinfo`
 *    files make a build with nothing changed a no-op that writes no file, and a build after an edit
 *    rewrite only the outputs of what changed.
 * 2. Outputs whose source is gone (a deleted or renamed module) are deleted: otherwise an import of
 *    the old path would still resolve at run time, and `npm pack` would ship it.
 * 3. An output missing while `.tsbuildinfo` says the project is up to date (someone deleted a file
 *    from `dist/`) makes that project build again from scratch.
 * 4. Files named in a package's `bin` are made executable: tsc writes every file with mode 0644, and
 *    npm sets the mode only when it links the bin at install time, before the first build.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** In dependency order: the project references say the same, this is for pruning and bins. */
const ALL = ['jose', 'protocol', 'guard', 'server', 'client'];

const requested = process.argv.slice(2);
for (const name of requested) {
  if (!ALL.includes(name)) {
    process.stderr.write(`build: unknown package ${JSON.stringify(name)}; expected ${ALL.join(', ')}\n`);
    process.exit(2);
  }
}
const targets = requested.length ? requested : ALL;
// tsc -b also builds what the targets reference (jose, protocol), so those are checked and pruned as well.
const touched = ALL.filter((name) => targets.includes(name) || name === 'jose' || name === 'protocol');

for (const name of touched) {
  const dir = join(ROOT, 'packages', name);
  if (missingOutputs(dir).length) rmSync(join(dir, 'tsconfig.tsbuildinfo'), { force: true });
}
const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const build = spawnSync(process.execPath, [tsc, '-b', ...targets.map((name) => `packages/${name}`)], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(build.status ?? 1);

for (const name of touched) {
  const dir = join(ROOT, 'packages', name);
  const missing = missingOutputs(dir);
  if (missing.length) {
    process.stderr.write(`build: ${name}: tsc did not write ${missing.join(', ')}\n`);
    process.exit(1);
  }
  for (const file of orphanOutputs(dir)) {
    rmSync(join(dir, 'dist', file));
    removeEmptyParents(join(dir, 'dist'), dirname(join(dir, 'dist', file)));
  }
  const { bin = {} } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const target of typeof bin === 'string' ? [bin] : Object.values(bin)) {
    const file = join(dir, target);
    // u+x, g+x, o+x on top of what tsc wrote, as npm would set it.
    chmodSync(file, statSync(file).mode | 0o111);
  }
}

/** `src/a/b.ts` → `a/b.js`, `a/b.js.map`, `a/b.d.ts`, `a/b.d.ts.map` (relative to `dist/`). */
function expectedOutputs(dir) {
  const outputs = new Set();
  for (const file of walk(join(dir, 'src'))) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const base = file.slice(0, -'.ts'.length);
    for (const suffix of ['.js', '.js.map', '.d.ts', '.d.ts.map']) outputs.add(`${base}${suffix}`);
  }
  return outputs;
}

function missingOutputs(dir) {
  const present = new Set(walk(join(dir, 'dist')));
  return [...expectedOutputs(dir)].filter((file) => !present.has(file));
}

function orphanOutputs(dir) {
  const expected = expectedOutputs(dir);
  return walk(join(dir, 'dist')).filter((file) => !expected.has(file));
}

/** Files under `dir`, relative to it, with `/` separators; none when it does not exist. */
function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) =>
      relative(dir, join(entry.parentPath ?? entry.path, entry.name))
        .split('\\')
        .join('/'),
    );
}

function removeEmptyParents(root, dir) {
  while (dir !== root && dir.startsWith(root) && readdirSync(dir).length === 0) {
    rmdirSync(dir);
    dir = dirname(dir);
  }
}
