/* SPDX-License-Identifier: Apache-2.0 */
/* sx-logload: a Loki push load generator for benchmarks. It invents a
 * Kubernetes cluster's container logs (nginx, ingress-nginx and Apache
 * access logs, CoreDNS query logs, JSON application logs, logfmt logs of
 * Go services, Spring Boot logs with Java stack traces) over --streams
 * streams labelled as Promtail labels them, and POSTs them as Loki's JSON
 * push body to /loki/api/v1/push from --concurrency threads, each over its
 * own keep-alive connection and owning its own streams, so every stream's
 * entries arrive in timestamp order. Lines are built from templates with a
 * splitmix64 PRNG while sending (see --dry-run for what that costs); the
 * client's own CPU time is reported beside the rates. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>

#include <curl/curl.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* Longest line a template can produce (a stack trace with 40 frames). */
#define MAX_LINE 8192

typedef struct str {
    const char *p;
    uint32_t n;
} str_t;
#define S(x) {x, sizeof(x) - 1}

/* ---- Options ---- */

typedef struct opts {
    const char *url;
    uint32_t streams;            /* number of streams (default 1000) */
    uint32_t nodes;              /* nodes = Promtails; one push holds one node's streams */
    uint64_t bytes;              /* raw line bytes to send; 0 = no limit */
    uint64_t lines;              /* lines to send; 0 = no limit */
    double seconds;              /* stop sending after this; 0 = no limit */
    uint32_t concurrency;        /* sender threads = connections */
    uint32_t batch_min, batch_max; /* lines per push request */
    int64_t end_ms;              /* newest timestamp (default: now) */
    int64_t span_ms;             /* timestamps spread over [end - span, end] */
    const char *needle;          /* rare token; "" for none */
    uint32_t needle_lines;       /* needle lines in all */
    uint32_t needle_streams;     /* streams that get them */
    double needle_at;            /* where in the volume (0..1) they go */
    bool gzip;
    int gzip_level;
    bool dry_run;                /* generate only */
    uint32_t print_lines;        /* print this many lines and exit */
    uint64_t seed;
    uint32_t max_errors;
    long timeout_s;
    double progress_s;
    struct curl_slist *headers;
} opts_t;

/* ---- Random numbers ---- */

/* splitmix64: fast, one word of state per thread. */
static inline uint64_t rnd_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rnd_next(s) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double rnd_unit_f(uint64_t *s)
{
    return (double)(rnd_next(s) >> 11) * 0x1.0p-53;
}

/* Skewed towards 0: small values are much more likely (users, IPs, ids). */
static inline uint64_t rnd_skew(uint64_t *s, uint64_t n)
{
    return rnd_below(s, rnd_below(s, n) + 1);
}

/* Latency-like: mostly small, with a long tail (x10 at 10%, x100 at 1%). */
static inline uint64_t rnd_latency(uint64_t *s, uint64_t base)
{
    uint64_t r = rnd_below(s, 1000), v = 1 + rnd_below(s, base);
    if (r < 10)
        v *= 100;
    else if (r < 100)
        v *= 10;
    return v;
}

/* ---- Small writers: each appends to p and returns the new end ---- */

static inline char *put(char *p, str_t s)
{
    memcpy(p, s.p, s.n);
    return p + s.n;
}

static inline char *put_c(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_u(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* v with exactly w digits (zero padded). */
static inline char *put_uw(char *p, uint64_t v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + w;
}

static inline char *put_hex(char *p, uint64_t v, int digits)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        p[i] = hx[v & 15];
        v >>= 4;
    }
    return p + digits;
}

/* Milliseconds as seconds with three decimals: 12 -> "0.012". */
static inline char *put_secs3(char *p, uint64_t ms)
{
    p = put_u(p, ms / 1000);
    *p++ = '.';
    return put_uw(p, ms % 1000, 3);
}

/* A message with '#' standing for a random id and '@' for a small number
 * (source line, thread number). */
static inline char *put_msg(char *p, str_t m, uint64_t *rng)
{
    for (uint32_t i = 0; i < m.n; i++) {
        if (m.p[i] == '#')
            p = put_u(p, 1 + rnd_skew(rng, 200000));
        else if (m.p[i] == '@')
            p = put_u(p, 1 + rnd_below(rng, 1200));
        else
            *p++ = m.p[i];
    }
    return p;
}

/* A source location: t with '@' replaced by line. */
static inline char *put_loc(char *p, str_t t, uint64_t line)
{
    for (uint32_t i = 0; i < t.n; i++) {
        if (t.p[i] == '@')
            p = put_u(p, line);
        else
            *p++ = t.p[i];
    }
    return p;
}

/* The call site of a message: each message of each app is logged from one
 * place, as in real code, so file and line follow from the key. */
static inline char *put_caller(char *p, const str_t *files, size_t nfiles, uint32_t key)
{
    uint32_t h = key * 2654435761u;
    return put_loc(p, files[(h >> 16) % nfiles], 20 + (h >> 8) % 1180);
}

/* ---- Time ---- */

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* The second of the last formatted timestamp, in the shapes logs use. */
typedef struct tcache {
    int64_t sec;
    char iso[19];  /* 2024-10-10T13:55:36 */
    char clf[26];  /* 10/Oct/2024:13:55:36 +0000 */
} tcache_t;

static void tcache_set(tcache_t *c, int64_t sec)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (c->sec == sec)
        return;
    c->sec = sec;
    int64_t days = sec / 86400, rem = sec % 86400;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned hh = (unsigned)(rem / 3600), mi = (unsigned)(rem / 60 % 60), ss = (unsigned)(rem % 60);
    char *p = c->iso;
    p = put_uw(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_uw(p, m, 2);
    *p++ = '-';
    p = put_uw(p, d, 2);
    *p++ = 'T';
    p = put_uw(p, hh, 2);
    *p++ = ':';
    p = put_uw(p, mi, 2);
    *p++ = ':';
    put_uw(p, ss, 2);
    p = c->clf;
    p = put_uw(p, d, 2);
    *p++ = '/';
    memcpy(p, mon[m - 1], 3);
    p += 3;
    *p++ = '/';
    p = put_uw(p, (uint64_t)y, 4);
    *p++ = ':';
    memcpy(p, c->iso + 11, 8);
    p += 8;
    memcpy(p, " +0000", 6);
}

/* ---- Vocabulary ---- */

static const str_t methods[] = {S("GET"), S("GET"), S("GET"), S("GET"), S("GET"), S("GET"),
                                S("POST"), S("POST"), S("PUT"), S("DELETE"), S("PATCH"),
                                S("HEAD")};

/* Paths; '#' is a random id. */
static const str_t paths[] = {
    S("/api/v1/products/#"), S("/api/v1/products"), S("/api/v1/users/#/orders"),
    S("/api/v1/orders/#"), S("/api/v1/cart"), S("/api/v1/cart/items/#"),
    S("/api/v2/search"), S("/checkout/#/confirm"), S("/static/js/app.#.js"),
    S("/static/css/main.#.css"), S("/images/p/#.jpg"), S("/images/p/#_thumb.webp"),
    S("/healthz"), S("/metrics"), S("/favicon.ico"), S("/login"), S("/logout"),
    S("/account/settings"), S("/api/v1/recommendations?user=#"), S("/api/v1/reviews?product=#&page=@"),
    S("/graphql"), S("/api/v1/inventory/sku-#"), S("/"), S("/robots.txt"),
    S("/wp-login.php"), S("/api/v1/payments/#/capture"), S("/api/v1/sessions"),
};

static const str_t words[] = {
    S("shoes"), S("laptop"), S("coffee"), S("phone"), S("jacket"), S("garden"), S("lamp"),
    S("camera"), S("bike"), S("watch"), S("tent"), S("desk"), S("chair"), S("headphones"),
    S("keyboard"), S("monitor"), S("sofa"), S("mug"), S("blender"), S("printer"), S("router"),
    S("backpack"), S("sunglasses"), S("boots"), S("guitar"), S("piano"), S("book"), S("tablet"),
};

