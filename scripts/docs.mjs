// Writes the inputs and outputs tables of each actions/<name>/README.md from its action.yml, between
// the markers <!-- inputs:start --> ... <!-- inputs:end --> (and outputs). `--check` fails when stale.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cell = (s) =>
  String(s ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\|/g, '\\|');

export function tables(action) {
  const inputs = Object.entries(action.inputs ?? {}).map(
    ([name, i]) =>
      `| \`${name}\` | ${i.required ? 'yes' : 'no'} | ${i.default !== undefined ? `\`${cell(i.default)}\`` : ''} | ${cell(i.description)} |`,
  );
  const outputs = Object.entries(action.outputs ?? {}).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`);
  return {
    inputs: ['| input | required | default | description |', '| --- | --- | --- | --- |', ...inputs].join('\n'),
    outputs: ['| output | description |', '| --- | --- |', ...outputs].join('\n'),
  };
}

export function render(readme, action) {
  const t = tables(action);
  let out = readme;
  for (const part of ['inputs', 'outputs']) {
    const re = new RegExp(`(<!-- ${part}:start -->)[\\s\\S]*?(<!-- ${part}:end -->)`);
    if (!re.test(out)) throw new Error(`README has no <!-- ${part}:start --> / <!-- ${part}:end --> markers`);
    out = out.replace(re, `$1\n${t[part]}\n$2`);
  }
  return out;
}

export async function docsFor(name) {
  const dir = join(root, 'actions', name);
  const action = load(await readFile(join(dir, 'action.yml'), 'utf8'));
  const readme = await readFile(join(dir, 'README.md'), 'utf8');
  return { readme, rendered: render(readme, action), path: join(dir, 'README.md') };
}

export async function actionNames() {
  return (await readdir(join(root, 'actions'), { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const name of await actionNames()) {
    const { readme, rendered, path } = await docsFor(name);
    if (readme === rendered) continue;
    if (check) {
      console.error(`${path} is out of date with action.yml: run npm run docs`);
      stale++;
    } else {
      await writeFile(path, rendered);
      console.log(`updated ${path}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
