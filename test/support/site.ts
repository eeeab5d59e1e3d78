import { ShotgunClient } from '../../src/shotgrid/index.ts';
import { Secret } from '../../src/shared/index.ts';
import { DEFAULT_SCRIPT, startSite, type RunningSite, type SiteOptions } from '../../src/site/index.ts';
import { onCleanup, type Cleanup } from './cleanup.ts';

/** The local site over real HTTP, with an api3 client logged in as its default script. */
export interface TestSite {
  site: RunningSite;
  url: string;
  sg: ShotgunClient;
  /** Creates a Shot in the site's first project; returns the id of its Shotgun_Shot_New event. */
  newShotEvent(code: string): Promise<number>;
  /** The newest EventLogEntry id on the site (0 when it has none). */
  newestEventId(): Promise<number>;
  /** The site's first project (by id). */
  firstProject(): Promise<{ type: 'Project'; id: number }>;
}

/**
 * Starts the local site in-process (`seed: 'demo'` unless asked otherwise) on
 * a free loopback port; the client and the site close when the test ends.
 */
export async function withSite(t: Cleanup, options: SiteOptions = { seed: 'demo' }): Promise<TestSite> {
  const site = await startSite(options);
  onCleanup(t, () => site.close());
  const sg = new ShotgunClient({
    baseUrl: site.url,
    auth: { kind: 'script', scriptName: DEFAULT_SCRIPT.name, scriptKey: new Secret(DEFAULT_SCRIPT.key) },
    retryDelayMs: 20,
  });
  onCleanup(t, () => sg.close());
  const firstProject = async (): Promise<{ type: 'Project'; id: number }> => {
    const p = await sg.findOne('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
    if (typeof p?.['id'] !== 'number') throw new Error(`no project on ${site.url}`);
    return { type: 'Project', id: p['id'] };
  };
  return {
    site,
    url: site.url,
    sg,
    firstProject,
    async newShotEvent(code) {
      const project = await sg.findOne('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
      const shot = await sg.create('Shot', { code, ...(project ? { project: { type: 'Project', id: project['id'] } } : {}) });
      const ev = await sg.findOne('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New'], ['entity', 'is', { type: 'Shot', id: shot['id'] }]], ['id']);
      if (typeof ev?.['id'] !== 'number') throw new Error(`no Shotgun_Shot_New event for shot ${code}`);
      return ev['id'];
    },
    async newestEventId() {
      const row = await sg.findOne('EventLogEntry', [], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
      const id = row?.['id'];
      return typeof id === 'number' ? id : 0;
    },
  };
}