static const str_t user_agents[] = {
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"),
    S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92"),
    S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"),
    S("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"),
    S("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36"),
    S("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"),
    S("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    S("kube-probe/1.29"), S("Prometheus/2.53.0"), S("curl/8.5.0"), S("Go-http-client/1.1"),
    S("okhttp/4.12.0"), S("python-requests/2.32.3"), S("axios/1.7.2"),
    S("Apache-HttpClient/4.5.14 (Java/17.0.11)"),
};

static const str_t referers[] = {
    S("-"), S("-"), S("-"), S("https://shop.example.com/"), S("https://shop.example.com/cart"),
    S("https://shop.example.com/products"), S("https://www.google.com/"),
    S("https://shop.example.com/checkout"), S("https://m.example.com/"),
};

/* Status codes with their weight in 1/1000. */
static const struct {
    uint16_t code;
    uint16_t w;
} statuses[] = {
    {200, 790}, {201, 30}, {204, 20}, {301, 10}, {302, 20}, {304, 40}, {400, 20}, {401, 10},
    {403, 8},   {404, 30}, {429, 4},  {499, 5},  {500, 6},  {502, 3},  {503, 3},  {504, 1},
};

/* Levels with their weight in 1/1000: info, debug, warn, error. */
enum { L_INFO, L_DEBUG, L_WARN, L_ERROR };
static const str_t level_lc[] = {S("info"), S("debug"), S("warn"), S("error")};
static const str_t level_java[] = {S(" INFO"), S("DEBUG"), S(" WARN"), S("ERROR")};

static int pick_level(uint64_t *rng)
{
    uint64_t r = rnd_below(rng, 1000);
    return r < 40 ? L_ERROR : r < 120 ? L_WARN : r < 220 ? L_DEBUG : L_INFO;
}

static const str_t json_msgs[4][12] = {
    {S("request completed"), S("order # created"), S("cart # updated"), S("user logged in"),
     S("payment # authorized"), S("inventory reserved for order #"), S("cache hit for product #"),
     S("session refreshed"), S("search returned # results"), S("email queued for user #"),
     S("price recalculated for sku #"), S("feature flag evaluated")},
    {S("cache miss for product #"), S("db query executed"), S("acquired connection from pool"),
     S("publishing event to topic orders"), S("jwt validated"), S("loaded # rows"),
     S("request headers parsed"), S("span started"), S("config reloaded"),
     S("dns lookup done"), S("tls session resumed"), S("retry budget ok")},
    {S("slow query took # ms"), S("retrying upstream call, attempt #"),
     S("rate limit approaching for client #"), S("deprecated API version used"),
     S("connection pool at #% capacity"), S("request body larger than # bytes"),
     S("circuit breaker half-open"), S("stale cache entry served"), S("clock skew detected"),
     S("queue depth # above threshold"), S("token expires in # s"), S("fallback price used")},
    {S("failed to charge card: card_declined"), S("upstream timeout after # ms"),
     S("database connection reset by peer"), S("failed to publish event: broker not available"),
     S("validation failed for field email"), S("unexpected EOF reading request body"),
     S("order # not found"), S("permission denied for user #"), S("deadlock detected, rolling back"),
     S("panic recovered: index out of range"), S("failed to decode payload"),
     S("context deadline exceeded")},
};

static const str_t json_callers[] = {
    S("handler/orders.go:@"), S("handler/cart.go:@"), S("service/payment.go:@"),
    S("store/postgres.go:@"), S("middleware/auth.go:@"), S("cache/redis.go:@"),
    S("events/publisher.go:@"), S("search/query.go:@"),
};

static const str_t logfmt_msgs[4][10] = {
    {S("Completed loading of configuration file"), S("Server is ready to receive web requests."),
     S("compaction completed"), S("job finished"), S("request"), S("flushing stream"),
     S("Head GC completed"), S("checkpoint done"), S("uploaded block"), S("scrape completed")},
    {S("fetching target"), S("received request"), S("cache miss"), S("series churn"),
     S("querying ingester"), S("wal segment opened"), S("lease renewed"), S("request"),
     S("job picked"), S("token refreshed")},
    {S("Error on ingesting samples that are too old"), S("slow request"), S("retrying job"),
     S("queue is full, dropping"), S("failed to flush chunk"), S("request"),
     S("high memory usage"), S("leader election lost"), S("rate limited"), S("slow query")},
    {S("Error sending alert"), S("Scrape failed"), S("job failed"), S("error querying store"),
     S("request"), S("context deadline exceeded"), S("failed to write WAL segment"),
     S("connection refused"), S("panic in handler"), S("out of memory")},
};

static const str_t logfmt_callers[] = {
    S("main.go:@"), S("scrape.go:@"), S("manager.go:@"), S("head.go:@"), S("compact.go:@"),
    S("worker.go:@"), S("queue.go:@"), S("http.go:@"), S("dispatch.go:@"), S("flush.go:@"),
};

static const str_t components[] = {
    S("web"), S("\"scrape manager\""), S("ingester"), S("querier"), S("dispatcher"),
    S("worker"), S("tsdb"), S("notifier"), S("distributor"), S("compactor"),
};

static const str_t queues[] = {S("emails"), S("thumbnails"), S("reports"), S("exports"),
                               S("billing"), S("reindex")};

static const str_t java_threads[] = {
    S("nio-8080-exec-@"), S("main"), S("scheduling-1"), S("kafka-consumer-@"),
    S("HikariPool-1 housekeeper"), S("task-@"), S("http-nio-8080-Acceptor"),
};

static const str_t java_loggers[] = {
    S("c.e.billing.InvoiceService               "), S("c.e.billing.web.InvoiceController      "),
    S("o.h.engine.jdbc.spi.SqlExceptionHelper  "), S("c.e.inventory.StockReservationListener  "),
    S("o.s.k.l.KafkaMessageListenerContainer   "), S("com.example.reporting.ReportJob        "),
    S("o.s.web.servlet.DispatcherServlet       "), S("c.e.common.http.RequestLoggingFilter   "),
};

static const str_t java_msgs[4][8] = {
    {S("Created invoice # for customer #"), S("Processing batch of # records"),
     S("Reserved # units of SKU-#"), S("Completed initialization in # ms"),
     S("Report # generated in # ms"), S("GET /api/invoices/# completed with 200"),
     S("Committed offsets for partition #"), S("Scheduled job finished: # items")},
    {S("Fetching customer #"), S("Executing query with # parameters"),
     S("Cache lookup for key invoice:#"), S("Received message with offset #"),
     S("Mapped request to handler method"), S("Opened session #"),
     S("Resolved tax rate for region #"), S("Bean created")},
    {S("SQL Warning Code: 0, SQLState: 01000"), S("Retrying message # after failure"),
     S("Slow invoice rendering: # ms"), S("Consumer lag on partition #"),
     S("HikariPool-1 - Thread starvation or clock leap detected"),
     S("Deprecated endpoint /api/v1/invoices called"), S("Stock for SKU-# below minimum"),
     S("Request took # ms")},
    {S("Failed to create invoice for customer #"), S("Servlet.service() for servlet [dispatcherServlet] threw exception"),
     S("Error processing message at offset #"), S("HikariPool-1 - Connection is not available, request timed out after 30000ms."),
     S("Could not render report #"), S("Transaction rolled back"),
     S("Unexpected error in scheduled task"), S("Kafka send failed for record #")},
};

static const str_t java_exceptions[] = {
    S("java.lang.NullPointerException: Cannot invoke \"com.example.billing.Customer.getId()\" because \"customer\" is null"),
    S("java.lang.IllegalStateException: Invoice # already finalized"),
    S("org.springframework.dao.DataIntegrityViolationException: could not execute statement; SQL [n/a]; constraint [invoice_number_key]"),
    S("java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms."),
    S("org.apache.kafka.common.errors.TimeoutException: Expiring 12 record(s) for orders-3: 30001 ms has passed since batch creation"),
    S("java.net.SocketTimeoutException: Read timed out"),
    S("com.fasterxml.jackson.databind.exc.MismatchedInputException: Cannot deserialize value of type `java.math.BigDecimal` from String \"n/a\""),
};

static const str_t java_frames[] = {
    S("com.example.billing.InvoiceService.create(InvoiceService.java:@)"),
    S("com.example.billing.InvoiceService$$SpringCGLIB$$0.create(<generated>)"),
    S("com.example.billing.web.InvoiceController.post(InvoiceController.java:@)"),
    S("com.example.inventory.StockReservationListener.onMessage(StockReservationListener.java:@)"),
    S("org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept(CglibAopProxy.java:713)"),
    S("org.springframework.transaction.interceptor.TransactionInterceptor.invoke(TransactionInterceptor.java:119)"),
    S("org.springframework.transaction.interceptor.TransactionAspectSupport.invokeWithinTransaction(TransactionAspectSupport.java:392)"),
    S("org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)"),
    S("org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)"),
    S("org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:979)"),
    S("org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:150)"),
    S("org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.doInvokeOnMessage(KafkaMessageListenerContainer.java:2800)"),
    S("org.hibernate.engine.jdbc.internal.ResultSetReturnImpl.executeUpdate(ResultSetReturnImpl.java:197)"),
    S("org.hibernate.persister.entity.AbstractEntityPersister.insert(AbstractEntityPersister.java:3240)"),
    S("com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)"),
    S("com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:100)"),
    S("jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)"),
    S("org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:205)"),
    S("org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:149)"),
    S("org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)"),
    S("org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)"),
    S("org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1736)"),
    S("java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1144)"),
    S("java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:642)"),
    S("java.base/java.lang.Thread.run(Thread.java:1583)"),
    S("java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)"),
    S("com.fasterxml.jackson.databind.ObjectMapper.readValue(ObjectMapper.java:3741)"),
};

static const str_t dns_names[] = {
    S("api.shop.svc.cluster.local."), S("postgres.shop.svc.cluster.local."),
    S("redis-master.shop.svc.cluster.local."), S("kafka-0.kafka-headless.data.svc.cluster.local."),
    S("payments.payments.svc.cluster.local."), S("auth.auth.svc.cluster.local."),
    S("www.googleapis.com."), S("s3.eu-west-1.amazonaws.com."), S("loki.monitoring.svc.cluster.local."),
    S("api.stripe.com."),
};
static const str_t dns_types[] = {S("A"), S("A"), S("A"), S("AAAA"), S("AAAA"), S("SRV"), S("PTR")};

/* ---- Streams ---- */

enum fmt { F_INGRESS, F_NGINX, F_APACHE, F_COREDNS, F_JSON, F_LOGFMT, F_JAVA };
static const char *const fmt_names[] = {"ingress-nginx", "nginx", "apache", "coredns",
                                        "json", "logfmt", "java"};

/* A workload: its pods get `share` parts of the streams, and each of its
 * streams writes `weight` parts of the lines (busy ingress, quiet
 * exporters). */
typedef struct app {
    const char *ns, *name, *container;
    uint8_t fmt;
    uint8_t share;
    uint16_t weight;
} app_t;

static const app_t apps[] = {
    {"ingress-nginx", "ingress-nginx", "controller", F_INGRESS, 3, 120},
    {"shop", "web", "nginx", F_NGINX, 6, 30},
    {"shop", "api", "api", F_JSON, 8, 40},
    {"shop", "cart", "cart", F_JSON, 5, 20},
    {"shop", "checkout", "checkout", F_JSON, 5, 20},
    {"shop", "catalog", "catalog", F_JSON, 5, 25},
    {"payments", "payments", "payments", F_JSON, 4, 20},
    {"payments", "fraud-detector", "detector", F_JSON, 2, 10},
    {"auth", "auth", "auth", F_JSON, 4, 25},
    {"search", "search", "search", F_JSON, 4, 20},
    {"notifications", "notifier", "notifier", F_JSON, 3, 8},
    {"legacy", "portal", "httpd", F_APACHE, 3, 15},
    {"kube-system", "coredns", "coredns", F_COREDNS, 2, 30},
    {"monitoring", "prometheus", "prometheus", F_LOGFMT, 1, 15},
    {"monitoring", "alertmanager", "alertmanager", F_LOGFMT, 1, 5},
    {"monitoring", "grafana", "grafana", F_LOGFMT, 1, 10},
    {"monitoring", "loki", "loki", F_LOGFMT, 2, 20},
    {"monitoring", "node-exporter", "node-exporter", F_LOGFMT, 4, 2},
    {"platform", "scheduler", "worker", F_LOGFMT, 6, 15},
    {"platform", "ingest-worker", "worker", F_LOGFMT, 6, 20},
    {"billing", "billing-service", "app", F_JAVA, 5, 20},
    {"billing", "inventory", "app", F_JAVA, 5, 15},
    {"billing", "reporting", "app", F_JAVA, 3, 8},
    {"data", "kafka-connect", "connect", F_JAVA, 3, 10},
};
#define NAPPS NELEM(apps)

typedef struct stream {
    uint32_t app;
    uint32_t node;       /* the Promtail (node) that ships it */
    uint32_t owner;      /* sender thread: node % concurrency */
    uint32_t weight;
    char *head;          /* {"stream":{...},"values":[ */
    uint32_t head_len;
    char *labels;        /* {namespace="..",...} for messages */
    char *pod;
    int64_t last_ts;     /* ns, last timestamp sent (entries stay in order) */
    bool needle;         /* gets the needle lines */
} stream_t;

typedef struct gen {
    opts_t o;
    stream_t *streams;
    uint32_t nstreams;
    uint32_t ip_pool[4096];   /* client addresses, picked with a skew */
    int64_t start_ns, end_ns;
} gen_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sx-logload: out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "sx-logload: out of memory\n");
        exit(3);
    }
    return p;
}

