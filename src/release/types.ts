/**
 * What a model release produced, per service: the shape shared by the release pipeline
 * (src/release/pipeline.ts), the pull-request comment (src/github/comment.ts) and the outputs.
 */

/** Where a release ran: a candidate beside production (pull request) or production itself (merge). */
export type ReleaseMode = 'candidate' | 'production';

/**
 * passed: the model serves and the smoke test passed (production: promoted, alias moved);
 * failed: deploy or smoke test failed and nothing needed undoing (e.g. a candidate, or a first release);
 * rolled-back: the smoke test failed and the previous release serves again, alias untouched;
 * unchanged: the release file asks for what already serves;
 * skipped: not attempted (an earlier step of the run failed first).
 */
export type ReleaseOutcome = 'passed' | 'failed' | 'rolled-back' | 'unchanged' | 'skipped';

export interface ModelRef {
  /** As the release file gives it: models:/name@alias, models:/name/version or a storage URI. */
  reference: string;
  /** The storage URI KServe reads (credentials never included). */
  uri?: string;
  /** MLflow registered model name and version, when the reference is a registry one. */
  registeredModel?: string;
  version?: string;
}

export interface SmokeFigures {
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  throughput?: number;
}

export interface ServiceRelease {
  /** The release file (path relative to the repository root), when the release came from one. */
  file?: string;
  service: string;
  namespace: string;
  mode: ReleaseMode;
  /** The InferenceService actually deployed (the service itself, or its candidate's name). */
  deployedAs: string;
  current?: ModelRef;
  candidate: ModelRef;
  outcome: ReleaseOutcome;
  /** One line naming the cause and the fix when the outcome is failed or rolled-back. */
  cause?: string;
  url?: string;
  smoke?: SmokeFigures;
  /** The MLflow alias moved (production, passed) and the version it pointed at before. */
  alias?: { name: string; version: string; previousVersion?: string };
  /** Links for the comment and summary: the MLflow model version page. */
  modelVersionUrl?: string;
  durationMs: number;
}

export interface ReleaseRun {
  mode: ReleaseMode;
  releases: ServiceRelease[];
  /** The workflow run (GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID). */
  runUrl?: string;
  commit?: string;
}
