/**
 * The current sources, runnable by child processes: TypeScript's `transpileModule`, file by file,
 * the way `tsc` emits them (a few seconds), into a private directory under `node_modules/.cache/`.
 * @tessera/jose, @tessera/protocol and @tessera/guard are placed at `node_modules/@tessera/*` inside
 * it (with their package.json, so their `exports` resolve), the server at `server/` as it is packed
 * (code in `dist/`, the files it reads at run time in `src/`). Children thus run exactly the code in
 * `src/` without depending on `dist/` being fresh and without touching it; third-party packages
 * resolve from the repository's `node_modules` as usual. Type errors are `tsc`'s job.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Transpiles `src` (recursively) into `out`, one `.js` per `.ts`. */
function transpileTree(src: string, out: string): void {
  for (const entry of readdirSync(src, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        verbatimModuleSyntax: true,
      },
    });
    const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}

export interface SourceBuild {
  dir: string;
  /** The `tessera` command (`server/cli/main.js`). */
  cli: string;
  /** The server's entry point (`server/index.js`). */
  server: string;
  remove(): void;
}

/** Copies the files of `src` that are not TypeScript (the debugger page's assets) into `out`. */
function copyAssets(src: string, out: string): void {
  for (const entry of readdirSync(src, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const target = join(out, relative(src, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
}

/** Builds jose, protocol, guard and server from `src/` into a fresh directory; `remove()` deletes it. */
export function buildSources(name: string): SourceBuild {
  const cache = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, `tessera-${name}-`));
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
  for (const pkg of ['jose', 'protocol', 'guard']) {
    const target = join(dir, 'node_modules', '@tessera', pkg);
    transpileTree(join(ROOT, `packages/${pkg}/src`), join(target, 'dist'));
    copyFileSync(join(ROOT, `packages/${pkg}/package.json`), join(target, 'package.json'));
  }
  // Laid out as the package is: the code in dist/, and beside it the src/ files the code reads at
  // run time (the debugger's script and stylesheet, which are served as written).
  transpileTree(join(ROOT, 'packages/server/src'), join(dir, 'server', 'dist'));
  copyAssets(join(ROOT, 'packages/server/src'), join(dir, 'server', 'src'));
  // `tessera --version` reads the nearest package.json named @tessera/server above the CLI.
  copyFileSync(join(ROOT, 'packages/server/package.json'), join(dir, 'server', 'package.json'));
  return {
    dir,
    cli: join(dir, 'server', 'dist', 'cli', 'main.js'),
    server: join(dir, 'server', 'dist', 'index.js'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
