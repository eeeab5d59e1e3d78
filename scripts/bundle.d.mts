// Types of scripts/bundle.mjs, for the tests that import it.
export const INLINE: Set<string>;
export const BANNER: string;
export function packageOf(specifier: string): string;
export function pinImportMeta(source: string, file: string, outdir: string): string;
export function bundle(o: { dist: string; entry: string; outdir: string; inline?: Set<string> }): Promise<string[]>;
