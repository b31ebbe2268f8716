/** A field of the platform settings, as the install knows it (the actions layer maps it to its input). */
export type PlatformField = 'source.file' | 'source.path' | 'source.version' | 'defaultStorageClass' | 'domain';

/**
 * A platform setting the install cannot use, found once it read a file or asked the cluster (a manifests
 * file that cannot be read, a tag the repository does not have, a StorageClass the cluster does not
 * have). It names its own field; the caller says which input that is.
 */
export class PlatformSettingError extends Error {
  override readonly name = 'PlatformSettingError';
  constructor(
    readonly field: PlatformField,
    readonly value: string,
    readonly expected: string,
  ) {
    super(`${field} ${JSON.stringify(value)}: expected ${expected}`);
  }
}
