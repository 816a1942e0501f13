"""The JavaScript side of a code run, executed inside the sandbox as ``node -e SOURCE``.

Kept as a string here (not a ``.js`` file) so it ships with the Python package without
package-data configuration. The protocol is the Python runtime's: one JSON payload
``{"code", "inputs", "max_output_bytes"}`` on stdin, one JSON answer on fd 3. As in Dify,
``main`` receives the inputs as ONE object argument (``function main({a, b}) {...}``); an
async ``main`` is awaited.
"""

from __future__ import annotations

SOURCE = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
const RESULT_FD = 3;
const FILENAME = 'code.js';

function userTraceback(err) {
  const stack = String((err && err.stack) || '');
  return stack.split('\n').filter((l) => l.includes(FILENAME)).slice(0, 5)
    .map((l) => '  ' + l.trim().replace(/\(?code\.js:(\d+):\d+\)?/, 'line $1').replace(/^at /, 'in ')).join('\n');
}

function failure(kind, err) {
  const isError = err instanceof Error;
  return { error: {
    kind,
    type: isError ? err.name : typeof err,
    message: String(isError ? err.message : err).slice(0, 2000),
    traceback: isError ? userTraceback(err) : '',
  } };
}

function send(answer, limit) {
  let text;
  try {
    text = JSON.stringify(answer);
  } catch (err) {
    text = JSON.stringify(failure('output', err));
  }
  let buf = Buffer.from(text, 'utf8');
  if (buf.length > limit) {
    const err = new RangeError('the output is ' + buf.length + ' bytes, more than the limit of ' + limit);
    buf = Buffer.from(JSON.stringify(failure('output', err)), 'utf8');
  }
  let offset = 0;
  while (offset < buf.length) {
    try {
      offset += fs.writeSync(RESULT_FD, buf, offset, buf.length - offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
}

async function run() {
  const payload = JSON.parse(fs.readFileSync(0, 'utf8'));
  let answer;
  try {
    const factory = vm.compileFunction(
      payload.code + '\n;return typeof main === "function" ? main : undefined;',
      ['require'],
      { filename: FILENAME },
    );
    const main = factory(require);
    if (typeof main !== 'function') throw new ReferenceError('the code must define a function main(...)');
    answer = { outputs: await main(payload.inputs) };
  } catch (err) {
    answer = failure('user', err);
  }
  send(answer, payload.max_output_bytes);
}

run().then(
  () => process.exit(0),
  (err) => { process.stderr.write(String(err && err.stack) + '\n'); process.exit(70); },
);
"""
