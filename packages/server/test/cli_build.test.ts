/**
 * How `tessera` gets onto the PATH: the build (scripts/build.mjs, behind `npm run build`, `npm start`
 * and each package's `prepack`) and the workspace's bin link.
 *
 * The build is tried on a small stand-in repository in a temporary directory: the real
 * scripts/build.mjs, tsconfig files and package.json files, with a few small sources in place of
 * the real ones (the build's behaviour does not depend on them, and a stand-in builds in seconds
 * and cannot disturb the repository's own dist/). Nothing here touches a store, so the file runs in
 * the SQLite project only.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './build.js';

/** Every package of the repository (jose, guard, server, …): the stand-in has each. */
const PACKAGES = readdirSync(join(ROOT, 'packages'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, 'packages', entry.name, 'tsconfig.json')))
  .map((entry) => entry.name);

let repo = '';
beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'tessera-build-'));
  mkdirSync(join(repo, 'scripts'));
  copyFileSync(join(ROOT, 'scripts/build.mjs'), join(repo, 'scripts/build.mjs'));
  copyFileSync(join(ROOT, 'tsconfig.base.json'), join(repo, 'tsconfig.base.json'));
  for (const name of PACKAGES) {
    mkdirSync(join(repo, 'packages', name, 'src'), { recursive: true });
    for (const file of ['package.json', 'tsconfig.json'])
      copyFileSync(join(ROOT, 'packages', name, file), join(repo, 'packages', name, file));
  }
  for (const name of PACKAGES) write(`packages/${name}/src/index.ts`, `export const name = '${name}';\n`);
  write(
    'packages/jose/src/index.ts',
    `export const sign = (claims: object): string => JSON.stringify(claims);\n`,
  );
  write(
    'packages/guard/src/index.ts',
    `import { sign } from '@tessera/jose';\nexport const guard = (): string => sign({ guard: true });\n`,
  );
  write(
    'packages/server/src/index.ts',
    `import { sign } from '@tessera/jose';\nexport const serve = (): string => sign({ serve: true });\n`,
  );
  write(
    'packages/server/src/cli/main.ts',
    `#!/usr/bin/env node\nimport { serve } from '../index.js';\nprocess.stdout.write(\`\${serve()}\\n\`);\n`,
  );
  // The committed bin shim, as a checkout that kept no file modes would have it (0644).
  write('packages/server/bin/tessera.js', `#!/usr/bin/env node\nimport '../dist/cli/main.js';\n`);
  // node_modules as npm lays it out for the workspace: the packages linked, TypeScript and the Node
  // types from the repository's install.
  mkdirSync(join(repo, 'node_modules', '@tessera'), { recursive: true });
  for (const name of PACKAGES)
    symlinkSync(join(repo, 'packages', name), join(repo, 'node_modules', '@tessera', name), 'dir');
  symlinkSync(join(ROOT, 'node_modules', 'typescript'), join(repo, 'node_modules', 'typescript'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(repo, 'node_modules', '@types'), 'dir');
});

afterAll(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
});

function write(file: string, text: string): void {
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), text);
}

function build(...names: string[]): void {
  const result = spawnSync(process.execPath, [join(repo, 'scripts/build.mjs'), ...names], {
    cwd: repo,
    encoding: 'utf8',
  });
  expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
}

/** Every file under the packages' dist/ directories, with its modification time. */
function distFiles(): Map<string, number> {
  const files = new Map<string, number>();
  for (const name of PACKAGES) {
    const dist = join(repo, 'packages', name, 'dist');
    if (!existsSync(dist)) continue;
    for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      files.set(relative(repo, file), statSync(file).mtimeMs);
    }
  }
  return files;
}

const executable = (file: string) => (statSync(join(repo, file)).mode & 0o111) === 0o111;
const BIN = 'packages/server/dist/cli/main.js';
/** What npm links as `tessera`: a committed shim that loads the built CLI. */
const SHIM = 'packages/server/bin/tessera.js';

describe.skipIf(process.env.TESSERA_TEST_STORE === 'postgres')('the build', { timeout: 120_000 }, () => {
  // One sequence: each step builds on the dist/ the one before left.
  it('makes the tessera bin executable, rewrites only what changed, and removes outputs of deleted sources', () => {
    build();
    expect(executable(SHIM)).toBe(true);
    const ran = spawnSync(join(repo, SHIM), { encoding: 'utf8' });
    expect(ran.stdout).toBe('{"serve":true}\n');

    // Nothing changed: no file is written (or deleted), so a running server's files stay put.
    const first = distFiles();
    build();
    expect(distFiles()).toEqual(first);

    // A changed source: the bin runs the new code.
    write('packages/server/src/cli/main.ts', `#!/usr/bin/env node\nprocess.stdout.write('changed\\n');\n`);
    build('server');
    expect(executable(SHIM)).toBe(true);
    expect(spawnSync(join(repo, SHIM), { encoding: 'utf8' }).stdout).toBe('changed\n');
    const afterEdit = distFiles();
    expect(afterEdit.get(BIN)).toBeGreaterThan(first.get(BIN)!);
    expect(afterEdit.get('packages/jose/dist/index.js')).toBe(first.get('packages/jose/dist/index.js'));

    // A module added, then deleted: its outputs go (an import of the old path must not resolve).
    write('packages/guard/src/legacy.ts', 'export const legacy = 1;\n');
    build();
    expect(existsSync(join(repo, 'packages/guard/dist/legacy.js'))).toBe(true);
    unlinkSync(join(repo, 'packages/guard/src/legacy.ts'));
    build();
    for (const suffix of ['.js', '.js.map', '.d.ts', '.d.ts.map'])
      expect(existsSync(join(repo, `packages/guard/dist/legacy${suffix}`)), suffix).toBe(false);
    expect(existsSync(join(repo, 'packages/guard/dist/index.js'))).toBe(true);

    // A file deleted from dist/ although tsc's build info says all is up to date: built again.
    rmSync(join(repo, BIN));
    build('server');
    expect(existsSync(join(repo, BIN))).toBe(true);
    // So is a dist/ deleted whole.
    rmSync(join(repo, 'packages/jose/dist'), { recursive: true });
    build('guard');
    expect(existsSync(join(repo, 'packages/jose/dist/index.js'))).toBe(true);
  });

  it('refuses an unknown package name', () => {
    const result = spawnSync(process.execPath, [join(repo, 'scripts/build.mjs'), 'nonesuch'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^build: unknown package "nonesuch"; expected jose, (\w+, )*client\n$/);
  });
});

describe.skipIf(process.env.TESSERA_TEST_STORE === 'postgres')('the workspace', () => {
  it('links the tessera bin from the repository root to the built, executable CLI (npx tessera)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const target = join(ROOT, 'packages/server', pkg.bin.tessera!);
    expect(realpathSync(join(ROOT, 'node_modules/.bin/tessera'))).toBe(realpathSync(target));
    // `npm install` runs the root's prepare script (the build), so the bin exists and is executable.
    expect(existsSync(target), 'packages/server/dist is missing: run npm install or npm run build').toBe(
      true,
    );
    expect((statSync(target).mode & 0o111) === 0o111).toBe(true);
    const help = spawnSync('npx', ['--no-install', 'tessera', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: tessera <command>');
  });
});
