// health-check: runs a list of checks on the device and reports each one.
//
// Files are read through WASI in the directories the operator granted
// (plugin.toml asks for /status read-only); commands run through the
// jobhost `command` import, only programs the operator allow-listed.
// All checks pass → SUCCEEDED; any fails → FAILED (retryable: the device
// may be healthy later); a malformed document → REJECTED.
//
// componentize-js turns this module into a component of the world in
// wit/world.wit: the exported `operation` object is the WIT `operation`
// interface, a returned object is `ok(outcome)`, a thrown `failure` record
// is `err(failure)`.

import { cancelled, log, progress } from 'jobhost:plugin/host@0.1.0';
import { run as runCommand } from 'jobhost:plugin/command@0.1.0';
import { DocumentError, describe, parse } from './document.js';
import { CheckFailed, exists, readText } from './files.js';

const OPERATION = 'health-check';

/** Characters of a command's output quoted in a failed check. */
const OUTPUT_CHARS = 200;

const failure = (reason, retryable, statusDetails = []) => ({ reason, retryable, statusDetails });

const lastLine = (text) => {
  const line = text.trim().split('\n').pop() ?? '';
  return line.length <= OUTPUT_CHARS ? line : `…${line.slice(-OUTPUT_CHARS)}`;
};

// The jobhost `command` import refuses with a WIT host-error: componentize-js
// throws a value whose `payload` is the variant, `{tag, val}`.
function commandFailure(program, e) {
  const error = e && e.payload;
  if (!error || typeof error.tag !== 'string') throw e;
  if (error.tag === 'cancelled') throw failure('cancelled', true);
  const words = error.tag.replace('-', ' ');
  return new CheckFailed(`${program}: ${words}${error.val ? `: ${error.val}` : ''}`);
}

function runCheck(check) {
  switch (check.type) {
    case 'file-exists':
      exists(check.path);
      return;
    case 'file-contains':
      if (!readText(check.path).includes(check.text)) {
        throw new CheckFailed(`${check.path} does not contain ${JSON.stringify(check.text)}`);
      }
      return;
    case 'command': {
      let output;
      try {
        output = runCommand({
          program: check.program,
          args: check.args,
          timeoutMs: check.timeoutSecs * 1000,
        });
      } catch (e) {
        throw commandFailure(check.program, e);
      }
      if (output.exitCode === 0) return;
      const said = lastLine(output.stderrTail) || lastLine(output.stdoutTail);
      const how = output.exitCode === undefined || output.exitCode === null
        ? 'was killed by a signal'
        : `exited with code ${output.exitCode}`;
      throw new CheckFailed(`${check.program} ${how}${said ? `: ${said}` : ''}`);
    }
    default:
      throw new Error(`unreachable: check type ${check.type} passed parse`);
  }
}

function healthCheck(job) {
  if (job.operation !== OPERATION) {
    throw failure(`unsupported operation ${JSON.stringify(job.operation)}; this plugin handles ${OPERATION}`, false);
  }
  let checks;
  try {
    checks = parse(job.document);
  } catch (e) {
    if (e instanceof DocumentError) throw failure(e.message, false);
    throw e;
  }
  // statusDetails keys allow [a-zA-Z0-9:_-], hence `check:0`.
  const details = [];
  const failed = [];
  for (const [i, check] of checks.entries()) {
    if (cancelled()) throw failure('cancelled', true, details);
    try {
      runCheck(check);
      details.push([`check:${i}`, 'ok']);
    } catch (e) {
      if (!(e instanceof CheckFailed)) throw e;
      details.push([`check:${i}`, `failed: ${e.message}`]);
      failed.push(`check ${i} (${describe(check)}): ${e.message}`);
    }
    try {
      progress([['checked', `${i + 1}/${checks.length}`]]);
    } catch {
      // Progress is best effort; the final report carries every result.
    }
  }
  const passed = `${checks.length - failed.length}/${checks.length}`;
  details.push(['passed', passed]);
  log('info', `health-check: ${passed} passed`);
  if (failed.length > 0) {
    throw failure(`${failed.length} of ${checks.length} checks failed: ${failed.join('; ')}`, true, details);
  }
  return { statusDetails: details };
}

export const operation = {
  run(job) {
    try {
      return healthCheck(job);
    } catch (e) {
      if (e && typeof e.reason === 'string' && typeof e.retryable === 'boolean') throw e;
      // A bug: report it instead of trapping without a word.
      log('error', `health-check failed unexpectedly: ${e && e.stack ? e.stack : e}`);
      throw failure(`health-check failed unexpectedly: ${e}`, true);
    }
  },
};
