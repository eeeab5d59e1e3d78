export { loadConfig } from './load.ts';
export { detectFormat } from './format.ts';
export { parseConfig, pluginOptionsFor } from './parse.ts';
export type { ParseConfigOptions } from './parse.ts';
export { loadShotgunEventsConf } from './shotgunevents-conf.ts';
export { isLoopback } from './compile.ts';
export { clusterSectionSchema, concurrencyDefaults, concurrencySchema, daemonDefaults, resolveConcurrency, toolkitSectionSchema } from './schema.ts';
export { ConfigValidationError, ConfigReadError } from './errors.ts';
export type { ConfigIssue } from './errors.ts';
export type {
  DaemonConfig, SiteConfig, DaemonOptions, PluginOptions, ResolvedPluginOptions, ProjectFilter, PluginFolderConfig,
  LogLevel, LoggingConfig, ClusterConfig, ClusterLeaseOptions, ClusterPlacementOptions, EmailConfig, ToolkitConfig, ToolkitProjectConfig, PythonConfig, HttpConfig, LegacyConfig,
  ConcurrencyOption, WebhooksConfig, WebhookExpectation,
} from './types.ts';
export { daemonSecrets, pluginEnvironment, redactUrl } from './secrets.ts';
