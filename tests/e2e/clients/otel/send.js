#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Sends traces, metrics and logs to an OTLP/HTTP server with the real
// OpenTelemetry JavaScript SDK, for Sextant's end-to-end tests
// (tests/e2e/53_otel_js.py).
//
//   node send.js URL MODE RUN_TAG
//
// URL is the server's base URL (http://127.0.0.1:PORT); the exporters post
// to URL/v1/traces, URL/v1/metrics and URL/v1/logs. MODE picks the
// exporters:
//   proto  @opentelemetry/exporter-{trace,metrics,logs}-otlp-proto
//          (application/x-protobuf), gzip-compressed
//   json   @opentelemetry/exporter-{trace,metrics,logs}-otlp-http
//          (application/json, OTLP's JSON encoding), uncompressed
// RUN_TAG keeps runs apart: it is in service.instance.id
// ("<service>-<RUN_TAG>") and in the resource attribute sextant.e2e.run.
//
// What is sent, by two services with their own resources and providers:
//   frontend  SERVER "GET /checkout" (the root)
//             CLIENT "POST /api/checkout" (its child), whose context goes
//             to checkout as a W3C traceparent header
//   checkout  SERVER "POST /api/checkout" (child of the frontend CLIENT
//             span, through the extracted traceparent)
//             CLIENT "SELECT orders" (db.system=postgresql, child of the
//             checkout SERVER span)
//             INTERNAL "charge card" (child of the SERVER span): status
//             ERROR, an exception event and a payment.retry event, and a
//             link to "SELECT orders"
// Span, event and log times are explicit (HrTime), so the test knows every
// nanosecond; the trace starts 20 s before now.
//   metrics   frontend: counter app.requests (unit 1), up-down counter
//             app.active_requests ({request}, integer), histogram
//             app.request.duration (ms, buckets 10 50 100 500), observable
//             gauges app.memory.usage (By) and app.cpu.utilization (1),
//             histogram app.payload.size (By) aggregated as an exponential
//             histogram (a view);
//             checkout: counter orders.placed ({order}, integer). Cumulative
//             temporality, exported by MeterProvider.forceFlush() (and
//             again by shutdown()).
//   logs      records with severity, body (text, and one map), attributes
//             and the trace and span ids of a span (the record's context).
//
// On stdout, one JSON document: the trace id, every span as the SDK made
// it (ids, parent, name, service, kind, flags, times, status, attributes,
// events, links), the log records, the metric values,
// every HTTP request the exporters made (path, content type and encoding,
// status) and every export result. Exit 0 only when every export reported
// SUCCESS, every HTTP answer was 2xx and the SDK logged no warning or error
// (a partial success is logged as a warning); otherwise the reasons go to
// stderr and the exit code is 1.
'use strict'