/* Kubernetes' random-suffix alphabet (no vowels, no 0/1/3), less 'q' so
 * that no line (JSON lines carry the pod name) holds "zq", the needle of
 * the full-scan query of bench/logs.py. */
static void k8s_suffix(char *out, int n, uint64_t *rng)
{
    static const char al[] = "bcdfghjklmnprstvwxz2456789";
    for (int i = 0; i < n; i++)
        out[i] = al[rnd_below(rng, sizeof(al) - 1)];
    out[n] = '\0';
}

/* Spread the streams over the apps by share (largest remainder, at least
 * one each while there are enough streams) and build their label sets. */
static void gen_build_streams(gen_t *g)
{
    const opts_t *o = &g->o;
    uint32_t n = o->streams, total_share = 0;
    for (size_t a = 0; a < NAPPS; a++)
        total_share += apps[a].share;
    uint32_t count[NAPPS], used = 0;
    double rem[NAPPS];
    for (size_t a = 0; a < NAPPS; a++) {
        double want = (double)n * apps[a].share / total_share;
        count[a] = (uint32_t)want;
        if (count[a] == 0 && n >= NAPPS)
            count[a] = 1;
        rem[a] = want - count[a];
        used += count[a];
    }
    while (used > n) { /* only when the minimum of 1 overshot */
        size_t best = 0;
        for (size_t a = 1; a < NAPPS; a++)
            if (count[a] > count[best])
                best = a;
        count[best]--;
        used--;
    }
    while (used < n) {
        size_t best = 0;
        for (size_t a = 1; a < NAPPS; a++)
            if (rem[a] > rem[best])
                best = a;
        count[best]++;
        rem[best] = -1;
        used++;
    }
    uint64_t rng = o->seed * 0x1234567ULL + 99;
    g->streams = xcalloc(n, sizeof(stream_t));
    g->nstreams = n;
    uint32_t s = 0;
    for (size_t a = 0; a < NAPPS; a++) {
        const app_t *ap = &apps[a];
        char rs[11];
        k8s_suffix(rs, 10, &rng); /* the ReplicaSet's pod-template hash */
        for (uint32_t i = 0; i < count[a]; i++, s++) {
            stream_t *st = &g->streams[s];
            char pod[128], suf[6], node[32], head[512], lab[512];
            k8s_suffix(suf, 5, &rng);
            if (strcmp(ap->name, "node-exporter") == 0 || strcmp(ap->name, "coredns") == 0)
                snprintf(pod, sizeof(pod), "%s-%s", ap->name, suf);
            else
                snprintf(pod, sizeof(pod), "%s-%s-%s", ap->name, rs, suf);
            st->node = s % o->nodes;
            snprintf(node, sizeof(node), "worker-%02u", st->node);
            const char *stream = ap->fmt == F_JAVA && rnd_below(&rng, 4) == 0 ? "stderr" : "stdout";
            int hl = snprintf(head, sizeof(head),
                              "{\"stream\":{\"namespace\":\"%s\",\"app\":\"%s\",\"pod\":\"%s\","
                              "\"container\":\"%s\",\"job\":\"%s/%s\",\"node\":\"%s\","
                              "\"stream\":\"%s\"},\"values\":[",
                              ap->ns, ap->name, pod, ap->container, ap->ns, ap->name, node, stream);
            snprintf(lab, sizeof(lab),
                     "{namespace=\"%s\", app=\"%s\", pod=\"%s\", container=\"%s\"}", ap->ns,
                     ap->name, pod, ap->container);
            st->app = (uint32_t)a;
            st->owner = st->node % o->concurrency;
            /* Pods of one workload are not equally busy either. */
            st->weight = ap->weight * (uint32_t)(50 + rnd_below(&rng, 100));
            st->head = strdup(head);
            st->head_len = (uint32_t)hl;
            st->labels = strdup(lab);
            st->pod = strdup(pod);
        }
    }
    /* Needle streams: JSON or logfmt streams spread over the list. */
    uint32_t want = o->needle[0] ? o->needle_streams : 0, got = 0;
    for (uint32_t step = 0; step < n && got < want; step++) {
        uint32_t k = (uint32_t)(((uint64_t)step * 7919 + 13) % n);
        uint8_t f = apps[g->streams[k].app].fmt;
        if ((f == F_JSON || f == F_LOGFMT) && !g->streams[k].needle) {
            g->streams[k].needle = true;
            got++;
        }
    }
    for (uint32_t k = 0; k < n && got < want; k++)
        if (!g->streams[k].needle) {
            g->streams[k].needle = true;
            got++;
        }
    for (size_t i = 0; i < NELEM(g->ip_pool); i++) {
        uint64_t r = rnd_next(&rng);
        /* Mostly public client addresses, some from the pod network. */
        g->ip_pool[i] = (i % 5 == 0) ? (10u << 24 | 244u << 16 | (uint32_t)(r & 0xffff))
                                     : (uint32_t)(r >> 32) | 0x01000000u;
    }
}

/* ---- Line templates ---- */

typedef struct linectx {
    const gen_t *g;
    const stream_t *st;
    uint64_t *rng;
    tcache_t *tc;
    int64_t ts_ns;
    const char *needle; /* non-NULL: this line must hold the needle */
} linectx_t;

static char *put_ip(char *p, uint32_t ip)
{
    p = put_u(p, ip >> 24);
    *p++ = '.';
    p = put_u(p, ip >> 16 & 255);
    *p++ = '.';
    p = put_u(p, ip >> 8 & 255);
    *p++ = '.';
    return put_u(p, ip & 255);
}

static char *put_client_ip(char *p, const linectx_t *c)
{
    return put_ip(p, c->g->ip_pool[rnd_skew(c->rng, NELEM(c->g->ip_pool))]);
}

static char *put_path(char *p, const linectx_t *c)
{
    uint64_t *r = c->rng;
    size_t i = rnd_skew(r, NELEM(paths));
    if (i == 6) { /* search: a query string */
        p = put(p, paths[i]);
        p = put_c(p, "?q=");
        p = put(p, words[rnd_below(r, NELEM(words))]);
        if (rnd_below(r, 3) == 0) {
            *p++ = '+';
            p = put(p, words[rnd_below(r, NELEM(words))]);
        }
        p = put_c(p, "&page=");
        return put_u(p, 1 + rnd_skew(r, 20));
    }
    return put_msg(p, paths[i], r);
}

static uint16_t pick_status(uint64_t *r)
{
    uint64_t x = rnd_below(r, 1000);
    for (size_t i = 0; i < NELEM(statuses); i++) {
        if (x < statuses[i].w)
            return statuses[i].code;
        x -= statuses[i].w;
    }
    return 200;
}

