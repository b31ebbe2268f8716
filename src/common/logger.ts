/** The logging surface domain code sees. The actions layer maps it onto @actions/core. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Runs fn inside a collapsible log group. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Writes to the console with a prefix: for scripts and local runs. */
export function consoleLogger(prefix = ''): Logger {
  const p = prefix ? `${prefix} ` : '';
  return {
    debug: (m) => {
      if (process.env['KFOPS_DEBUG']) console.debug(`${p}debug: ${m}`);
    },
    info: (m) => console.log(`${p}${m}`),
    warning: (m) => console.warn(`${p}warning: ${m}`),
    error: (m) => console.error(`${p}error: ${m}`),
    group: async (name, fn) => {
      console.log(`${p}▶ ${name}`);
      return fn();
    },
  };
}

/** Discards everything. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warning: () => undefined,
  error: () => undefined,
  group: (_name, fn) => fn(),
};
