// The health-check job document: parsed and checked before anything runs,
// so a malformed job is REJECTED with every problem named at once.
//
//   {"operation": "health-check", "checks": [
//     {"type": "file-exists",   "path": "/status/ready"},
//     {"type": "file-contains", "path": "/status/version", "text": "1.2"},
//     {"type": "command", "program": "/usr/bin/myapp-check", "args": ["--quick"],
//      "timeoutSecs": 30}]}
//
// No WIT import here: pure JavaScript.

/** More checks than this in one job is a mistake, not a health check. */
export const MAX_CHECKS = 32;

/** Default and largest `timeoutSecs` of a command check. */
export const DEFAULT_TIMEOUT_SECS = 30;
export const MAX_TIMEOUT_SECS = 3600;

/** Longest `text` a file-contains check looks for. */
const MAX_TEXT_CHARS = 1024;

// Fields each check type takes; the ones marked true are required.
const TYPES = {
  'file-exists': { type: true, path: true },
  'file-contains': { type: true, path: true, text: true },
  command: { type: true, program: true, args: false, timeoutSecs: false },
};

/** A document that cannot be run; `problems` lists every reason. */
export class DocumentError extends Error {
  constructor(problems) {
    const noun = problems.length === 1 ? 'problem' : 'problems';
    super(`invalid document (${problems.length} ${noun}): ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const show = (value) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 40 ? text : `${text.slice(0, 37)}...`;
};

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

function pathProblem(path) {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return `must be an absolute path, not ${show(path)}`;
  }
  if (path.length > 4096 || path.includes('\0')) {
    return 'is not a usable path';
  }
  if (path.split('/').includes('..')) {
    return `${show(path)} must not contain ".."`;
  }
  return null;
}

function checkProblems(check, where) {
  if (!isObject(check)) {
    return [`${where}: must be an object, not ${show(check)}`];
  }
  const fields = TYPES[check.type];
  if (!fields) {
    return [`${where}: type must be one of ${Object.keys(TYPES).join(', ')}, not ${show(check.type)}`];
  }
  const problems = [];
  for (const key of Object.keys(check)) {
    if (!(key in fields)) problems.push(`${where}: unknown field "${key}" for type ${check.type}`);
  }
  for (const [key, required] of Object.entries(fields)) {
    if (required && check[key] === undefined) problems.push(`${where}: ${key} is missing`);
  }
  const problem = (key, text) => text && problems.push(`${where}: ${key} ${text}`);
  if (check.path !== undefined) problem('path', pathProblem(check.path));
  if (check.text !== undefined
      && (typeof check.text !== 'string' || !check.text || check.text.length > MAX_TEXT_CHARS)) {
    problem('text', `must be 1-${MAX_TEXT_CHARS} characters of text, not ${show(check.text)}`);
  }
  if (check.program !== undefined && (typeof check.program !== 'string' || !check.program)) {
    problem('program', `must be a program name or absolute path, not ${show(check.program)}`);
  }
  if (check.args !== undefined
      && !(Array.isArray(check.args) && check.args.every((a) => typeof a === 'string'))) {
    problem('args', `must be a list of strings, not ${show(check.args)}`);
  }
  if (check.timeoutSecs !== undefined
      && !(Number.isInteger(check.timeoutSecs)
        && check.timeoutSecs >= 1 && check.timeoutSecs <= MAX_TIMEOUT_SECS)) {
    problem('timeoutSecs', `must be an integer 1..${MAX_TIMEOUT_SECS}, not ${show(check.timeoutSecs)}`);
  }
  return problems;
}

/**
 * The checks of a job document (JSON text), each with its defaults filled
 * in; throws DocumentError naming every problem.
 */
export function parse(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new DocumentError([`the document is not JSON: ${e.message}`]);
  }
  if (!isObject(doc)) throw new DocumentError(['the document must be a JSON object']);
  const problems = Object.keys(doc)
    .filter((key) => key !== 'operation' && key !== 'checks')
    .map((key) => `unknown field "${key}"`);
  const { checks } = doc;
  if (!Array.isArray(checks) || checks.length === 0 || checks.length > MAX_CHECKS) {
    problems.push(`checks must be a list of 1-${MAX_CHECKS} checks, not ${show(checks)}`);
  } else {
    checks.forEach((check, i) => problems.push(...checkProblems(check, `checks[${i}]`)));
  }
  if (problems.length > 0) throw new DocumentError(problems);
  return checks.map((check) => (check.type === 'command'
    ? { args: [], timeoutSecs: DEFAULT_TIMEOUT_SECS, ...check }
    : { ...check }));
}

/** How a check is named in messages: `file-exists /status/ready`. */
export function describe(check) {
  return `${check.type} ${check.type === 'command' ? check.program : check.path}`;
}
