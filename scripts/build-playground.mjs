// Builds the playground's static site into dist/playground/ (run after tsc built dist/src):
//   index.html, app.js + app.css  the page (Preact, uPlot), bundled by esbuild
//   worker.js                     a run's Web Worker; its imports of the library stay ES modules
//                                 under normkit/ (the kernels find their .wasm and thread
//                                 worker beside themselves through import.meta.url)
//   normkit/src, normkit/wasm     the built library (dist/src's .js files, dist/wasm)
//   data/                         the bundled Fashion-MNIST subset
//   _headers                      the cross-origin isolation headers, for static hosts that read
//                                 this file (Netlify, Cloudflare Pages); others must be told
import { build } from 'esbuild';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist/playground');
const src = join(root, 'src');

/** Worker imports of ../src/X.js become external imports of ./normkit/src/X.js. */
const libraryExternal = {
  name: 'normkit-external',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*src\// }, (args) => {
      const abs = join(args.resolveDir, args.path);
      if (!abs.startsWith(src + '/')) return undefined;
      return { path: `./normkit/src/${relative(src, abs)}`, external: true };
    });
  },
};

if (
  !existsSync(join(root, 'dist/src/index.js')) ||
  !existsSync(join(root, 'dist/wasm/normkit.wasm'))
) {
  console.error(
    'build-playground: the library is not built (dist/src, dist/wasm): run npm run build',
  );
  process.exit(1);
}
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: { app: join(root, 'playground/app.tsx') },
  outdir: out,
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
});
await build({
  ...common,
  entryPoints: { worker: join(root, 'playground/worker.ts') },
  outdir: out,
  plugins: [libraryExternal],
});

await cp(join(root, 'playground/index.html'), join(out, 'index.html'));
await cp(join(root, 'dist/wasm'), join(out, 'normkit/wasm'), { recursive: true });
await cp(join(root, 'dist/src'), join(out, 'normkit/src'), {
  recursive: true,
  filter: (path) => !/\.(d\.ts|map)$/.test(path) && !/\/(cli|lab)(\/|$)/.test(path),
});
await mkdir(join(out, 'data'));
for (const f of await readdir(join(root, 'data/fashion-mnist')))
  await cp(join(root, 'data/fashion-mnist', f), join(out, 'data', f));
await writeFile(
  join(out, '_headers'),
  '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n',
);
console.log(`playground: built ${relative(root, out)}/`);
