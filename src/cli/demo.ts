// `weft demo`: being written.
export async function demoMain(_argv: string[]): Promise<number> {
  process.stderr.write('weft demo: not built yet\n');
  return 1;
}
