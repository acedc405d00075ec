#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Pushes logs to a Loki-compatible server with real Loki client libraries,
// for Sextant's end-to-end tests (tests/e2e/40_loki_api.py).
//
//   node push.js URL TOKEN RUN_ID BASE_MS [N]
//
// URL is the server's base URL (http://127.0.0.1:PORT), TOKEN an
// X-Auth-Token value (empty: no header), RUN_ID goes into the "run" label,
// BASE_MS is the first entry's timestamp in Unix milliseconds, N the number
// of lines per client (default 120).
//
// Clients, one after the other:
//   winston-protobuf  winston-loki with its defaults: snappy-compressed
//                     protobuf, batching (several batches), labels
//                     {app="winston-e2e", run, level} plus per-entry labels
//                     (component) on some lines
//   winston-single    winston-loki with batching off: one protobuf request
//                     per line
//   winston-json      winston-loki with json: true: JSON bodies whose third
//                     value element is structured metadata (winston's meta
//                     fields, level included, as strings)
//   pino-json         pino-loki (JSON, batching) with structured metadata
//                     from the "meta" key
//
// Timestamps are given explicitly (not replaced by Date.now()) so that the
// test knows each entry's exact nanoseconds. For every entry sent the
// script prints what the server must store, as one JSON document on
// stdout:
//   {"entries": [{"client", "labels": {...}, "ts": "<ns>", "line",
//                 "meta": {...}, "json": <pino's object or null>}],
//    "requests": {client: number of push requests answered 2xx}}
// It exits 0 only when every push request of every client was answered
// 2xx and nothing is left unsent; errors go to stderr.
'use strict'

const http = require('http')
const winston = require('winston')
const LokiTransport = require('winston-loki')
const pino = require('pino')
const { pinoLoki } = require('pino-loki')

const [url, token, runId, baseArg, nArg] = process.argv.slice(2)
if (!url || token === undefined || !runId || !baseArg) {
  console.error('usage: node push.js URL TOKEN RUN_ID BASE_MS [N]')
  process.exit(2)
}
const BASE = Number(baseArg)
const N = nArg ? Number(nArg) : 120
const headers = token ? { 'X-Auth-Token': token } : {}

const entries = []
const requests = {}
const errors = []