static str_t pick_method(uint64_t *r)
{
    return methods[rnd_below(r, NELEM(methods))];
}

/* "METHOD PATH HTTP/1.1" STATUS BYTES "REFERER" "UA" */
static char *put_request_common(char *p, const linectx_t *c, uint16_t status)
{
    uint64_t *r = c->rng;
    *p++ = '"';
    p = put(p, pick_method(r));
    *p++ = ' ';
    p = put_path(p, c);
    p = put_c(p, rnd_below(r, 10) ? " HTTP/1.1\" " : " HTTP/2.0\" ");
    p = put_u(p, status);
    *p++ = ' ';
    p = put_u(p, status == 204 || status == 304 ? 0 : 200 + rnd_skew(r, 60000));
    p = put_c(p, " \"");
    p = put(p, referers[rnd_below(r, NELEM(referers))]);
    p = put_c(p, "\" \"");
    p = put(p, user_agents[rnd_skew(r, NELEM(user_agents))]);
    *p++ = '"';
    return p;
}

static char *line_access(char *p, const linectx_t *c, uint8_t fmt)
{
    uint64_t *r = c->rng;
    uint16_t status = pick_status(r);
    p = put_client_ip(p, c);
    if (fmt == F_APACHE && rnd_below(r, 8) == 0) {
        p = put_c(p, " - user");
        p = put_u(p, rnd_skew(r, 500));
        p = put_c(p, " [");
    } else {
        p = put_c(p, " - - [");
    }
    memcpy(p, c->tc->clf, 26);
    p += 26;
    p = put_c(p, "] ");
    p = put_request_common(p, c, status);
    uint64_t ms = rnd_latency(r, 40);
    if (fmt == F_INGRESS) {
        *p++ = ' ';
        p = put_u(p, 300 + rnd_below(r, 900)); /* request length */
        *p++ = ' ';
        p = put_secs3(p, ms + 1);
        p = put_c(p, " [");
        uint32_t ui = (uint32_t)rnd_below(r, 3);
        const app_t *up = &apps[1 + ui];
        p = put_c(p, up->ns);
        *p++ = '-';
        p = put_c(p, up->name);
        /* One of the upstream service's 8 pods. */
        uint32_t h = (ui * 8 + (uint32_t)rnd_below(r, 8)) * 2654435761u;
        p = put_c(p, "-80] [] 10.244.");
        p = put_u(p, h >> 27);
        *p++ = '.';
        p = put_u(p, 2 + (h >> 8) % 250);
        p = put_c(p, ":8080 ");
        p = put_u(p, 200 + rnd_skew(r, 60000));
        *p++ = ' ';
        p = put_secs3(p, ms);
        *p++ = ' ';
        p = put_u(p, status == 499 ? 200 : status);
        *p++ = ' ';
        p = put_hex(p, rnd_next(r), 16);
        p = put_hex(p, rnd_next(r), 16);
    } else if (fmt == F_NGINX) {
        p = put_c(p, " rt=");
        p = put_secs3(p, ms + 1);
        p = put_c(p, " uct=\"0.000\" urt=\"");
        p = put_secs3(p, ms);
        *p++ = '"';
    } else { /* Apache %D: microseconds */
        *p++ = ' ';
        p = put_u(p, ms * 1000 + rnd_below(r, 1000));
    }
    return p;
}

static char *line_coredns(char *p, const linectx_t *c)
{
    uint64_t *r = c->rng;
    if (rnd_below(r, 200) == 0) {
        p = put_c(p, "[ERROR] plugin/errors: 2 ");
        p = put(p, dns_names[rnd_below(r, NELEM(dns_names))]);
        p = put_c(p, " A: read udp 10.244.0.7:");
        p = put_u(p, 30000 + rnd_below(r, 30000));
        p = put_c(p, "->10.0.0.2:53: i/o timeout");
        return p;
    }
    p = put_c(p, "[INFO] 10.244.");
    p = put_u(p, rnd_below(r, 20));
    *p++ = '.';
    p = put_u(p, 2 + rnd_below(r, 250));
    *p++ = ':';
    p = put_u(p, 1024 + rnd_below(r, 64000));
    p = put_c(p, " - ");
    p = put_u(p, rnd_below(r, 65536));
    p = put_c(p, " \"");
    p = put(p, dns_types[rnd_below(r, NELEM(dns_types))]);
    p = put_c(p, " IN ");
    p = put(p, dns_names[rnd_skew(r, NELEM(dns_names))]);
    p = put_c(p, " udp ");
    p = put_u(p, 40 + rnd_below(r, 40));
    p = put_c(p, " false 512\" ");
    p = put_c(p, rnd_below(r, 10) ? "NOERROR qr,aa,rd " : "NXDOMAIN qr,aa,rd ");
    p = put_u(p, 80 + rnd_below(r, 200));
    p = put_c(p, " 0.000");
    p = put_uw(p, 50 + rnd_latency(r, 300) % 950, 3);
    *p++ = 's';
    return p;
}

static char *line_json(char *p, const linectx_t *c)
{
    uint64_t *r = c->rng;
    int lv = pick_level(r);
    p = put_c(p, "{\"ts\":\"");
    memcpy(p, c->tc->iso, 19);
    p += 19;
    *p++ = '.';
    p = put_uw(p, (uint64_t)(c->ts_ns / 1000000 % 1000), 3);
    p = put_c(p, "Z\",\"level\":\"");
    p = put(p, level_lc[lv]);
    uint32_t mi = (uint32_t)rnd_skew(r, 12);
    p = put_c(p, "\",\"caller\":\"");
    p = put_caller(p, json_callers, NELEM(json_callers), c->st->app * 64 + (uint32_t)lv * 16 + mi);
    p = put_c(p, "\",\"msg\":\"");
    if (c->needle) {
        p = put_c(p, "cache lookup failed for key ");
        p = put_c(p, c->needle);
    } else {
        p = put_msg(p, json_msgs[lv][mi], r);
    }
    p = put_c(p, "\",\"service\":\"");
    p = put_c(p, apps[c->st->app].name);
    p = put_c(p, "\",\"env\":\"production\",\"host\":\"");
    p = put_c(p, c->st->pod);
    p = put_c(p, "\",\"trace_id\":\"");
    p = put_hex(p, rnd_next(r), 16);
    p = put_c(p, "\",\"span_id\":\"");
    p = put_hex(p, rnd_next(r), 16);
    p = put_c(p, "\",\"user\":\"u-");
    p = put_u(p, rnd_skew(r, 100000));
    *p++ = '"';
    if (rnd_below(r, 2)) {
        p = put_c(p, ",\"method\":\"");
        p = put(p, pick_method(r));
        p = put_c(p, "\",\"path\":\"");
        p = put_path(p, c);
        p = put_c(p, "\",\"status\":");
        p = put_u(p, lv == L_ERROR ? 500 + rnd_below(r, 4) : lv == L_WARN ? 429 : 200);
    }
    if (lv == L_ERROR) {
        p = put_c(p, ",\"error\":\"");
        p = put_msg(p, json_msgs[L_ERROR][rnd_below(r, 12)], r);
        *p++ = '"';
    }
    p = put_c(p, ",\"duration_ms\":");
    p = put_u(p, rnd_latency(r, 30));
    *p++ = '}';
    return p;
}

static char *line_logfmt(char *p, const linectx_t *c)
{
    uint64_t *r = c->rng;
    int lv = pick_level(r);
    p = put_c(p, "ts=");
    memcpy(p, c->tc->iso, 19);
    p += 19;
    *p++ = '.';
    p = put_uw(p, (uint64_t)(c->ts_ns / 1000000 % 1000), 3);
    p = put_c(p, "Z level=");
    p = put(p, level_lc[lv]);
    uint32_t mi = (uint32_t)rnd_skew(r, 10);
    p = put_c(p, " caller=");
    p = put_caller(p, logfmt_callers, NELEM(logfmt_callers), c->st->app * 64 + (uint32_t)lv * 16 + mi);
    /* Mostly the app's main component, sometimes another one of its own. */
    p = put_c(p, " component=");
    p = put(p, components[(c->st->app * 3 + (rnd_below(r, 4) == 0 ? 1 + mi % 2 : 0)) % NELEM(components)]);
    p = put_c(p, " org_id=tenant-");
    p = put_u(p, rnd_skew(r, 40));
    if (rnd_below(r, 2)) {
        p = put_c(p, " traceID=");
        p = put_hex(p, rnd_next(r), 16);
    }
    p = put_c(p, " msg=\"");
    str_t m = logfmt_msgs[lv][mi];
    if (c->needle) {
        p = put_c(p, "lookup failed key=");
        p = put_c(p, c->needle);
    } else {
        p = put(p, m);
    }
    *p++ = '"';
    if (strcmp(m.p, "request") == 0 || rnd_below(r, 4) == 0) {
        p = put_c(p, " method=");
        p = put(p, pick_method(r));
        p = put_c(p, " path=");
        p = put_path(p, c);
        p = put_c(p, " status=");
        uint16_t st = lv == L_ERROR ? (uint16_t)(500 + rnd_below(r, 5)) : pick_status(r);
        p = put_u(p, st);
        p = put_c(p, " remote_addr=");
        p = put_client_ip(p, c);
    } else if (rnd_below(r, 2)) {
        p = put_c(p, " job_id=");
        p = put_hex(p, rnd_next(r), 12);
        p = put_c(p, " queue=");
        p = put(p, queues[rnd_below(r, NELEM(queues))]);
        p = put_c(p, " attempt=");
        p = put_u(p, 1 + rnd_skew(r, 5));
    } else {
        p = put_c(p, " target=http://10.244.");
        p = put_u(p, rnd_below(r, 20));
        *p++ = '.';
        p = put_u(p, 2 + rnd_below(r, 250));
        p = put_c(p, ":9100/metrics series=");
        p = put_u(p, 100 + rnd_skew(r, 5000));
    }
    if (lv == L_ERROR) {
        p = put_c(p, " err=\"");
        p = put(p, logfmt_msgs[L_ERROR][rnd_below(r, 10)]);
        *p++ = '"';
    }
    p = put_c(p, " duration=");
    uint64_t us = rnd_latency(r, 20000);
    if (us >= 1000) {
        p = put_u(p, us / 1000);
        *p++ = '.';
        p = put_uw(p, us % 1000 / 10, 2);
        p = put_c(p, "ms");
    } else {
        p = put_u(p, us);
        p = put_c(p, "µs");
    }
    return p;
}