const http = require('http')
const { syncBuiltinESMExports } = require('module')
const api = require('@opentelemetry/api')
const { context, trace, diag, DiagLogLevel, SpanKind, SpanStatusCode, ValueType } = api
const { W3CTraceContextPropagator, ExportResultCode } = require('@opentelemetry/core')
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources')
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { AggregationType, MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics')
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs')
const { SeverityNumber } = require('@opentelemetry/api-logs')
const { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } = require('@opentelemetry/semantic-conventions')

const [baseUrl, mode, tag] = process.argv.slice(2)
if (!baseUrl || !['proto', 'json'].includes(mode) || !tag) {
  console.error('usage: node send.js URL proto|json RUN_TAG')
  process.exit(2)
}

const failures = []
const requests = []
const exportResults = []

// ---- Watching the SDK: diag, HTTP and export results ----

// The SDK reports partial successes and unreadable answers only through
// its diag logger.
diag.setLogger({
  error: (...a) => failures.push('diag error: ' + a.map(String).join(' ')),
  warn: (...a) => failures.push('diag warn: ' + a.map(String).join(' ')),
  info: () => {},
  debug: () => {},
  verbose: () => {}
}, DiagLogLevel.WARN)

// Every HTTP request of the exporters. They load http with import(), so the
// ES module view of the builtin is synced after the patch.
const origRequest = http.request
http.request = function (url, options, cb) {
  const rec = {
    path: url instanceof URL ? url.pathname : String(url),
    contentType: null,
    contentEncoding: null,
    status: null
  }
  requests.push(rec)
  const req = origRequest.call(http, url, options, res => {
    // Headers as sent (Content-Encoding is set after the request is made).
    rec.contentType = req.getHeader('content-type') || null
    rec.contentEncoding = req.getHeader('content-encoding') || null
    rec.status = res.statusCode
    if (res.statusCode < 200 || res.statusCode > 299) {
      failures.push(`HTTP ${res.statusCode} for POST ${rec.path} (${rec.contentType})`)
    }
    if (cb) cb(res)
  })
  req.on('error', e => failures.push(`POST ${rec.path}: ${e}`))
  return req
}
syncBuiltinESMExports()

// Exporters log nothing when an export fails and the processors swallow the
// result: wrap export() to see every result.
function watch (signal, exporter) {
  const orig = exporter.export.bind(exporter)
  exporter.export = (items, done) => orig(items, result => {
    const ok = result.code === ExportResultCode.SUCCESS
    exportResults.push({ signal, ok, items: Array.isArray(items) ? items.length : 1 })
    if (!ok) {
      const e = result.error
      failures.push(`${signal} export failed: ${e ? (e.stack || e) : 'no error given'}` +
        (e && e.data ? ` (answer: ${e.data})` : ''))
    }
    done(result)
  })
  return exporter
}

const pkgs = mode === 'proto'
  ? {
      trace: require('@opentelemetry/exporter-trace-otlp-proto'),
      metrics: require('@opentelemetry/exporter-metrics-otlp-proto'),
      logs: require('@opentelemetry/exporter-logs-otlp-proto')
    }
  : {
      trace: require('@opentelemetry/exporter-trace-otlp-http'),
      metrics: require('@opentelemetry/exporter-metrics-otlp-http'),
      logs: require('@opentelemetry/exporter-logs-otlp-http')
    }
const compression = mode === 'proto' ? 'gzip' : 'none'
const base = baseUrl.replace(/\/+$/, '')

// ---- Times ----

const NS = 1000000000n
const T0 = (BigInt(Date.now()) - 20000n) * 1000000n + 123456n // ns, not on a ms boundary
const at = offMs => {
  const ns = T0 + BigInt(Math.round(offMs * 1e6))
  return { hr: [Number(ns / NS), Number(ns % NS)], ns: ns.toString() }
}

// ---- Services ----

function service (name, version) {
  const resource = defaultResource().merge(resourceFromAttributes({
    [ATTR_SERVICE_NAME]: name,
    [ATTR_SERVICE_VERSION]: version,
    'service.instance.id': `${name}-${tag}`,
    'deployment.environment': 'e2e',
    'sextant.e2e.run': tag
  }))
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(watch('traces',
      new pkgs.trace.OTLPTraceExporter({ url: `${base}/v1/traces`, compression })))]
  })
  const meterProvider = new MeterProvider({
    resource,
    views: [{
      instrumentName: 'app.payload.size',
      aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM }
    }],
    readers: [new PeriodicExportingMetricReader({
      exporter: watch('metrics', new pkgs.metrics.OTLPMetricExporter({
        url: `${base}/v1/metrics`, compression
      })),
      exportIntervalMillis: 3600000 // only forceFlush() and shutdown() export
    })]
  })
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({
      exporter: watch('logs', new pkgs.logs.OTLPLogExporter({ url: `${base}/v1/logs`, compression }))
    })]
  })
  return {
    name,
    resource,
    tracerProvider,
    meterProvider,
    loggerProvider,
    tracer: tracerProvider.getTracer('sextant-e2e', '1.0.0'),
    meter: meterProvider.getMeter('sextant-e2e', '1.0.0'),
    logger: loggerProvider.getLogger('sextant-e2e', '1.0.0')
  }
}

const frontend = service('frontend', '1.4.2')
const checkout = service('checkout', '2.0.1')
const propagator = new W3CTraceContextPropagator()

const hrNs = t => (BigInt(t[0]) * NS + BigInt(t[1])).toString()

// What the SDK made of a span (after end()), as the test compares it.
const spans = {}
function record (key, svc, span) {
  const sc = span.spanContext()
  const parent = span.parentSpanContext
  spans[key] = {
    service: svc.name,
    name: span.name,
    spanId: sc.spanId,
    traceFlags: sc.traceFlags,
    parentSpanId: parent ? parent.spanId : '',
    parentIsRemote: !!(parent && parent.isRemote),
    kind: SpanKind[span.kind],
    startNs: hrNs(span.startTime),
    endNs: hrNs(span.endTime),
    status: { code: SpanStatusCode[span.status.code], message: span.status.message || '' },
    attributes: span.attributes,
    events: span.events.map(e => ({ name: e.name, tsNs: hrNs(e.time), attributes: e.attributes || {} })),
    links: span.links.map(l => ({
      traceId: l.context.traceId, spanId: l.context.spanId, attributes: l.attributes || {}
    }))
  }
}

