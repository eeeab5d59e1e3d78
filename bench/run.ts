/**
 * Runs every `bench/*.bench.ts` (or only those named on the command line:
 * `npm run bench -- site`), records the machine, writes `bench/results/<name>.json`
 * and prints a table. Each bench module exports `run(): Promise<BenchResult>`.
 */
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

export interface BenchResult {
  name: string;
  machine?: Machine;
  results: Record<string, number | string>;
  notes?: string[];
}

function machine(): Machine {
  const c = cpus();
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown', cores: c.length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version, platform: `${platform()} ${release()} ${arch()}`,
  };
}

function printTable(r: BenchResult): void {
  const rows = Object.entries(r.results).map(([k, v]) => [k, typeof v === 'number' ? String(Math.round(v * 100) / 100) : v]);
  const w = Math.max(...rows.map(([k]) => k!.length), 6);
  process.stdout.write(`\n${r.name}\n${'-'.repeat(w + 16)}\n`);
  for (const [k, v] of rows) process.stdout.write(`${k!.padEnd(w)}  ${v}\n`);
  for (const n of r.notes ?? []) process.stdout.write(`  note: ${n}\n`);
}

async function main(): Promise<number> {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()
    .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.ts$/, '')));
  if (files.length === 0) {
    process.stderr.write(`no benchmark matches ${wanted.join(', ')}\n`);
    return 1;
  }
  const outDir = join(dir, 'results');
  mkdirSync(outDir, { recursive: true });
  const m = machine();
  process.stdout.write(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}\n`);
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { run?: () => Promise<BenchResult> };
    if (typeof mod.run !== 'function') {
      process.stderr.write(`${f} exports no run()\n`);
      return 1;
    }
    const r = await mod.run();
    const result: BenchResult = { ...r, machine: m };
    writeFileSync(join(outDir, `${r.name}.json`), `${JSON.stringify({ ...result, date: new Date().toISOString() }, null, 2)}\n`);
    printTable(result);
  }
  return 0;
}

process.exitCode = await main();
