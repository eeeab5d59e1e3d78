import type { PoolSite } from './pool-types.ts';
import type { PipelineConfigurationRecord } from './resolve.ts';

/** The one client method resolution needs; the api3 client fits as is. */
export interface FindOneClient {
  findOne(entityType: string, filters: readonly (readonly [string, string, string | number | { type: string; id: number }])[], fields?: readonly string[]): Promise<Record<string, unknown> | null>;
}

const PC_FIELDS = ['code', 'linux_path', 'mac_path', 'windows_path', 'plugin_ids', 'sg_plugin_ids', 'descriptor', 'sg_descriptor'] as const;

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * What the pool asks of the site, over an api3 client: the project's Primary
 * PipelineConfiguration (the fields tk-core reads) and its tank_name.
 */
export function siteLookup(sg: FindOneClient): PoolSite {
  return {
    async findPrimaryPipelineConfiguration(projectId: number): Promise<PipelineConfigurationRecord | null> {
      const r = await sg.findOne('PipelineConfiguration', [
        ['project', 'is', { type: 'Project', id: projectId }],
        ['code', 'is', 'Primary'],
      ], PC_FIELDS);
      if (!r || typeof r.id !== 'number') return null;
      return {
        id: r.id, code: str(r.code), linux_path: str(r.linux_path), mac_path: str(r.mac_path), windows_path: str(r.windows_path),
        plugin_ids: str(r.plugin_ids), sg_plugin_ids: str(r.sg_plugin_ids), descriptor: str(r.descriptor), sg_descriptor: str(r.sg_descriptor),
      };
    },
    async findProject(projectId: number) {
      const r = await sg.findOne('Project', [['id', 'is', projectId]], ['name', 'tank_name']);
      return r ? { id: projectId, name: str(r.name), tank_name: str(r.tank_name) } : null;
    },
  };
}
