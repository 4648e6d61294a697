// `weft bench`: see bench/ (being written).
export async function benchMain(_argv: string[]): Promise<number> {
  process.stderr.write('weft bench: not built yet\n');
  return 1;
}
