// See action.yml. Node built-ins and git only.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] ?? '').trim();
const repository = input('repository') || process.env.GITHUB_REPOSITORY;
const ref = input('ref');
const mirrors = JSON.parse(process.env.KFOPS_ACT_GIT_MIRRORS ?? '{}');
const source = mirrors[repository];
if (!source) {
  console.log(`::error::actions/checkout stand-in: no local mirror of repository '${repository}' (ref '${ref}')`);
  process.exit(1);
}
const workspace = process.env.GITHUB_WORKSPACE;
const target = resolve(workspace, input('path') || '.');
if (!target.startsWith(workspace)) {
  console.log(`::error::Repository path '${target}' is not under '${workspace}'`);
  process.exit(1);
}
const git = (...args) => execFileSync('git', args, { stdio: ['ignore', 'inherit', 'inherit'] });
git('clone', '--quiet', '--no-checkout', source, target);
git('-C', target, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', ref || 'HEAD');
console.log(`checked out ${repository}@${ref || 'HEAD'} into ${target}`);
