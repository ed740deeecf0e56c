// Files through WASI: the only directories that exist for this plugin are
// the ones the operator granted (preopens), e.g. /status read-only.
//
// StarlingMonkey, the engine componentize-js builds on, has no `fs` module;
// the world in wit/world.wit imports wasi:filesystem so that this script
// can open the granted directories itself.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

/** file-contains reads at most this much of a file. */
export const MAX_READ_BYTES = 1 << 20;
const CHUNK_BYTES = 64n << 10n;

/** A check that did not pass; the message says why, for statusDetails. */
export class CheckFailed extends Error {}

// WASI error codes in words; the rest are shown as the code itself.
const WORDS = {
  'no-entry': 'does not exist',
  access: 'is not readable (permission denied)',
  'not-permitted': 'is not readable (not permitted)',
  'is-directory': 'is a directory',
  'not-directory': 'is not inside a directory',
  loop: 'is a symlink loop',
};

function fsFailure(path, e) {
  // componentize-js throws a WIT error as an Error whose `payload` is the
  // WIT value: here the wasi:filesystem error-code enum, as a string.
  const code = e && e.payload;
  if (typeof code !== 'string') throw e;
  return new CheckFailed(`${path} ${WORDS[code] ?? `cannot be read (${code})`}`);
}

function release(resource) {
  // Resources are freed when collected; dispose now to keep handles few.
  resource?.[Symbol.dispose]?.();
}

const trimSlashes = (guest) => (guest === '/' ? '/' : guest.replace(/\/+$/, ''));

// Asked once per run, on first use: each call hands out new handles, and
// module top-level code would run at build time (componentize-js
// snapshots the initialised module), when no directory is granted.
let preopens = null;
const granted = () => {
  preopens ??= getDirectories();
  return preopens;
};

/**
 * The granted directory holding `path` (longest match) and the path
 * inside it. `path` is absolute without `..` (the document was checked).
 */
function locate(path) {
  let best = null;
  for (const [descriptor, guest] of granted()) {
    const root = trimSlashes(guest);
    const inside = root === '/' || path === root || path.startsWith(`${root}/`);
    if (inside && (!best || root.length > best.root.length)) best = { descriptor, root };
  }
  if (!best) {
    const names = granted().map(([, guest]) => guest).join(', ') || 'none';
    throw new CheckFailed(`${path} is not inside a granted directory (granted: ${names})`);
  }
  const relative = path.slice(best.root.length).split('/').filter((c) => c && c !== '.').join('/');
  return { dir: best.descriptor, relative };
}

/** Throws CheckFailed unless `path` exists (a file, directory, ...). */
export function exists(path) {
  const { dir, relative } = locate(path);
  try {
    if (relative) dir.statAt({ symlinkFollow: true }, relative);
  } catch (e) {
    throw fsFailure(path, e);
  }
}

/** The first MAX_READ_BYTES of `path`, decoded as UTF-8. */
export function readText(path) {
  const { dir, relative } = locate(path);
  if (!relative) throw new CheckFailed(`${path} is a directory`);
  let file;
  try {
    file = dir.openAt({ symlinkFollow: true }, relative, {}, { read: true });
    const parts = [];
    let offset = 0n;
    for (;;) {
      const [bytes, end] = file.read(CHUNK_BYTES, offset);
      parts.push(bytes);
      offset += BigInt(bytes.length);
      if (end || bytes.length === 0 || offset >= BigInt(MAX_READ_BYTES)) break;
    }
    const all = new Uint8Array(Number(offset));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    return new TextDecoder('utf-8').decode(all.subarray(0, MAX_READ_BYTES));
  } catch (e) {
    throw e instanceof CheckFailed ? e : fsFailure(path, e);
  } finally {
    release(file);
  }
}
