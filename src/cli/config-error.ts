/** A setting that cannot be used; the message starts with the key or flag it names. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
