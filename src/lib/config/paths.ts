import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = 'convnext-xray-kit';

let cachedRoot: string | undefined;

/**
 * The kit's project root (the folder with its package.json). Found from this file's location, so
 * it is the same whether the code runs from the CLI, the tests or a notebook in `notebooks/`.
 */
export function projectRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === PACKAGE_NAME) return (cachedRoot = dir);
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`could not find the ${PACKAGE_NAME} package.json above ${__dirname}`);
    dir = parent;
  }
}

/** Resolve a user-given path: absolute stays, relative is taken from the project root. */
export function resolveFromRoot(p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(projectRoot(), p);
}
