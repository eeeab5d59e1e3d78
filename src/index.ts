// The public API for plugin authors: types and helpers only.
export { SgeventdError } from './shared/index.ts';