// Count every push request and its answer at the HTTP level: winston-loki
// uses http.request, pino-loki the global fetch.
let current = null
const origRequest = http.request
http.request = function (options, cb) {
  const client = current
  const wrapped = res => {
    if (res.statusCode >= 200 && res.statusCode < 300) {
      requests[client] = (requests[client] || 0) + 1
    } else {
      errors.push(`${client}: HTTP ${res.statusCode}`)
    }
    if (cb) cb(res)
  }
  return origRequest.call(http, options, wrapped)
}
const origFetch = globalThis.fetch
let fetchesInFlight = 0
globalThis.fetch = async function (input, init) {
  const client = current
  fetchesInFlight++
  try {
    const res = await origFetch(input, init)
    if (res.ok) {
      requests[client] = (requests[client] || 0) + 1
    } else {
      errors.push(`${client}: HTTP ${res.status}: ${await res.clone().text()}`)
    }
    return res
  } catch (e) {
    errors.push(`${client}: ${e}`)
    throw e
  } finally {
    fetchesInFlight--
  }
}
// pino-loki reports failed pushes only on the console.
const origConsoleError = console.error
console.error = (...args) => {
  errors.push(`console.error: ${args.map(String).join(' ')}`)
  origConsoleError(...args)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function until (cond, what, ms = 20000) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (errors.length) throw new Error(`a push failed while waiting for ${what}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

// Lines with characters that need escaping in JSON and in label text.
function lineText (client, i) {
  const extra = [
    '',
    ' "quoted" and \\backslash\\',
    ' ünïcödé 😀 \ttab',
    ' key=value level=warn duration=15ms',
    ' {"json":"inside","n":1}'
  ][i % 5]
  return `${client} line ${String(i).padStart(4, '0')}${extra}`
}

// winston-loki: labels are {level, ...options.labels, ...entry labels}.
async function runWinston (client, opts, n, tsOffset) {
  current = client
  const transport = new LokiTransport({
    host: url,
    headers,
    labels: { app: opts.app, run: runId },
    json: opts.json,
    batching: opts.batching,
    interval: 0.1,
    replaceTimestamp: false,
    gracefulShutdown: false,
    timeout: 15000,
    // The line is the message alone (winston-loki's default appends the
    // remaining fields as JSON).
    format: winston.format.printf(info => info.message),
    onConnectionError: err => errors.push(`${client}: ${err && err.message}`)
  })
  let logged = 0
  transport.on('logged', () => logged++)
  const logger = winston.createLogger({ level: 'debug', transports: [transport] })
  for (let i = 0; i < n; i++) {
    const level = i % 3 === 2 ? 'warn' : 'info'
    const tsMs = BASE + i * 4 + tsOffset
    const info = { level, message: lineText(client, i), timestamp: tsMs }
    const labels = { app: opts.app, level, run: runId }
    if (i % 4 === 1) {
      info.labels = { component: 'db' }
      labels.component = 'db'
    }
    const meta = {}
    if (opts.json && i % 2 === 0) {
      info.trace_id = `trace-${runId}-${i}`
      info.user = i % 4 === 0 ? 'ana' : 'bo'
    }
    if (opts.json) {
      // winston-loki sends every remaining field of the info object as
      // structured metadata, winston's level included.
      meta.level = level
      if (info.trace_id) {
        meta.trace_id = info.trace_id
        meta.user = info.user
      }
    }
    logger.log(info)
    entries.push({ client, labels, ts: String(tsMs) + '000000', line: info.message, meta, json: null })
    // Several batches: pause now and then so that the batch loop sends.
    if (opts.batching && i % 40 === 39) await sleep(250)
  }
  await until(() => logged === n, `${client}: winston to hand ${n} entries to the transport`)
  const b = transport.batcher
  await until(() => {
    if (b.batch.streams.length || b.batchesSending) {
      return false
    }
    return true
  }, `${client}: every batch sent`)
  await transport.close()
  logger.close()
}

// pino-loki: labels are {level (pino-loki's name), ...options.labels}; the
// line is the pino object as JSON without hostname.
async function runPino (client, n, tsOffset) {
  current = client
  const stream = pinoLoki({
    host: url,
    headers,
    labels: { app: 'pino-e2e', run: runId },
    batching: { interval: 0.1 },
    timeout: 15000
  })
  let nowMs = 0
  const logger = pino({ base: null, level: 'debug', timestamp: () => `,"time":${nowMs}` }, stream)
  for (let i = 0; i < n; i++) {
    nowMs = BASE + i * 4 + tsOffset
    const warn = i % 3 === 2
    const obj = { seq: i }
    let meta = {}
    if (i % 2 === 0) {
      obj.meta = { trace_id: `pino-${runId}-${i}`, attempt: i % 5 }
      meta = { trace_id: `pino-${runId}-${i}`, attempt: String(i % 5) }
    }
    const msg = lineText(client, i)
    if (warn) logger.warn(obj, msg)
    else logger.info(obj, msg)
    const json = { level: warn ? 40 : 30, time: nowMs, seq: i, msg }
    if (obj.meta) json.meta = obj.meta
    entries.push({
      client,
      labels: { app: 'pino-e2e', level: warn ? 'warning' : 'info', run: runId },
      ts: String(nowMs) + '000000',
      line: null,
      meta,
      json
    })
    if (i % 40 === 39) await sleep(250)
  }
  const closed = new Promise(resolve => stream.once('close', resolve))
  stream.end()
  await Promise.race([closed, sleep(20000).then(() => { throw new Error(`${client}: stream did not close`) })])
  await until(() => fetchesInFlight === 0, `${client}: pushes in flight to finish`)
}

async function main () {
  await runWinston('winston-protobuf', { app: 'winston-e2e', json: false, batching: true }, N, 0)
  await runWinston('winston-single', { app: 'winston-e2e-single', json: false, batching: false }, 10, 1)
  await runWinston('winston-json', { app: 'winston-e2e-json', json: true, batching: true }, N, 2)
  await runPino('pino-json', N, 3)
  let code = 0
  if (errors.length) {
    origConsoleError('push.js: errors:\n  ' + errors.join('\n  '))
    code = 1
  }
  for (const c of ['winston-protobuf', 'winston-single', 'winston-json', 'pino-json']) {
    if (!requests[c]) {
      origConsoleError(`push.js: ${c} made no successful request`)
      code = 1
    }
  }
  // Exit once the report is written: stdout to a pipe is asynchronous.
  process.stdout.write(JSON.stringify({ entries, requests }) + '\n', () => process.exit(code))
}

main().catch(err => {
  origConsoleError('push.js: ' + (err && err.stack ? err.stack : err))
  if (errors.length) origConsoleError('push.js: errors:\n  ' + errors.join('\n  '))
  process.exit(1)
})
