/**
 * `serve --config FILE`: a JSON object whose keys are serve's long flag names
 * (`"max-relay-sessions": 64`, `"trust-proxy": true`, `"allow-origin": ["https://a.example"]`).
 * The accepted keys and their types come from the command's own option list, so a new
 * flag is a config key at once. Flags given on the command line win over the file.
 *
 * The file is checked before anything is used: a regular file of at most 1 MiB, JSON,
 * an object with known keys only (zod `.strict()`), each of its flag's type; every value
 * then goes through the flag's own parser, so `"port": 70000` fails as `--port 70000` does.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { z } from 'zod';
import { SealdropError } from '../shared/errors.js';

export const MAX_CONFIG_BYTES = 1 << 20;

/** What a flag takes in JSON. */
export type ConfigType = 'boolean' | 'number' | 'string' | 'strings' | 'json';

const SCHEMAS: Record<ConfigType, z.ZodTypeAny> = {
  boolean: z.boolean(),
  number: z.number(),
  string: z.string().max(4096),
  strings: z.array(z.string().max(4096)).max(256),
  // A value that is JSON itself (--ice-servers): the JSON, or its text as on the command line.
  json: z.union([z.string().max(1 << 16), z.array(z.unknown()).max(256)]),
};

/** The config key of a flag: its long name without dashes; `--no-x` is `"x": false`. */
function keyOf(option: Option): string {
  return option.long!.replace(/^--(no-)?/, '');
}

/**
 * Reads FILE and sets every value it gives on `command`'s options, unless the command
 * line gave that option. `typeOf` says what each option takes; options it returns
 * undefined for (such as --config itself) are not config keys.
 */
export function applyConfigFile(command: Command, file: string, typeOf: (option: Option) => ConfigType | undefined): void {
  const value = parseJson(file, readSmallFile(file));
  const byKey = new Map<string, Option>();
  for (const option of command.options) {
    if (option.long && typeOf(option) !== undefined && !byKey.has(keyOf(option))) byKey.set(keyOf(option), option);
  }
  const shape = Object.fromEntries([...byKey].map(([key, option]) => [key, SCHEMAS[typeOf(option)!].optional()]));
  const parsed = z.object(shape).strict().safeParse(value);
  if (!parsed.success) throw new SealdropError('ERR_CONFIG', `${file}: ${describe(parsed.error)}`);

  for (const [key, given] of Object.entries(parsed.data)) {
    if (given === undefined) continue;
    const option = byKey.get(key)!;
    const name = option.attributeName();
    if (command.getOptionValueSource(name) === 'cli') continue; // the command line wins
    command.setOptionValueWithSource(name, convert(option, typeOf(option)!, given, key, file), 'config');
  }
}

/** A value of the file as the flag's own parser would have made it. */
function convert(option: Option, type: ConfigType, given: unknown, key: string, file: string): unknown {
  const parse = (text: string, previous: unknown) => {
    if (!option.parseArg) return text;
    try {
      return option.parseArg(text, previous);
    } catch (err) {
      throw new SealdropError('ERR_CONFIG', `${file}: "${key}": ${(err as Error).message} (got ${JSON.stringify(given).slice(0, 80)})`);
    }
  };
  switch (type) {
    case 'boolean': return given;
    case 'strings': return (given as string[]).reduce<unknown>((previous, text) => parse(text, previous), []);
    case 'json': return typeof given === 'string' ? given : JSON.stringify(given);
    case 'number': return parse(String(given), undefined);
    case 'string': return parse(given as string, undefined);
  }
}

function describe(error: z.ZodError): string {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => JSON.stringify(k.slice(0, 64))).join(', ');
      return `unknown key ${keys} (the keys are serve's long flag names, e.g. "max-relay-sessions")`;
    }
    return issue.path.length ? `"${issue.path.join('.')}": ${issue.message}` : `expected a JSON object of flags: ${issue.message}`;
  }).join('; ');
}

/** A regular file's text, refused before reading when it is anything else or too large. */
function readSmallFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new SealdropError('ERR_CONFIG', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new SealdropError('ERR_CONFIG', `config file ${file} is a folder, not a file`);
    if (!st.isFile()) throw new SealdropError('ERR_CONFIG', `config file ${file} is not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw new SealdropError('ERR_CONFIG', `config file ${file} is ${st.size} bytes; at most ${MAX_CONFIG_BYTES} are read`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } catch (err) {
    if (err instanceof SealdropError) throw err;
    throw new SealdropError('ERR_CONFIG', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  } finally {
    closeSync(fd);
  }
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SealdropError('ERR_CONFIG', `config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
}
