// The dependency direction is a rule: a module may import its own layer or a
// lower one, never a higher one (cli → bench → lab → agent → lease → store →
// dataplane/config/host → net/errors); src/ never imports test/; and
// native/core, plain C++, never includes the N-API headers. Every import
// statement, `require()` and `import()` of a relative path is checked, type-only
// ones too: a type import is still a dependency on the layer's vocabulary.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';

const kRoot = join(__dirname, '..', '..', '..');

/** Higher number = higher layer. src/index.ts (the package entry) sits above the agent, below lab, which uses its types. */
const kRank: Record<string, number> = {
  cli: 8,
  bench: 7,
  lab: 6,
  index: 5,
  agent: 4,
  lease: 3,
  store: 2,
  dataplane: 1,
  config: 1,
  host: 1,
  net: 0,
  errors: 0,
};

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path, ext));
    else if (ext.test(name)) out.push(path);
  }
  return out;
}

/** The layer of a repository path (without extension), or 'test', or undefined for anything else. */
function layerOf(path: string): string | undefined {
  const parts = relative(kRoot, path).split(sep);
  if (parts[0] === 'bench') return 'bench';
  if (parts[0] === 'test') return 'test';
  if (parts[0] !== 'src') return undefined;
  if (parts.length === 2) return parts[1]!.replace(/\.ts$/, ''); // src/index.ts, src/errors.ts
  return parts[1];
}

interface Import {
  line: number;
  spec: string;
}

function importsOf(text: string): Import[] {
  const out: Import[] = [];
  const lines = text.split('\n');
  // Statements may span lines (`import {\n a,\n} from '…'`): match on the whole text, report the line of the specifier.
  const re = /(?:\bfrom\s*|\bimport\s*|\brequire\s*\(\s*|\bimport\s*\(\s*)'([^']+)'/g;
  let offset = 0;
  const starts = lines.map((l) => {
    const s = offset;
    offset += l.length + 1;
    return s;
  });
  for (const m of text.matchAll(re)) {
    const at = m.index + m[0].length;
    let line = starts.findIndex((s, i) => at >= s && (i + 1 === starts.length || at < starts[i + 1]!));
    if (line < 0) line = 0;
    out.push({ line: line + 1, spec: m[1]! });
  }
  return out;
}

/** Comments do not import anything; blank them (keeping line breaks) so an example in a comment is not checked. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

test('no module imports a higher layer, and src/ never imports test/', () => {
  const offences: string[] = [];
  let checked = 0;
  for (const file of [...files(join(kRoot, 'src'), /\.ts$/), ...files(join(kRoot, 'bench'), /\.ts$/)]) {
    const from = layerOf(file)!;
    assert.ok(from in kRank, `${relative(kRoot, file)}: layer ${from} is not in the layer order; add it to kRank`);
    for (const { line, spec } of importsOf(stripComments(readFileSync(file, 'utf8')))) {
      if (!spec.startsWith('.')) continue; // node: builtins and packages
      checked++;
      const to = layerOf(resolve(dirname(file), spec));
      const where = `${relative(kRoot, file)}:${line}`;
      if (to === 'test') offences.push(`${where}: ${from} imports test/ (${spec})`);
      else if (to === undefined) offences.push(`${where}: imports ${spec}, outside src/ and bench/`);
      else if (!(to in kRank)) offences.push(`${where}: imports ${spec}, whose layer ${to} is not in the layer order`);
      else if (kRank[to]! > kRank[from]!) offences.push(`${where}: ${from} imports the higher layer ${to} (${spec})`);
    }
  }
  assert.ok(checked > 100, `found ${checked} relative imports: the parser is reading the files`);
  assert.deepEqual(offences, [], `\n${offences.join('\n')}`);
});

test('native/core includes no N-API header', () => {
  const offences: string[] = [];
  for (const file of files(join(kRoot, 'native', 'core'), /\.(h|cc)$/)) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        if (/^\s*#\s*include\s*[<"](napi\.h|node_api\.h|node_api_types\.h|js_native_api\.h|node\.h)[>"]/.test(text)) {
          offences.push(`${relative(kRoot, file)}:${i + 1}: ${text.trim()}`);
        }
      });
  }
  assert.deepEqual(offences, [], `\n${offences.join('\n')}`);
});

test('the layer check reports what it should', () => {
  assert.deepEqual(
    importsOf("import { a } from '../x';\nimport type {\n  B,\n} from '../y';\nconst z = require('./z');\nimport './side';"),
    [
      { line: 1, spec: '../x' },
      { line: 4, spec: '../y' },
      { line: 5, spec: './z' },
      { line: 6, spec: './side' },
    ],
  );
  assert.deepEqual(importsOf(stripComments("// import { a } from '../cli/main';\n")), []);
  assert.equal(layerOf(join(kRoot, 'src', 'store', 'keys')), 'store');
  assert.equal(layerOf(join(kRoot, 'src', 'errors')), 'errors');
  assert.equal(layerOf(join(kRoot, 'test', 'helpers', 'netns')), 'test');
});
