// A static file server for localhost, with the cross-origin isolation headers that shared
// WebAssembly memory and kernel threads need in a browser (the playground, the browser tests).
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.json': 'application/json',
  '.gz': 'application/gzip',
  '.png': 'image/png',
};

export interface ServeOptions {
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  /** Send Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy (default true). */
  isolation?: boolean;
}

/** Serves the files under `root`; resolves with the server and its URL once it listens. */
export async function serveStatic(
  root: string,
  o: ServeOptions = {},
): Promise<{ server: Server; url: string }> {
  const base = root.endsWith(sep) ? root : root + sep;
  const isolation = o.isolation ?? true;
  const server = createServer(async (req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(base, path));
    if (!file.startsWith(base)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'no-cache',
        ...(isolation && {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
        }),
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new Error(`port ${o.port} on ${host} is in use; pass another --port (0: any free one)`)
          : e,
      ),
    );
    server.listen(o.port ?? 0, host, ok);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return { server, url: `http://${host}:${port}/` };
}