static char *line_java(char *p, const linectx_t *c)
{
    uint64_t *r = c->rng;
    int lv = pick_level(r);
    memcpy(p, c->tc->iso, 19);
    p[10] = ' ';
    p += 19;
    *p++ = '.';
    p = put_uw(p, (uint64_t)(c->ts_ns / 1000000 % 1000), 3);
    *p++ = ' ';
    p = put(p, level_java[lv]);
    p = put_c(p, " 1 --- [");
    p = put_loc(p, java_threads[rnd_skew(r, NELEM(java_threads))], 1 + rnd_skew(r, 200));
    p = put_c(p, "] ");
    uint32_t mi = (uint32_t)rnd_skew(r, 8);
    p = put(p, java_loggers[(c->st->app + (uint32_t)lv * 8 + mi) % NELEM(java_loggers)]);
    p = put_c(p, ": ");
    p = put_msg(p, java_msgs[lv][mi], r);
    /* A multi-line Java stack trace is one entry (a Promtail multiline
     * stage); about a third of the errors carry one. */
    if (lv == L_ERROR && rnd_below(r, 3) == 0) {
        *p++ = '\n';
        p = put_msg(p, java_exceptions[rnd_below(r, NELEM(java_exceptions))], r);
        uint32_t nf = 8 + (uint32_t)rnd_below(r, 24), f0 = (uint32_t)rnd_below(r, NELEM(java_frames));
        for (uint32_t i = 0; i < nf; i++) {
            p = put_c(p, "\n\tat ");
            p = put_loc(p, java_frames[(f0 + i * 3 + (i > 5 ? rnd_below(r, 2) : 0)) % NELEM(java_frames)], 40 + f0 * 37 % 900 + i);
        }
        if (rnd_below(r, 2)) {
            p = put_c(p, "\n\t... ");
            p = put_u(p, 20 + rnd_below(r, 80));
            p = put_c(p, " common frames omitted");
        }
    }
    return p;
}

/* One line for stream st at ts_ns into out; returns its length. */
static size_t make_line(char *out, const gen_t *g, const stream_t *st, uint64_t *rng,
                        tcache_t *tc, int64_t ts_ns, bool needle)
{
    tcache_set(tc, ts_ns / 1000000000);
    linectx_t c = {g, st, rng, tc, ts_ns, needle ? g->o.needle : NULL};
    uint8_t f = apps[st->app].fmt;
    char *p = out;
    switch (f) {
    case F_INGRESS:
    case F_NGINX:
    case F_APACHE: p = line_access(p, &c, f); break;
    case F_COREDNS: p = line_coredns(p, &c); break;
    case F_JSON: p = line_json(p, &c); break;
    case F_LOGFMT: p = line_logfmt(p, &c); break;
    default: p = line_java(p, &c); break;
    }
    if (needle && f != F_JSON && f != F_LOGFMT) {
        *p++ = ' ';
        p = put_c(p, g->o.needle);
    }
    return (size_t)(p - out);
}

/* ---- Request bodies ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1 << 20;
    while (cap < b->len + more)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        fprintf(stderr, "sx-logload: out of memory\n");
        exit(3);
    }
    b->p = np;
    b->cap = cap;
}

/* Bytes that need escaping in a JSON string. */
static uint8_t esc_need[256];

static void esc_init(void)
{
    for (int i = 0; i < 0x20; i++)
        esc_need[i] = 1;
    esc_need['"'] = esc_need['\\'] = 1;
}

/* The first index from i on of a byte of s that needs escaping, or n. */
static inline size_t scan_plain(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), lim = _mm_set1_epi8(0x1f);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, lim), v));
        int mask = _mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
#endif
    while (i < n && !esc_need[(uint8_t)s[i]])
        i++;
    return i;
}

/* Append s as the inside of a JSON string; o needs room for 6 * n bytes. */
static char *json_escape(char *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = scan_plain(s, i, n);
        memcpy(o, s + i, j - i);
        o += j - i;
        if (j == n)
            break;
        uint8_t ch = (uint8_t)s[j];
        *o++ = '\\';
        switch (ch) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\t': *o++ = 't'; break;
        case '\r': *o++ = 'r'; break;
        default:
            o = put_c(o, "u00");
            o = put_hex(o, ch, 2);
        }
        i = j + 1;
    }
    return o;
}

/* ---- Sending ---- */

static atomic_uint_fast64_t g_lines_ok, g_raw_ok, g_body_ok, g_requests, g_errors;
static atomic_uint_fast64_t g_lines_gen, g_raw_gen;
static atomic_uint_fast64_t g_needle_ok;
static atomic_bool g_stop;
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct resp {
    char body[2048];
    size_t len;
} resp_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    resp_t *r = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(r->body) - 1 - r->len;
    size_t take = n < room ? n : room;
    memcpy(r->body + r->len, ptr, take);
    r->len += take;
    r->body[r->len] = '\0';
    return n;
}

