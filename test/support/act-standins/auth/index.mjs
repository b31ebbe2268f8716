// See action.yml. Node built-ins only: act runs this file as it is.
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const input = (name) => (process.env[`INPUT_${name.toUpperCase()}`] ?? '').trim();
const fail = (message) => {
  console.log(`::error::google-github-actions/auth failed with: ${message}`);
  process.exit(1);
};
const setOutput = (name, value) => {
  const d = `ghadelimiter_${randomBytes(8).toString('hex')}`;
  appendFileSync(process.env.GITHUB_OUTPUT, `${name}<<${d}\n${value}\n${d}\n`);
};
const exportVariable = (name, value) => {
  const d = `ghadelimiter_${randomBytes(8).toString('hex')}`;
  appendFileSync(process.env.GITHUB_ENV, `${name}<<${d}\n${value}\n${d}\n`);
};

const provider = input('workload_identity_provider');
if (!provider || input('credentials_json')) {
  fail('The GitHub Action workflow must specify exactly one of "workload_identity_provider" or "credentials_json"!');
}
if (input('service_account'))
  fail('this stand-in covers direct Workload Identity Federation only (no service_account)');
const requestUrl = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
const requestToken = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
if (!requestUrl || !requestToken) {
  fail('GitHub Actions did not inject $ACTIONS_ID_TOKEN_REQUEST_TOKEN or $ACTIONS_ID_TOKEN_REQUEST_URL into this job.');
}
const sts = process.env.KFOPS_ACT_STS_URL;
if (!sts) fail('KFOPS_ACT_STS_URL is not set (the test harness gives the fake STS)');

const oidcAudience = input('audience') || `https://iam.googleapis.com/${provider}`;
const tokenUrl = new URL(requestUrl);
tokenUrl.searchParams.set('audience', oidcAudience);
const oidc = await fetch(tokenUrl, {
  headers: { Authorization: `Bearer ${requestToken}`, Accept: 'application/json' },
  signal: AbortSignal.timeout(10_000),
});
if (!oidc.ok) fail(`the OIDC token request answered HTTP ${oidc.status}`);
const subjectToken = (await oidc.json()).value;
console.log(`::add-mask::${subjectToken}`);

const audience = `//iam.googleapis.com/${provider}`;
const tokenEndpoint = `${sts.replace(/\/$/, '')}/v1/token`;
if (input('create_credentials_file') !== 'false') {
  const home = join(process.env.RUNNER_TEMP, '_github_home');
  mkdirSync(home, { recursive: true });
  const file = join(home, `gha-creds-${randomBytes(8).toString('hex')}.json`);
  const credentials = {
    type: 'external_account',
    audience,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: tokenEndpoint,
    credential_source: {
      url: tokenUrl.toString(),
      headers: { Authorization: `Bearer ${requestToken}` },
      format: { type: 'json', subject_token_field_name: 'value' },
    },
  };
  writeFileSync(file, JSON.stringify(credentials), { mode: 0o640 });
  console.log(`Created credentials file at "${file}"`);
  setOutput('credentials_file_path', file);
  if (input('export_environment_variables') !== 'false') {
    for (const name of [
      'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'GOOGLE_GHA_CREDS_PATH',
    ]) {
      exportVariable(name, file);
    }
  }
}
const project = input('project_id');
if (project) {
  setOutput('project_id', project);
  if (input('export_environment_variables') !== 'false') {
    for (const name of [
      'CLOUDSDK_CORE_PROJECT',
      'CLOUDSDK_PROJECT',
      'GCLOUD_PROJECT',
      'GCP_PROJECT',
      'GOOGLE_CLOUD_PROJECT',
    ]) {
      exportVariable(name, project);
    }
  }
}
// The token exchange (RFC 8693, form-encoded as the client libraries send it) checks the credentials now.
const exchange = await fetch(tokenEndpoint, {
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({
    audience,
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    subject_token: subjectToken,
  }),
  signal: AbortSignal.timeout(10_000),
});
if (!exchange.ok) fail(`Failed to generate Google Cloud federated token for ${audience}: HTTP ${exchange.status}`);
const accessToken = (await exchange.json()).access_token;
console.log(`::add-mask::${accessToken}`);
setOutput('auth_token', accessToken);
