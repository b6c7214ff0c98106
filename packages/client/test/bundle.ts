import { build } from 'esbuild';

/**
 * The client as an app ships it: src/index.ts bundled and minified by esbuild into one ES module
 * (the browser tests load this very bundle, and the size test weighs it).
 */
export async function bundleClient(): Promise<string> {
  const result = await build({
    entryPoints: [new URL('../src/index.ts', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    write: false,
  });
  return result.outputFiles[0]!.text;
}