typedef struct sender {
    gen_t *g;
    uint32_t id;
    uint64_t rng;
    uint32_t *sids;      /* streams this thread owns, grouped by node */
    uint64_t *cum;       /* cumulative weights over sids */
    uint32_t *node_end;  /* per sid: end of its node's range in sids */
    uint32_t nsids;
    uint32_t *cnt;       /* lines per owned stream in the request being built */
    uint32_t *nfrom;     /* needle lines: [nfrom, nfrom + nlen) of that stream */
    uint32_t *nlen;
    uint64_t raw_target, lines_target; /* this thread's share of the volume */
    uint64_t raw_done, lines_done;     /* generated so far */
    double avg_line;     /* running mean of raw bytes per line */
    int64_t prev_t1;     /* ns: end of the previous request's time window */
    bool needle_done;
    tcache_t tc;
    char *line;
    buf_t body, gz;
    z_stream zs;
    double *lat;
    size_t nlat, lat_cap;
    double t_start;
    int64_t min_ts, max_ts;
    uint64_t needle_lines;
    int64_t needle_min, needle_max;
    atomic_bool done;
} sender_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Share of this thread's volume generated so far, in [0, 1]. */
static double progress_of(const sender_t *w, uint64_t raw, uint64_t lines)
{
    const opts_t *o = &w->g->o;
    double f = 0;
    if (w->raw_target)
        f = (double)raw / (double)w->raw_target;
    if (w->lines_target) {
        double fl = (double)lines / (double)w->lines_target;
        f = fl > f ? fl : f;
    }
    if (!w->raw_target && !w->lines_target && o->seconds > 0)
        f = (now_s() - w->t_start) / o->seconds;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

static bool sender_finished(const sender_t *w)
{
    if (w->raw_target && w->raw_done >= w->raw_target)
        return true;
    if (w->lines_target && w->lines_done >= w->lines_target)
        return true;
    return false;
}

/* The index in [lo, hi) of w->sids whose cumulative weight range holds x. */
static uint32_t pick_sid(const sender_t *w, uint64_t x, uint32_t lo, uint32_t hi)
{
    hi--;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (w->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Build the next request body in w->body. A push carries the lines of one
 * node's streams, picked at random by weight and grouped by stream as
 * Promtail batches them; each stream's lines
 * take timestamps spread over this request's slice of the time range, so
 * every stream stays in order. Returns the number of lines. */
static uint32_t build_request(sender_t *w, uint64_t *raw_out, uint32_t *needles_out)
{
    gen_t *g = w->g;
    const opts_t *o = &g->o;
    uint64_t *r = &w->rng;
    uint32_t n = o->batch_min + (uint32_t)rnd_below(r, o->batch_max - o->batch_min + 1);
    memset(w->cnt, 0, w->nsids * sizeof(uint32_t));
    /* Pick a node by its weight, then its streams by theirs: one push is
     * what one node's Promtail ships. */
    uint32_t k0 = pick_sid(w, rnd_below(r, w->cum[w->nsids - 1]), 0, w->nsids);
    uint32_t nlo = k0, nhi = w->node_end[k0];
    while (nlo > 0 && w->node_end[nlo - 1] == nhi)
        nlo--;
    uint64_t base = nlo ? w->cum[nlo - 1] : 0, nw = w->cum[nhi - 1] - base;
    for (uint32_t i = 0; i < n; i++)
        w->cnt[pick_sid(w, base + rnd_below(r, nw), nlo, nhi)]++;
    /* The needle lines, all in one request per stream, next to each other,
     * so that only the chunk (or two) holding that moment has them. */
    double p0 = progress_of(w, w->raw_done, w->lines_done);
    memset(w->nlen, 0, w->nsids * sizeof(uint32_t));
    uint32_t needles = 0;
    if (o->needle[0] && !w->needle_done && p0 >= o->needle_at) {
        w->needle_done = true;
        uint32_t nneedle = 0;
        for (uint32_t i = 0; i < g->nstreams; i++)
            nneedle += g->streams[i].needle;
        for (uint32_t k = 0, seen = 0; k < w->nsids; k++) {
            const stream_t *st = &g->streams[w->sids[k]];
            if (!st->needle)
                continue;
            /* Which needle stream this is overall, to split the count. */
            seen = 0;
            for (uint32_t i = 0; i < w->sids[k]; i++)
                seen += g->streams[i].needle;
            uint32_t per = o->needle_lines / nneedle + (seen < o->needle_lines % nneedle);
            w->nfrom[k] = w->cnt[k] / 2;
            w->nlen[k] = per;
            w->cnt[k] += per;
            n += per;
            needles += per;
        }
    }
    /* This request's slice of the time range. */
    double est = n * w->avg_line;
    double p1 = w->raw_target ? progress_of(w, w->raw_done + (uint64_t)est, w->lines_done + n)
                              : progress_of(w, 0, w->lines_done + n);
    int64_t span = g->end_ns - g->start_ns;
    int64_t t0 = g->start_ns + (int64_t)(p0 * (double)span);
    int64_t t1 = g->start_ns + (int64_t)(p1 * (double)span);
    if (t0 < w->prev_t1)
        t0 = w->prev_t1;
    if (t1 < t0)
        t1 = t0;
    w->prev_t1 = t1;

    buf_t *b = &w->body;
    b->len = 0;
    buf_reserve(b, 64);
    memcpy(b->p, "{\"streams\":[", 12);
    b->len = 12;
    uint64_t raw = 0;
    bool first_stream = true;
    for (uint32_t k = 0; k < w->nsids; k++) {
        uint32_t c = w->cnt[k];
        if (!c)
            continue;
        stream_t *st = &g->streams[w->sids[k]];
        buf_reserve(b, st->head_len + 2);
        if (!first_stream)
            b->p[b->len++] = ',';
        first_stream = false;
        memcpy(b->p + b->len, st->head, st->head_len);
        b->len += st->head_len;
        double slot = (double)(t1 - t0) / c;
        for (uint32_t j = 0; j < c; j++) {
            int64_t ts = t0 + (int64_t)(slot * (j + rnd_unit_f(r)));
            if (ts <= st->last_ts)
                ts = st->last_ts + 1;
            st->last_ts = ts;
            bool nd = w->nlen[k] && j >= w->nfrom[k] && j < w->nfrom[k] + w->nlen[k];
            size_t len = make_line(w->line, g, st, r, &w->tc, ts, nd);
            raw += len;
            if (nd) {
                w->needle_lines++;
                if (!w->needle_min || ts < w->needle_min)
                    w->needle_min = ts;
                if (ts > w->needle_max)
                    w->needle_max = ts;
            }
            if (!w->min_ts || ts < w->min_ts)
                w->min_ts = ts;
            if (ts > w->max_ts)
                w->max_ts = ts;
            buf_reserve(b, len * 6 + 32);
            char *q = b->p + b->len;
            if (j)
                *q++ = ',';
            q = put_c(q, "[\"");
            q = put_u(q, (uint64_t)ts);
            q = put_c(q, "\",\"");
            q = json_escape(q, w->line, len);
            q = put_c(q, "\"]");
            b->len = (size_t)(q - b->p);
        }
        buf_reserve(b, 2);
        b->p[b->len++] = ']';
        b->p[b->len++] = '}';
    }
    buf_reserve(b, 2);
    b->p[b->len++] = ']';
    b->p[b->len++] = '}';
    w->raw_done += raw;
    w->lines_done += n;
    w->avg_line = 0.9 * w->avg_line + 0.1 * ((double)raw / n);
    atomic_fetch_add(&g_lines_gen, n);
    atomic_fetch_add(&g_raw_gen, raw);
    *raw_out = raw;
    *needles_out = needles;
    return n;
}

/* gzip w->body into w->gz (level --gzip-level). */
static void gzip_body(sender_t *w)
{
    z_stream *zs = &w->zs;
    if (deflateReset(zs) != Z_OK) {
        fprintf(stderr, "sx-logload: deflateReset failed\n");
        exit(3);
    }
    size_t bound = deflateBound(zs, w->body.len) + 64;
    w->gz.len = 0;
    buf_reserve(&w->gz, bound);
    zs->next_in = (Bytef *)w->body.p;
    zs->avail_in = (uInt)w->body.len;
    zs->next_out = (Bytef *)w->gz.p;
    zs->avail_out = (uInt)w->gz.cap;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END) {
        fprintf(stderr, "sx-logload: deflate failed\n");
        exit(3);
    }
    w->gz.len = zs->total_out;
}

static void note_error(const opts_t *o, uint32_t id, const char *what, const resp_t *r)
{
    uint64_t n = atomic_fetch_add(&g_errors, 1) + 1;
    size_t len = r ? r->len : 0;
    while (len && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r'))
        len--;
    pthread_mutex_lock(&g_err_lock);
    if (n <= 3 || n == o->max_errors)
        fprintf(stderr, "sx-logload: thread %u: %s%s%.*s\n", id, what, len ? ": " : "",
                (int)(len > 600 ? 600 : len), r ? r->body : "");
    if (n >= o->max_errors && !atomic_load(&g_stop)) {
        fprintf(stderr, "sx-logload: %" PRIu64 " failed requests, aborting\n", n);
        atomic_store(&g_stop, true);
    }
    pthread_mutex_unlock(&g_err_lock);
}

static void *sender_main(void *arg)
{
    sender_t *w = arg;
    gen_t *g = w->g;
    const opts_t *o = &g->o;
    resp_t resp;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    if (!o->dry_run) {
        for (struct curl_slist *x = o->headers; x; x = x->next)
            hdrs = curl_slist_append(hdrs, x->data);
        h = curl_easy_init();
        if (!h || !hdrs) {
            fprintf(stderr, "sx-logload: cannot set up libcurl\n");
            exit(3);
        }
        curl_easy_setopt(h, CURLOPT_URL, o->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "sx-logload/0.1 (Loki push)");
    }
    while (!atomic_load(&g_stop) && !sender_finished(w)) {
        if (o->seconds > 0 && now_s() - w->t_start >= o->seconds)
            break;
        uint64_t raw;
        uint32_t needles;
        uint32_t n = build_request(w, &raw, &needles);
        const char *data = w->body.p;
        size_t len = w->body.len;
        if (o->gzip) {
            gzip_body(w);
            data = w->gz.p;
            len = w->gz.len;
        }
        if (o->dry_run) {
            atomic_fetch_add(&g_lines_ok, n);
            atomic_fetch_add(&g_raw_ok, raw);
            atomic_fetch_add(&g_body_ok, len);
            atomic_fetch_add(&g_requests, 1);
            continue;
        }
        resp.len = 0;
        resp.body[0] = '\0';
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(h);
        if (w->nlat == w->lat_cap) {
            w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 4096;
            w->lat = realloc(w->lat, w->lat_cap * sizeof(double));
            if (!w->lat) {
                fprintf(stderr, "sx-logload: out of memory\n");
                exit(3);
            }
        }
        w->lat[w->nlat++] = now_s() - t0;
        atomic_fetch_add(&g_requests, 1);
        if (rc != CURLE_OK) {
            note_error(o, w->id, curl_easy_strerror(rc), NULL);
            continue;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            char what[64];
            snprintf(what, sizeof(what), "HTTP %ld", status);
            note_error(o, w->id, what, &resp);
            continue;
        }
        atomic_fetch_add(&g_lines_ok, n);
        atomic_fetch_add(&g_raw_ok, raw);
        atomic_fetch_add(&g_body_ok, len);
        atomic_fetch_add(&g_needle_ok, needles);
    }
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    atomic_store(&w->done, true);
    return NULL;
}

/* CPU seconds (user + system) this process has used so far. */
static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- Command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sx-logload --url URL [options]\n"
            "Send Kubernetes-like container logs to a Loki push endpoint as JSON.\n\n"
            "  --url URL            push endpoint (http://127.0.0.1:3100/loki/api/v1/push)\n"
            "  --streams N          streams (pods' containers) (default 1000)\n"
            "  --nodes N            nodes; one push carries one node's streams, as one\n"
            "                       Promtail per node sends them (default 20)\n"
            "  --bytes SIZE         raw line bytes to send: 500M, 10G (powers of 1000; KiB,\n"
            "                       MiB, GiB for powers of 1024) (default 1G)\n"
            "  --lines N            lines to send (instead of, or as well as, --bytes)\n"
            "  --seconds S          stop after S seconds whatever was sent\n"
            "  --concurrency C      sender threads = keep-alive connections (default 4)\n"
            "  --batch N[-M]        lines per push request, uniform in [N, M] (default 1000-2000)\n"
            "  --hours H            timestamps spread over the last H hours (default 24)\n"
            "  --end-ms MS          newest timestamp (default now)\n"
            "  --needle TOKEN       rare token (default rare-needle-7f3a; '' for none)\n"
            "  --needle-lines N     lines that carry it, in all (default 12)\n"
            "  --needle-streams K   streams that get them (default 3)\n"
            "  --needle-at F        where in the volume they go, 0..1 (default 0.5)\n"
            "  --gzip               gzip every body (Content-Encoding: gzip)\n"
            "  --gzip-level N       zlib level (default 1)\n"
            "  --header 'K: V'      extra request header (repeatable), e.g. X-Scope-OrgID\n"
            "  --seed N             random seed (default 1)\n"
            "  --max-errors N       abort after N failed requests (default 5)\n"
            "  --timeout S          per-request timeout in seconds (default 60)\n"
            "  --progress S         progress period on stderr, 0 for none (default 5)\n"
            "  --dry-run            only build the bodies (on --concurrency threads), print speed\n"
            "  --print-lines N      print N generated lines with their stream labels, exit\n");
}

static uint64_t parse_u64(const char *name, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "sx-logload: bad %s '%s' (want %" PRIu64 "..%" PRIu64 ")\n", name, s,
                min, max);
        exit(2);
    }
    return v;
}

