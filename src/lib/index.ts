export * as backend from './backend';
export { KitError } from './util/errors';
