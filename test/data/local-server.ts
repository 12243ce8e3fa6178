import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A throwaway HTTP server on 127.0.0.1 for download tests (test machines have no network). */
export interface LocalServer {
  /** e.g. http://127.0.0.1:12345 */
  base: string;
  /** Request paths (with query) in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

export async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<LocalServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections(); // tests leave stalled responses open on purpose
        server.close(() => resolve());
      }),
  };
}

/** A base URL on which nothing listens: a server is started to get a free port, then closed. */
export async function closedPortBase(): Promise<string> {
  const s = await serve(() => undefined);
  await s.close();
  return s.base;
}

/** Send `body` with its Content-Length. */
export function sendBytes(res: http.ServerResponse, body: Uint8Array): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
}
