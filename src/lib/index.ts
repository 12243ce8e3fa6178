/**
 * convnext-xray-kit: the library behind the notebooks and the `convnext-xray` CLI.
 * Notebooks import it compiled (`import * as kit from '../dist/src/lib'`); nothing here does
 * work at import time.
 */
export * as backend from './backend';
export * as metrics from './metrics';
export * as models from './models';
export * as data from './data';
export * as pretrained from './pretrained';
export * as runs from './runs';
export * as train from './train';
export * as evaluation from './eval';
export * as plot from './plot';
export * as experiment from './experiment';
export * as nb from './notebook';
export * as util from './util';
export { getProfile, PROFILE_NAMES, PROFILES } from './experiment/profiles';
export type { Profile, ProfileName } from './experiment/profiles';
export { loadSettings } from './config/settings';
export { KitError } from './util/errors';
export { Rng } from './util/rng';
