// Modules that scripts/package/bundle.ts makes while bundling.
declare module 'falconet:collectors' {
  import type { CollectorDefinition } from '../../packages/agent/src/collectors/registry.ts';

  const collectors: { file: string; definition: CollectorDefinition }[];
  export default collectors;
}
declare module 'falconet:migrations' {
  import type { Migration } from 'kysely/migration';

  const migrations: Record<string, Migration>;
  export default migrations;
}
// postject ships no types: the one function used here.
declare module 'postject' {
  export function inject(
    file: string,
    resource: string,
    data: Buffer,
    options: { sentinelFuse: string; machoSegmentName?: string; overwrite?: boolean },
  ): Promise<void>;
}
