/** Where the kit's settings come from (environment, kit.config.json, defaults) and the project's paths. */
export { projectRoot, resolveFromRoot } from './paths';
export { CONFIG_FILE, loadSettings } from './settings';
export type { Settings } from './settings';
