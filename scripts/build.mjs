// Bundles every action entry point src/actions/<name>/index.ts into dist/<name>/index.js (ESM) with ncc.
// New actions are found automatically. Usage: node scripts/build.mjs [--src DIR] [--out DIR] [--only name,name]
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ncc from '@vercel/ncc';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The action names: folders of srcDir holding an index.ts. */
export async function findEntries(srcDir) {
  const names = [];
  for (const entry of await readdir(srcDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(srcDir, entry.name, 'index.ts');
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    )
      names.push(entry.name);
  }
  return names.sort();
}

/** Bundles one action into outDir/<name>/ (index.js and its assets). */
export async function buildOne(srcDir, outDir, name, log = console.log) {
  const started = Date.now();
  const { code, assets } = await ncc(join(srcDir, name, 'index.ts'), {
    minify: true,
    sourceMap: false,
    target: 'es2022',
    quiet: true,
    license: 'licenses.txt',
  });
  const target = join(outDir, name);
  await mkdir(target, { recursive: true });
  await writeFile(join(target, 'index.js'), code);
  for (const [file, asset] of Object.entries(assets ?? {})) {
    await mkdir(dirname(join(target, file)), { recursive: true });
    await writeFile(join(target, file), asset.source);
  }
  log(`dist/${name}/index.js  ${(code.length / 1024).toFixed(0)} KiB  ${Date.now() - started} ms`);
}

/**
 * Bundles each entry of srcDir into outDir/<name>/index.js; removes bundles of actions that no longer
 * exist (with `only`, just the bundles named are replaced and the others stay). Bundles are built in
 * separate processes, as many at once as the machine has cores (each ncc run type-checks and minifies
 * on one core).
 */
export async function buildAll(srcDir, outDir, log = console.log, only = undefined) {
  const names = (await findEntries(srcDir)).filter((n) => !only || only.includes(n));
  // With `only`, just those bundles are replaced; the other bundles stay as they are.
  if (only) for (const name of names) await rm(join(outDir, name), { recursive: true, force: true });
  else await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'package.json'), '{\n  "type": "module"\n}\n');
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const child = spawn(
        process.execPath,
        [fileURLToPath(import.meta.url), '--one', name, '--src', srcDir, '--out', outDir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (c) => (output += c));
      child.stderr.on('data', (c) => (output += c));
      const code = await new Promise((r) => child.on('close', r));
      if (code !== 0) throw new Error(`bundling ${name} failed:\n${output.trim()}`);
      log(output.trim());
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(availableParallelism(), names.length)) }, worker));
  return names;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (flag, fallback) => {
    const i = process.argv.indexOf(flag);
    return i > 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]) : fallback;
  };
  const oneAt = process.argv.indexOf('--one');
  if (oneAt > 0) {
    try {
      await buildOne(
        arg('--src', join(root, 'src/actions')),
        arg('--out', join(root, 'dist')),
        process.argv[oneAt + 1],
      );
    } catch (error) {
      // ncc's error carries its own minified source (megabytes): print only the lines that say what failed.
      const said = String(error?.stack ?? error)
        .split('\n')
        .filter((l) => /\[tsl\]|TS\d{4}|Module not found|Error:/.test(l) && l.length < 1000);
      console.error([...new Set(said.map((l) => l.trim()))].slice(0, 30).join('\n') || String(error).slice(0, 2000));
      process.exitCode = 1;
    }
  } else {
    const onlyAt = process.argv.indexOf('--only');
    const only = onlyAt > 0 ? (process.argv[onlyAt + 1] ?? '').split(',') : undefined;
    const names = await buildAll(
      arg('--src', join(root, 'src/actions')),
      arg('--out', join(root, 'dist')),
      console.log,
      only,
    );
    console.log(`built ${names.length} action bundle(s)`);
  }
}
