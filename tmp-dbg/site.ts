import { startSite } from '../src/site/index.ts';
const site = await startSite({ seed: 'demo' }); console.log(site.url);