const logs = []
function emit (svc, spanKey, span, when, severityNumber, severityText, body, attributes) {
  svc.logger.emit({
    timestamp: when.hr,
    severityNumber,
    severityText,
    body,
    attributes,
    context: trace.setSpan(context.active(), span)
  })
  logs.push({ service: svc.name, span: spanKey, spanId: span.spanContext().spanId, tsNs: when.ns,
    severityNumber, severityText, body, attributes })
}

// ---- The trace ----

function buildTrace () {
  const tA = [at(0), at(120)]
  const tB = [at(5), at(110)]
  const tC = [at(10), at(105)]
  const tD = [at(20), at(45)]
  const tE = [at(50), at(100)]

  // frontend
  const root = frontend.tracer.startSpan('GET /checkout', {
    kind: SpanKind.SERVER,
    startTime: tA[0].hr,
    attributes: {
      'http.request.method': 'GET',
      'http.route': '/checkout',
      'url.path': '/checkout',
      'url.scheme': 'http',
      'http.response.status_code': 200,
      'user_agent.original': 'e2e-browser/1.0'
    }
  })
  const rootCtx = trace.setSpan(context.active(), root)
  const call = frontend.tracer.startSpan('POST /api/checkout', {
    kind: SpanKind.CLIENT,
    startTime: tB[0].hr,
    attributes: {
      'http.request.method': 'POST',
      'server.address': 'checkout',
      'server.port': 8080,
      'url.full': 'http://checkout:8080/api/checkout',
      'http.response.status_code': 200
    }
  }, rootCtx)
  emit(frontend, 'root', root, at(2), SeverityNumber.INFO, 'INFO', `checkout started ${tag}`,
    { 'http.route': '/checkout', 'cart.items': 2 })

  // The call's context crosses to checkout as HTTP headers.
  const headers = {}
  propagator.inject(trace.setSpan(context.active(), call), headers, api.defaultTextMapSetter)
  const remoteCtx = propagator.extract(context.active(), headers, api.defaultTextMapGetter)

  // checkout
  const server = checkout.tracer.startSpan('POST /api/checkout', {
    kind: SpanKind.SERVER,
    startTime: tC[0].hr,
    attributes: {
      'http.request.method': 'POST',
      'http.route': '/api/checkout',
      'http.response.status_code': 200,
      'checkout.retry': false,
      'cart.total': 59.9,
      'cart.skus': ['sku-1', 'sku-2']
    }
  }, remoteCtx)
  const serverCtx = trace.setSpan(context.active(), server)
  const db = checkout.tracer.startSpan('SELECT orders', {
    kind: SpanKind.CLIENT,
    startTime: tD[0].hr,
    attributes: {
      'db.system': 'postgresql',
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'db.operation.name': 'SELECT',
      'db.collection.name': 'orders',
      'db.query.text': 'SELECT id, total FROM orders WHERE user_id = $1',
      'server.address': 'db',
      'server.port': 5432
    }
  }, serverCtx)
  emit(checkout, 'db', db, at(30), SeverityNumber.DEBUG, 'DEBUG', `order lookup ${tag}`,
    { 'db.collection.name': 'orders', rows: 1 })
  // A structured (map) body, keys not in sorted order.
  emit(checkout, 'db', db, at(40), SeverityNumber.INFO, 'INFO',
    { run: tag, order: { total: 59.9, id: 'o-1', items: ['sku-1', 'sku-2'] }, event: 'order.loaded' },
    { 'db.collection.name': 'orders' })
  db.end(tD[1].hr)

  const charge = checkout.tracer.startSpan('charge card', {
    kind: SpanKind.INTERNAL,
    startTime: tE[0].hr,
    attributes: { 'payment.provider': 'acme' },
    links: [{ context: db.spanContext(), attributes: { 'link.reason': 'same order' } }]
  }, serverCtx)
  charge.addEvent('payment.retry', { attempt: 2 }, at(60).hr)
  charge.recordException(new Error('card declined'), at(90).hr)
  charge.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' })
  emit(checkout, 'charge', charge, at(91), SeverityNumber.ERROR, 'ERROR', `card declined ${tag}`,
    { 'payment.provider': 'acme', amount: 59.9, declined: true })
  charge.end(tE[1].hr)
  server.end(tC[1].hr)

  emit(frontend, 'call', call, at(108), SeverityNumber.WARN, 'WARN', `checkout answered late ${tag}`,
    { 'http.response.status_code': 200 })
  call.end(tB[1].hr)
  root.end(tA[1].hr)

  record('root', frontend, root)
  record('call', frontend, call)
  record('server', checkout, server)
  record('db', checkout, db)
  record('charge', checkout, charge)
  const traceId = root.spanContext().traceId
  for (const s of [call, server, db, charge]) {
    if (s.spanContext().traceId !== traceId) failures.push(`span ${s.name}: another trace id`)
  }
  return traceId
}

