import winston from 'winston';

/** The logging surface the runtime needs; a winston logger satisfies it. */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  child?(fields: Record<string, unknown>): Logger;
}

export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export type LogFormat = 'json' | 'text';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Structured logs: JSON lines by default (what log pipelines ingest), or a compact text form for a
 * terminal. Every line carries `ts`, `level`, `msg` and the fields of the child logger that wrote it
 * (controller, kind, key...).
 */
export function createLogger(
  opts: { level?: LogLevel; format?: LogFormat; fields?: Record<string, unknown> } = {},
): Logger {
  const format =
    opts.format === 'text'
      ? winston.format.combine(
          winston.format.timestamp({ alias: 'ts' }),
          winston.format.printf(({ level, message, timestamp: _t, ts, ...rest }) => {
            const fields = Object.entries(rest)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${ts} ${level.toUpperCase().padEnd(5)} ${message}${fields ? ` ${fields}` : ''}`;
          }),
        )
      : winston.format.combine(
          winston.format.timestamp({ alias: 'ts' }),
          winston.format((info) => {
            delete info.timestamp;
            info.msg = info.message;
            delete (info as { message?: unknown }).message;
            return info;
          })(),
          winston.format.json(),
        );
  return winston.createLogger({
    level: opts.level ?? 'info',
    format,
    defaultMeta: opts.fields,
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}
