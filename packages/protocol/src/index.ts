export * from './codec.ts';
export * from './compact.ts';
export * as pb from './gen/falconet/v1/agent.ts';
export { AgentChannelClient, AgentChannelService, LogLevel, PayloadEncoding, PayloadKind } from './gen/falconet/v1/agent.ts';
export * from './openfalcon.ts';
export * from './sample.ts';
export * from './tasks.ts';

/** The version every Falconet package reports; kept in step with the root package.json. */
export const FALCONET_VERSION = '0.1.0';
export * from './release.ts';
export * from './syslog.ts';
