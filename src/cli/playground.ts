// `normkit playground`: serves the built playground (dist/playground/) on localhost with the
// cross-origin isolation headers its kernels need (shared memory for WASM and threads).
// Without isolation (--no-isolation, or a static host that drops the headers) the page runs
// on one thread and says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic, type ServeOptions } from './static-server.js';

export const PLAYGROUND_DIR = fileURLToPath(new URL('../../playground/', import.meta.url));

/** Serves the built playground; resolves with the server and its URL once it listens. */
export function servePlayground(o: ServeOptions = {}): ReturnType<typeof serveStatic> {
  if (!existsSync(join(PLAYGROUND_DIR, 'index.html')))
    throw new Error(
      `playground: ${PLAYGROUND_DIR} has no index.html; build it with npm run build:playground`,
    );
  return serveStatic(PLAYGROUND_DIR, o);
}

export async function runPlayground(o: ServeOptions): Promise<void> {
  const { url } = await servePlayground(o);
  console.log(`normkit playground: ${url}`);
  console.log(
    o.isolation === false
      ? 'served without cross-origin isolation: each run trains on one thread (no kernel threads)'
      : 'open it in a browser and press Start (Ctrl-C stops the server)',
  );
}