static double parse_double(const char *name, const char *s, double min, double max)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "sx-logload: bad %s '%s' (want %g..%g)\n", name, s, min, max);
        exit(2);
    }
    return v;
}

/* "10G", "500M", "1.5GiB", "123" into bytes. */
static uint64_t parse_size(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double mult = 1;
    if (end == s || !(v > 0))
        goto bad;
    static const struct {
        const char *suf;
        double mult;
    } sufs[] = {{"", 1},         {"B", 1},          {"K", 1e3},           {"KB", 1e3},
                {"M", 1e6},      {"MB", 1e6},       {"G", 1e9},           {"GB", 1e9},
                {"T", 1e12},     {"TB", 1e12},      {"KiB", 1024.0},      {"MiB", 1048576.0},
                {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < NELEM(sufs); i++)
        if (strcmp(end, sufs[i].suf) == 0) {
            mult = sufs[i].mult;
            return (uint64_t)(v * mult);
        }
bad:
    fprintf(stderr, "sx-logload: bad %s '%s' (want e.g. 500M, 10G, 2GiB)\n", name, s);
    exit(2);
}

static void parse_opts(int argc, char **argv, opts_t *o)
{
    enum { O_URL = 256, O_STREAMS, O_BYTES, O_LINES, O_SECONDS, O_CONC, O_BATCH, O_HOURS,
           O_END, O_NEEDLE, O_NLINES, O_NSTREAMS, O_NAT, O_GZIP, O_GZLEVEL, O_HEADER, O_SEED,
           O_MAXERR, O_TIMEOUT, O_PROGRESS, O_DRY, O_PRINT, O_NODES, O_HELP };
    static const struct option lopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"streams", required_argument, NULL, O_STREAMS},
        {"nodes", required_argument, NULL, O_NODES},
        {"bytes", required_argument, NULL, O_BYTES},
        {"lines", required_argument, NULL, O_LINES},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"concurrency", required_argument, NULL, O_CONC},
        {"batch", required_argument, NULL, O_BATCH},
        {"hours", required_argument, NULL, O_HOURS},
        {"end-ms", required_argument, NULL, O_END},
        {"needle", required_argument, NULL, O_NEEDLE},
        {"needle-lines", required_argument, NULL, O_NLINES},
        {"needle-streams", required_argument, NULL, O_NSTREAMS},
        {"needle-at", required_argument, NULL, O_NAT},
        {"gzip", no_argument, NULL, O_GZIP},
        {"gzip-level", required_argument, NULL, O_GZLEVEL},
        {"header", required_argument, NULL, O_HEADER},
        {"seed", required_argument, NULL, O_SEED},
        {"max-errors", required_argument, NULL, O_MAXERR},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"dry-run", no_argument, NULL, O_DRY},
        {"print-lines", required_argument, NULL, O_PRINT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (opts_t){.streams = 1000, .nodes = 20, .concurrency = 4, .batch_min = 1000, .batch_max = 2000,
                  .span_ms = 24 * 3600 * 1000LL, .needle = "rare-needle-7f3a",
                  .needle_lines = 12, .needle_streams = 3, .needle_at = 0.5, .gzip_level = 1,
                  .seed = 1, .max_errors = 5, .timeout_s = 60, .progress_s = 5};
    int c;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case O_URL: o->url = optarg; break;
        case O_NODES: o->nodes = (uint32_t)parse_u64("--nodes", optarg, 1, 100000); break;
        case O_STREAMS: o->streams = (uint32_t)parse_u64("--streams", optarg, 1, 10000000); break;
        case O_BYTES: o->bytes = parse_size("--bytes", optarg); break;
        case O_LINES: o->lines = parse_u64("--lines", optarg, 1, UINT64_MAX / 2); break;
        case O_SECONDS: o->seconds = parse_double("--seconds", optarg, 0.001, 1e9); break;
        case O_CONC: o->concurrency = (uint32_t)parse_u64("--concurrency", optarg, 1, 1024); break;
        case O_BATCH: {
            char *dash = strchr(optarg, '-');
            if (dash) {
                *dash = '\0';
                o->batch_min = (uint32_t)parse_u64("--batch", optarg, 1, 1000000);
                o->batch_max = (uint32_t)parse_u64("--batch", dash + 1, o->batch_min, 1000000);
            } else {
                o->batch_min = o->batch_max = (uint32_t)parse_u64("--batch", optarg, 1, 1000000);
            }
            break;
        }
        case O_HOURS:
            o->span_ms = (int64_t)(parse_double("--hours", optarg, 0.001, 24 * 365 * 10) * 3600e3);
            break;
        case O_END: o->end_ms = (int64_t)parse_u64("--end-ms", optarg, 1, INT64_MAX / 2000000); break;
        case O_NEEDLE: o->needle = optarg; break;
        case O_NLINES: o->needle_lines = (uint32_t)parse_u64("--needle-lines", optarg, 0, 1000000); break;
        case O_NSTREAMS: o->needle_streams = (uint32_t)parse_u64("--needle-streams", optarg, 1, 10000000); break;
        case O_NAT: o->needle_at = parse_double("--needle-at", optarg, 0, 1); break;
        case O_GZIP: o->gzip = true; break;
        case O_GZLEVEL: o->gzip_level = (int)parse_u64("--gzip-level", optarg, 0, 9); break;
        case O_HEADER:
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "sx-logload: --header wants 'Name: value'\n");
                exit(2);
            }
            o->headers = curl_slist_append(o->headers, optarg);
            break;
        case O_SEED: o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_MAXERR: o->max_errors = (uint32_t)parse_u64("--max-errors", optarg, 1, 1u << 30); break;
        case O_TIMEOUT: o->timeout_s = (long)parse_u64("--timeout", optarg, 1, 86400); break;
        case O_PROGRESS: o->progress_s = parse_double("--progress", optarg, 0, 86400); break;
        case O_DRY: o->dry_run = true; break;
        case O_PRINT: o->print_lines = (uint32_t)parse_u64("--print-lines", optarg, 1, 100000000); break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || (!o->url && !o->dry_run && !o->print_lines)) {
        usage(stderr);
        exit(2);
    }
    if (!o->bytes && !o->lines && !o->seconds)
        o->bytes = 1000000000ULL;
    if (o->needle_lines == 0)
        o->needle = "";
    if (strlen(o->needle) > 200) {
        fprintf(stderr, "sx-logload: --needle is too long\n");
        exit(2);
    }
    if (!o->end_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->end_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    if (o->nodes > o->streams)
        o->nodes = o->streams;
    if (o->concurrency > o->nodes)
        o->concurrency = o->nodes;
    o->headers = curl_slist_append(o->headers, "Content-Type: application/json");
    if (o->gzip)
        o->headers = curl_slist_append(o->headers, "Content-Encoding: gzip");
    /* libcurl would wait for 100-continue on large bodies; Promtail does not. */
    o->headers = curl_slist_append(o->headers, "Expect:");
}

/* ---- Main ---- */

static void sender_init(sender_t *w, gen_t *g, uint32_t id)
{
    const opts_t *o = &g->o;
    w->g = g;
    w->id = id;
    w->rng = o->seed * 0x9e3779b97f4a7c15ULL + id * 0x632be59bd9b4e019ULL + 7;
    w->sids = xcalloc(g->nstreams, sizeof(uint32_t));
    w->cum = xcalloc(g->nstreams, sizeof(uint64_t));
    w->node_end = xcalloc(g->nstreams, sizeof(uint32_t));
    uint64_t sum = 0;
    for (uint32_t node = id; node < o->nodes; node += o->concurrency) {
        uint32_t lo = w->nsids;
        for (uint32_t s = 0; s < g->nstreams; s++) {
            if (g->streams[s].node != node)
                continue;
            sum += g->streams[s].weight;
            w->sids[w->nsids] = s;
            w->cum[w->nsids++] = sum;
        }
        for (uint32_t k = lo; k < w->nsids; k++)
            w->node_end[k] = w->nsids;
    }
    w->cnt = xcalloc(w->nsids, sizeof(uint32_t));
    w->nfrom = xcalloc(w->nsids, sizeof(uint32_t));
    w->nlen = xcalloc(w->nsids, sizeof(uint32_t));
    uint32_t c = o->concurrency;
    w->raw_target = o->bytes / c + (id < o->bytes % c);
    w->lines_target = o->lines / c + (id < o->lines % c);
    w->avg_line = 300;
    w->tc.sec = INT64_MIN;
    w->line = xmalloc(MAX_LINE);
    w->prev_t1 = g->start_ns;
    if (o->gzip && deflateInit2(&w->zs, o->gzip_level, Z_DEFLATED, 15 + 16, 8,
                                Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "sx-logload: deflateInit2 failed\n");
        exit(3);
    }
    atomic_init(&w->done, false);
}

