export { renderExposition } from '@falconet/protocol/exposition';
export { Agent, changedPaths, type ReloadOutcome } from './agent.ts';
export { type Collection, CollectorSet, type CollectorSource, type SlotResult, selectCollectors } from './collection.ts';
export {
  type CollectContext,
  type Collector,
  type CollectorDefinition,
  defineCollector,
  loadCollectorDefinitions,
} from './collectors/registry.ts';
export { type AgentConfig, agentConfigSchema, parseServerUrl } from './config.ts';
export type { AgentIdentity } from './identity.ts';
export { familiesToSamples, type MetricFamily, MetricWriter } from './metrics.ts';
export { type SampleOutput, TransferOutput, type TransferStats } from './outputs/transfer.ts';
export { ReportInterval, type ReportIntervalSettings } from './runtime/report-interval.ts';
export { type Reading, SelfMetrics } from './selfmetrics.ts';
export { HostSummary, SUMMARY_METRICS } from './summary.ts';
export { type BacklogReader, type BacklogStats, MemoryBacklog, type ReportBacklog, type SpooledReport } from './transport/backlog.ts';
export { transportFamilies } from './transport/metrics.ts';
export { SequenceCounter, type SequenceSource } from './transport/sequence.ts';
export { Spool, type SpoolOptions, type SpoolStats } from './transport/spool.ts';
export { ReportStream, type ReportStreamOptions, type StreamStats } from './transport/stream.ts';
export { formatFingerprint, normalizeFingerprint, type TlsSettings } from './transport/tls.ts';