// ---- Metrics ----

function buildMetrics () {
  const m = frontend.meter
  const requests = m.createCounter('app.requests', { unit: '1', description: 'Requests handled' })
  requests.add(3, { 'http.route': '/checkout', 'http.response.status_code': 200 })
  requests.add(1, { 'http.route': '/checkout', 'http.response.status_code': 502 })
  requests.add(2, { 'http.route': '/cart', 'http.response.status_code': 200 })
  // Integer instruments export asInt, the others asDouble.
  const active = m.createUpDownCounter('app.active_requests', { unit: '{request}', valueType: ValueType.INT })
  active.add(5, { 'http.route': '/checkout' })
  active.add(-2, { 'http.route': '/checkout' })
  const duration = m.createHistogram('app.request.duration', {
    unit: 'ms',
    description: 'Request duration',
    advice: { explicitBucketBoundaries: [10, 50, 100, 500] }
  })
  for (const v of [5, 20, 30, 120, 700]) duration.record(v, { 'http.route': '/checkout' })
  const payload = m.createHistogram('app.payload.size', { unit: 'By' }) // exponential (the view)
  for (const v of [0, 100, 200, 400, 800]) payload.record(v, { 'http.route': '/checkout' })
  const mem = m.createObservableGauge('app.memory.usage', { unit: 'By' })
  mem.addCallback(r => r.observe(1048576, { pool: 'heap' }))
  const cpu = m.createObservableGauge('app.cpu.utilization', { unit: '1' })
  cpu.addCallback(r => r.observe(0.25))
  const orders = checkout.meter.createCounter('orders.placed', { unit: '{order}', valueType: ValueType.INT })
  orders.add(7, { 'payment.provider': 'acme' })
  return {
    // name: [labels (attributes as labels), value]
    'app_requests_total': [
      [{ http_route: '/checkout', http_response_status_code: '200' }, 3],
      [{ http_route: '/checkout', http_response_status_code: '502' }, 1],
      [{ http_route: '/cart', http_response_status_code: '200' }, 2]],
    'app_active_requests': [[{ http_route: '/checkout' }, 3]],
    'app_request_duration_milliseconds': {
      labels: { http_route: '/checkout' },
      buckets: { 10: 1, 50: 3, 100: 3, 500: 4, '+Inf': 5 },
      count: 5,
      sum: 875
    },
    'app_payload_size_bytes': { labels: { http_route: '/checkout' }, count: 5, sum: 1500 },
    'app_memory_usage_bytes': [[{ pool: 'heap' }, 1048576]],
    'app_cpu_utilization_ratio': [[{}, 0.25]],
    'orders_placed_total': [[{ payment_provider: 'acme' }, 7]]
  }
}

// ---- Main ----

async function main () {
  const traceId = buildTrace()
  const metrics = buildMetrics()
  for (const svc of [frontend, checkout]) {
    await svc.tracerProvider.forceFlush()
    await svc.meterProvider.forceFlush()
    await svc.loggerProvider.forceFlush()
  }
  for (const svc of [frontend, checkout]) {
    await svc.tracerProvider.shutdown()
    await svc.meterProvider.shutdown()
    await svc.loggerProvider.shutdown()
  }
  const bySignal = {}
  for (const r of exportResults) {
    bySignal[r.signal] = (bySignal[r.signal] || 0) + (r.ok ? 1 : 0)
  }
  // traces and logs: one export per service; metrics: forceFlush and
  // shutdown both export, per service.
  for (const [signal, want] of [['traces', 2], ['logs', 2], ['metrics', 4]]) {
    if ((bySignal[signal] || 0) < want) {
      failures.push(`${signal}: ${bySignal[signal] || 0} successful exports, want ${want}`)
    }
  }
  for (const r of requests) {
    if (r.status === null) failures.push(`POST ${r.path}: no answer`)
  }
  process.stdout.write(JSON.stringify({
    mode,
    tag,
    traceId,
    sdkVersion: frontend.resource.attributes['telemetry.sdk.version'],
    spans,
    logs,
    metrics,
    requests,
    exportResults,
    failures
  }) + '\n')
  if (failures.length) {
    for (const f of failures) console.error(f)
    process.exitCode = 1
  }
}

main().catch(e => {
  console.error(`send.js: ${e && e.stack ? e.stack : e}`)
  for (const f of failures) console.error(f)
  process.exitCode = 1
})