/* --print-lines: lines as the senders would make them, one per output
 * line (stack traces keep their newlines), after their stream's labels. */
static int run_print(gen_t *g)
{
    sender_t w = {0};
    g->o.concurrency = 1;
    for (uint32_t s = 0; s < g->nstreams; s++)
        g->streams[s].owner = 0;
    sender_init(&w, g, 0);
    if (!w.nsids)
        return 1;
    uint64_t wsum = w.cum[w.nsids - 1];
    int64_t span = g->end_ns - g->start_ns;
    for (uint32_t i = 0; i < g->o.print_lines; i++) {
        uint64_t x = rnd_below(&w.rng, wsum);
        uint32_t k = 0;
        while (w.cum[k] <= x)
            k++;
        const stream_t *st = &g->streams[w.sids[k]];
        int64_t ts = g->start_ns + span / g->o.print_lines * i;
        size_t len = make_line(w.line, g, st, &w.rng, &w.tc, ts, st->needle && i % 50 == 49);
        printf("%s %.*s\n", st->labels, (int)len, w.line);
    }
    return 0;
}

int main(int argc, char **argv)
{
    gen_t g = {0};
    parse_opts(argc, argv, &g.o);
    const opts_t *o = &g.o;
    esc_init();
    gen_build_streams(&g);
    g.end_ns = o->end_ms * 1000000LL;
    g.start_ns = g.end_ns - o->span_ms * 1000000LL;
    if (o->print_lines)
        return run_print(&g);

    uint32_t per_fmt[NELEM(fmt_names)] = {0}, nneedle = 0;
    for (uint32_t s = 0; s < g.nstreams; s++) {
        per_fmt[apps[g.streams[s].app].fmt]++;
        nneedle += g.streams[s].needle;
    }
    fprintf(stderr, "sx-logload: %u streams (7 labels each) of %zu apps:", g.nstreams, NAPPS);
    for (size_t f = 0; f < NELEM(fmt_names); f++)
        fprintf(stderr, " %s %u", fmt_names[f], per_fmt[f]);
    fprintf(stderr, "; %u threads, %u-%u lines per push%s\n", o->concurrency, o->batch_min,
            o->batch_max, o->gzip ? ", gzip" : "");
    printf("STREAMS n=%u apps=%zu labels=7\n", g.nstreams, NAPPS);
    printf("RANGE start_ns=%" PRId64 " end_ns=%" PRId64 "\n", g.start_ns, g.end_ns);
    if (o->needle[0])
        for (uint32_t s = 0; s < g.nstreams; s++)
            if (g.streams[s].needle)
                fprintf(stderr, "sx-logload: needle stream %s\n", g.streams[s].labels);
    fflush(stdout);

    if (!o->dry_run && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "sx-logload: curl_global_init failed\n");
        return 3;
    }
    sender_t *ws = xcalloc(o->concurrency, sizeof(sender_t));
    pthread_t *th = xcalloc(o->concurrency, sizeof(pthread_t));
    for (uint32_t k = 0; k < o->concurrency; k++)
        sender_init(&ws[k], &g, k);
    printf("SEND_START\n");
    fflush(stdout);
    double start = now_s(), cpu0 = cpu_self_s();
    for (uint32_t k = 0; k < o->concurrency; k++) {
        ws[k].t_start = start;
        if (pthread_create(&th[k], NULL, sender_main, &ws[k]) != 0) {
            fprintf(stderr, "sx-logload: pthread_create failed\n");
            return 3;
        }
    }
    bool done = false;
    double last = start, last_raw = 0, last_lines = 0;
    while (!done) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        done = true;
        for (uint32_t k = 0; k < o->concurrency; k++)
            if (!atomic_load(&ws[k].done))
                done = false;
        double now = now_s();
        if (!done && o->progress_s > 0 && now - last >= o->progress_s) {
            double raw = (double)atomic_load(&g_raw_ok), lines = (double)atomic_load(&g_lines_ok);
            double pct = o->bytes ? 100.0 * raw / o->bytes
                                  : o->lines ? 100.0 * lines / o->lines
                                             : 100.0 * (now - start) / o->seconds;
            fprintf(stderr,
                    "sx-logload: %6.1f s  %.2f M lines  %.0f MB (%4.1f%%)  now %.0f lines/s"
                    " %.1f MB/s  avg %.0f lines/s %.1f MB/s  cpu %.2f cores  errors %" PRIu64
                    "\n",
                    now - start, lines / 1e6, raw / 1e6, pct, (lines - last_lines) / (now - last),
                    (raw - last_raw) / (now - last) / 1e6, lines / (now - start),
                    raw / (now - start) / 1e6, (cpu_self_s() - cpu0) / (now - start),
                    (uint64_t)atomic_load(&g_errors));
            last = now;
            last_raw = raw;
            last_lines = lines;
        }
    }
    double secs = now_s() - start;
    for (uint32_t k = 0; k < o->concurrency; k++)
        pthread_join(th[k], NULL);
    double cpu = cpu_self_s() - cpu0;

    uint64_t lines = atomic_load(&g_lines_ok), raw = atomic_load(&g_raw_ok);
    uint64_t body = atomic_load(&g_body_ok), reqs = atomic_load(&g_requests);
    uint64_t errs = atomic_load(&g_errors);
    int64_t min_ts = 0, max_ts = 0, nmin = 0, nmax = 0;
    for (uint32_t k = 0; k < o->concurrency; k++) {
        sender_t *w = &ws[k];
        if (w->min_ts && (!min_ts || w->min_ts < min_ts))
            min_ts = w->min_ts;
        if (w->max_ts > max_ts)
            max_ts = w->max_ts;
        if (w->needle_min && (!nmin || w->needle_min < nmin))
            nmin = w->needle_min;
        if (w->needle_max > nmax)
            nmax = w->needle_max;
    }
    if (o->dry_run) {
        printf("dry-run: built %" PRIu64 " lines, %.1f MB raw, %.1f MB of bodies (%.3fx raw)"
               " in %.3f s on %u thread(s), %.2f CPU s\n",
               lines, raw / 1e6, body / 1e6, raw ? (double)body / raw : 0, secs, o->concurrency,
               cpu);
        printf("dry-run: %.0f lines/s, %.1f MB/s raw; per CPU second: %.1f MB raw, %.0f lines;"
               " %.1f bytes per line\n",
               lines / secs, raw / secs / 1e6, cpu > 0 ? raw / cpu / 1e6 : 0,
               cpu > 0 ? lines / cpu : 0, lines ? (double)raw / lines : 0);
        printf("RESULT mode=dry-run lines=%" PRIu64 " raw_bytes=%" PRIu64 " body_bytes=%" PRIu64
               " seconds=%.3f cpu_s=%.3f\n", lines, raw, body, secs, cpu);
        return 0;
    }

    size_t nlat = 0;
    for (uint32_t k = 0; k < o->concurrency; k++)
        nlat += ws[k].nlat;
    double *lat = xmalloc((nlat + 1) * sizeof(double));
    nlat = 0;
    for (uint32_t k = 0; k < o->concurrency; k++) {
        if (ws[k].nlat)
            memcpy(lat + nlat, ws[k].lat, ws[k].nlat * sizeof(double));
        nlat += ws[k].nlat;
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] : 0;
    uint64_t needles = atomic_load(&g_needle_ok);

    printf("lines sent       %" PRIu64 "\n", lines);
    printf("raw bytes        %" PRIu64 " (%.1f bytes/line)\n", raw,
           lines ? (double)raw / lines : 0);
    printf("body bytes       %" PRIu64 " (%.3fx raw%s)\n", body, raw ? (double)body / raw : 0,
           o->gzip ? ", gzip" : "");
    printf("seconds          %.3f\n", secs);
    printf("lines/s          %.0f\n", lines / secs);
    printf("MB/s raw         %.1f\n", raw / secs / 1e6);
    printf("requests         %" PRIu64 " (%.0f lines/request)\n", reqs,
           reqs > errs ? (double)lines / (reqs - errs) : 0);
    printf("errors           %" PRIu64 "\n", errs);
    printf("latency ms       p50 %.2f  p99 %.2f\n", p50 * 1e3, p99 * 1e3);
    printf("client cpu s     %.2f (%.2f cores; %.2f s per GB raw)\n", cpu, cpu / secs,
           raw ? cpu / (raw / 1e9) : 0);
    if (o->needle[0])
        printf("NEEDLE token=%s lines=%" PRIu64 " streams=%u first_ns=%" PRId64
               " last_ns=%" PRId64 "\n", o->needle, needles, nneedle, nmin, nmax);
    printf("RESULT mode=send lines=%" PRIu64 " raw_bytes=%" PRIu64 " body_bytes=%" PRIu64
           " seconds=%.3f lines_per_s=%.0f mb_per_s=%.2f requests=%" PRIu64 " errors=%" PRIu64
           " p50_ms=%.2f p99_ms=%.2f cpu_s=%.3f min_ts=%" PRId64 " max_ts=%" PRId64 "\n",
           lines, raw, body, secs, lines / secs, raw / secs / 1e6, reqs, errs, p50 * 1e3,
           p99 * 1e3, cpu, min_ts, max_ts);
    fflush(stdout);
    curl_global_cleanup();
    return errs ? 1 : 0;
}
