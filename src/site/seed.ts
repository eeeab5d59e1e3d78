/**
 * `--seed demo`: two projects with sequences, shots, assets, steps, tasks, users and a
 * Primary PipelineConfiguration each. Every create writes its EventLogEntry rows, as on
 * a real site (an unchanged shotgunEvents daemon reads the last event at start-up and
 * fails on an empty log). Runs only on a store that has no Project yet, so a restarted
 * `--db FILE` site keeps its data.
 */
import type { SiteWriter, Actor, FieldWrite } from './writer.ts';
import type { SiteAuth } from './auth.ts';
import type { LinkRef } from './values.ts';

export type SeedName = 'demo' | 'empty';

/** Demo users; each can log in with the password `demo`. */
export const DEMO_USERS = [
  { login: 'alice', name: 'Alice Artist', firstname: 'Alice', lastname: 'Artist', email: 'alice@example.com' },
  { login: 'bob', name: 'Bob Builder', firstname: 'Bob', lastname: 'Builder', email: 'bob@example.com' },
  { login: 'carol', name: 'Carol Coordinator', firstname: 'Carol', lastname: 'Coordinator', email: 'carol@example.com' },
] as const;

export const DEMO_PROJECTS = [
  { name: 'Demo Alpha', tank_name: 'demo_alpha' },
  { name: 'Demo Beta', tank_name: 'demo_beta' },
] as const;

export function seedDemo(writer: SiteWriter, auth: SiteAuth, actor: Actor): void {
  const db = writer.store.db;
  if ((db.prepare('SELECT COUNT(*) AS n FROM e_Project').get() as { n: number }).n > 0) return;
    writer.transaction(() => {
      const make = (type: string, data: Record<string, unknown>): LinkRef => {
        const fields: FieldWrite[] = Object.entries(data).map(([field_name, value]) => ({ field_name, value }));
        return { type, id: writer.create(actor, type, fields).id };
      };
      const users = DEMO_USERS.map((u) => {
        const ref = make('HumanUser', { ...u, sg_status_list: 'act' });
        auth.setPassword(u.login, 'demo');
        return ref;
      });
      make('Group', { code: 'Artists', users: users.slice(0, 2) });
      make('LocalStorage', { code: 'primary', linux_path: '/mnt/projects', mac_path: '/Volumes/projects', windows_path: 'P:\\' });
      for (const code of ['Maya Scene', 'Nuke Script', 'Image', 'Alembic Cache']) make('PublishedFileType', { code });
      const steps = [['Layout', 'LAY', 'Shot'], ['Animation', 'ANM', 'Shot'], ['Comp', 'CMP', 'Shot'], ['Model', 'MOD', 'Asset'], ['Rig', 'RIG', 'Asset']]
        .map(([code, short_name, entity_type], i) => ({ ref: make('Step', { code, short_name, entity_type, list_order: i + 1 }), entityType: entity_type }));
      DEMO_PROJECTS.forEach((p, pi) => {
        const project = make('Project', { ...p, sg_status: 'Active', users });
        make('PipelineConfiguration', { code: 'Primary', project, descriptor: 'sgtk:descriptor:app_store?name=tk-config-basic', plugin_ids: 'basic.*' });
        const assets = ['hero', 'sidekick', 'tree', 'car'].map((a, i) =>
          make('Asset', { code: a, project, sg_asset_type: ['Character', 'Character', 'Environment', 'Vehicle'][i], sg_status_list: 'ip' }));
        for (let s = 1; s <= 2; s++) {
          const seq = make('Sequence', { code: `SQ${s}0`, project, sg_status_list: 'ip' });
          for (let n = 1; n <= 3; n++) {
            const shot = make('Shot', {
              code: `SQ${s}0_${String(n * 10).padStart(3, '0')}`, project, sg_sequence: seq, sg_status_list: n === 1 ? 'ip' : 'wtg',
              sg_cut_in: 1001, sg_cut_out: 1000 + 24 * n, assets: assets.slice(0, n),
            });
            for (const st of steps.filter((x) => x.entityType === 'Shot')) {
              make('Task', { content: `${String(st.ref.id)}`.length > 0 ? stepName(writer, st.ref) : '', project, entity: shot, step: st.ref,
                sg_status_list: 'wtg', task_assignees: [users[(s + n + pi) % users.length]!], duration: 480 });
            }
          }
        }
        for (const a of assets) {
          for (const st of steps.filter((x) => x.entityType === 'Asset')) {
            make('Task', { content: stepName(writer, st.ref), project, entity: a, step: st.ref, sg_status_list: 'wtg', task_assignees: [users[pi]!] });
          }
        }
      });
  });
}

function stepName(writer: SiteWriter, step: LinkRef): string {
  return writer.store.link(step.type, step.id)?.name ?? 'Task';
}
