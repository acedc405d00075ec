/* SPDX-License-Identifier: Apache-2.0 */
/* sx-spanload: an OTLP/HTTP trace load generator for benchmarks. It invents
 * the traces of a ten-service shop (frontend, cart, checkout, payment,
 * shipping, email, currency, recommendation, ad, product-catalog; three pods
 * each, with the resource attributes an OpenTelemetry SDK on Kubernetes
 * sets): random trees of 5-50 spans in which a CLIENT span calls another
 * service whose SERVER span continues the tree there, with HTTP, database
 * and internal spans carrying the semantic-convention attributes of
 * today's instrumentations, log-normal-ish durations and about 2 % error
 * spans. Each of --conns threads builds ExportTraceServiceRequest bodies of
 * about --batch spans (grouped by resource and instrumentation scope, as a
 * collector forwards them), encodes them by hand (no protobuf library: the
 * message is written back to front, so every length is known when its
 * prefix is written) and POSTs them to /v1/traces over its own keep-alive
 * connection. A sample of the trace ids, with what a query benchmark needs
 * to know about them, goes to --ids-out once their request is accepted. */

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

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sx-spanload writes protobuf fixed64 fields with memcpy: little-endian hosts only"
#endif

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MIN_SPANS 5
#define MAX_SPANS 50
#define PODS 3
#define NODES 6
#define MAX_DB_PER_VISIT 6
#define MAX_INTERNAL_PER_VISIT 3
/* Upper bound of one encoded span with its share of the enclosing
 * messages: attributes are bounded by the vocabulary below (the longest
 * URL, user agent and statement are under 300 bytes). */
#define MAX_SPAN_BYTES 3072

/* ---- Options ---- */

typedef struct opts {
    const char *url;
    uint64_t spans;        /* spans to send; 0 = no limit (with --seconds) */
    double seconds;        /* stop after this; 0 = no limit */
    double rate;           /* spans/s over all connections; 0 = as fast as possible */
    uint32_t conns;        /* sender threads = keep-alive connections */
    uint32_t batch;        /* spans per request (whole traces: up to 49 more) */
    bool gzip;
    int gzip_level;
    uint64_t seed;
    const char *ids_out;   /* sample of trace ids for a query phase */
    uint32_t ids_max;      /* about this many ids in it */
    double hours;          /* 0: timestamps follow the wall clock; else spread over H hours */
    int64_t end_ns;        /* newest timestamp with --hours (default: now) */
    bool dry_run;
    uint32_t print_traces;
    uint32_t max_errors;
    long timeout_s;
    double progress_s;
    struct curl_slist *headers;
} opts_t;

static opts_t O;

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
static inline double rnd_unit(uint64_t *s)
{
    return (double)(rnd_next(s) >> 11) * 0x1.0p-53;
}

/* Uniform in [a, b). */
static inline double rnd_range(uint64_t *s, double a, double b)
{
    return a + (b - a) * rnd_unit(s);
}

/* Log-normal with the given median and sigma (Box-Muller). */
static double rnd_lognormal(uint64_t *s, double median, double sigma)
{
    double u1 = 1.0 - rnd_unit(s), u2 = rnd_unit(s);
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    return median * exp(sigma * z);
}

/* A hash of a span's parameter, for the ids in its attributes. */
static inline uint64_t mix(uint64_t x, uint64_t salt)
{
    uint64_t s = x ^ (salt * 0xd1b54a32d192ed03ULL);
    return rnd_next(&s);
}

/* ---- The shop ---- */

enum lang { L_GO, L_JAVA, L_PYTHON, L_NODE, L_DOTNET, L_NLANG };

typedef struct lang_info {
    const char *name, *sdk_version;
    const char *http_scope, *http_scope_version;
    const char *db_scope, *db_scope_version;
    const char *client_ua; /* user agent of its HTTP client */
} lang_info_t;

static const lang_info_t langs[L_NLANG] = {
    [L_GO] = {"go", "1.28.0", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
              "0.53.0", "github.com/XSAM/otelsql", "0.32.0", "Go-http-client/1.1"},
    [L_JAVA] = {"java", "1.40.0", "io.opentelemetry.spring-webmvc-6.0", "2.6.0-alpha",
                "io.opentelemetry.jdbc", "2.6.0-alpha", "Java-http-client/21.0.3"},
    [L_PYTHON] = {"python", "1.25.0", "opentelemetry.instrumentation.flask", "0.46b0",
                  "opentelemetry.instrumentation.redis", "0.46b0", "python-requests/2.32.3"},
    [L_NODE] = {"nodejs", "1.25.1", "@opentelemetry/instrumentation-http", "0.52.1",
                "@opentelemetry/instrumentation-pg", "0.43.0", "node"},
    [L_DOTNET] = {"dotnet", "1.9.0", "OpenTelemetry.Instrumentation.AspNetCore", "1.9.0",
                  "OpenTelemetry.Instrumentation.StackExchangeRedis", "1.0.0-rc9.15",
                  "dotnet-http/8.0"},
};

/* Placeholders in paths, keys and statements, each filled from the span's
 * parameter: '#' a 16-hex id, '@' a user number (skewed), '^' one of 400
 * product ids (skewed), '~' a page number, '*' a search word, '%' a
 * currency code. */
typedef struct route {
    const char *method, *route, *path;
} route_t;

/* A database operation: span name, db.operation, db.statement. */
typedef struct dbop {
    const char *name, *op, *stmt;
} dbop_t;

typedef struct service {
    const char *name, *version;
    uint8_t lang;
    uint16_t port;
    route_t routes[6];
    int8_t callees[8];        /* -1 terminated */
    const char *db_system, *db_name, *db_host;
    uint16_t db_port;
    dbop_t dbops[5];
    const char *internal[4];
} service_t;

enum { FRONTEND, CART, CHECKOUT, PAYMENT, SHIPPING, EMAIL, CURRENCY, RECOMMEND, AD, CATALOG,
       NSVC };

#define NOCALL {-1, -1, -1, -1, -1, -1, -1, -1}

static const service_t svcs[NSVC] = {
    [FRONTEND] = {"frontend", "2.1.3", L_NODE, 8080,
                  {{"GET", "/api/cart", "/api/cart"},
                   {"POST", "/api/cart", "/api/cart"},
                   {"GET", "/api/products/{productId}", "/api/products/^"},
                   {"POST", "/api/checkout", "/api/checkout"},
                   {"GET", "/api/recommendations", "/api/recommendations?productIds=^"},
                   {"GET", "/api/data", "/api/data?contextKeys=*"}},
                  {CART, CATALOG, CHECKOUT, CURRENCY, RECOMMEND, AD, SHIPPING, -1},
                  NULL, NULL, NULL, 0, {{0}},
                  {"resolve session", "render page", "getServerSideProps"}},
    [CART] = {"cart", "1.12.0", L_DOTNET, 7070,
              {{"GET", "/cart/{userId}", "/cart/u-@"},
               {"POST", "/cart/{userId}/items", "/cart/u-@/items"},
               {"DELETE", "/cart/{userId}", "/cart/u-@"}},
              NOCALL, "redis", NULL, "redis-cart", 6379,
              {{"HGETALL", "HGETALL", "HGETALL cart:u-@"},
               {"HSET", "HSET", "HSET cart:u-@ ? ?"},
               {"EXPIRE", "EXPIRE", "EXPIRE cart:u-@ ?"},
               {"DEL", "DEL", "DEL cart:u-@"}},
              {"CartService.GetCart", "CartService.AddItem", "ValkeyCartStore.Update"}},
    [CHECKOUT] = {"checkout", "1.8.4", L_GO, 5050,
                  {{"POST", "/checkout/orders", "/checkout/orders"},
                   {"GET", "/checkout/orders/{orderId}", "/checkout/orders/#"}},
                  {CART, CATALOG, CURRENCY, PAYMENT, SHIPPING, EMAIL, -1, -1},
                  "postgresql", "orders", "orders-db", 5432,
                  {{"INSERT orders", "INSERT",
                    "INSERT INTO orders (id, user_id, total_units, total_nanos, currency, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, now())"},
                   {"SELECT orders", "SELECT",
                    "SELECT id, status, total_units, total_nanos, currency FROM orders "
                    "WHERE id = $1"},
                   {"UPDATE orders", "UPDATE", "UPDATE orders SET status = $1 WHERE id = $2"},
                   {"INSERT order_items", "INSERT",
                    "INSERT INTO order_items (order_id, product_id, quantity) "
                    "VALUES ($1, $2, $3)"}},
                  {"prepareOrderItemsAndShippingQuoteFromCart", "PlaceOrder", "convertCurrency"}},
    [PAYMENT] = {"payment", "0.9.12", L_NODE, 50051,
                 {{"POST", "/payments/charge", "/payments/charge"},
                  {"POST", "/payments/{transactionId}/refund", "/payments/#/refund"}},
                 NOCALL, "postgresql", "payments", "payments-db", 5432,
                 {{"INSERT transactions", "INSERT",
                   "INSERT INTO transactions (id, order_id, amount_units, currency, card_last4, "
                   "status) VALUES ($1, $2, $3, $4, $5, $6)"},
                  {"SELECT cards", "SELECT",
                   "SELECT token, brand, exp_month, exp_year FROM cards WHERE user_id = $1 "
                   "AND active"}},
                 {"charge", "validateCard", "fraudCheck"}},
    [SHIPPING] = {"shipping", "3.2.0", L_JAVA, 50050,
                  {{"POST", "/shipping/quote", "/shipping/quote"},
                   {"POST", "/shipping/orders", "/shipping/orders"}},
                  {CURRENCY, -1, -1, -1, -1, -1, -1, -1},
                  "mysql", "shipping", "shipping-db", 3306,
                  {{"SELECT shipping_rates", "SELECT",
                    "SELECT rate_units, rate_nanos FROM shipping_rates WHERE zone = ? AND "
                    "weight_class = ?"},
                   {"INSERT shipments", "INSERT",
                    "INSERT INTO shipments (tracking_id, order_id, address_hash, created_at) "
                    "VALUES (?, ?, ?, NOW())"}},
                  {"ShippingService.getQuote", "ShippingService.shipOrder",
                   "TrackingIdGenerator.next"}},
    [EMAIL] = {"email", "1.4.1", L_PYTHON, 6060,
               {{"POST", "/send_order_confirmation", "/send_order_confirmation"}},
               NOCALL, NULL, NULL, NULL, 0, {{0}},
               {"render confirmation", "send_email", "smtp.send"}},
    [CURRENCY] = {"currency", "1.5.0", L_GO, 7001,
                  {{"GET", "/currency/convert", "/currency/convert?from=USD&to=%"},
                   {"GET", "/currency/supported", "/currency/supported"}},
                  NOCALL, NULL, NULL, NULL, 0, {{0}},
                  {"Convert", "loadRates", "roundMoney"}},
    [RECOMMEND] = {"recommendation", "2.0.7", L_PYTHON, 9001,
                   {{"GET", "/recommendations", "/recommendations?user_id=u-@"}},
                   {CATALOG, -1, -1, -1, -1, -1, -1, -1},
                   "redis", NULL, "redis-recs", 6379,
                   {{"GET", "GET", "GET recs:u-@"}, {"SETEX", "SETEX", "SETEX recs:u-@ ? ?"}},
                   {"get_product_list", "rank_products"}},
    [AD] = {"ad", "1.3.2", L_JAVA, 9555,
            {{"GET", "/ads", "/ads?context_keys=*"}},
            NOCALL, NULL, NULL, NULL, 0, {{0}},
            {"AdService.getAds", "AdService.getRandomAds"}},
    [CATALOG] = {"product-catalog", "1.11.0", L_GO, 3550,
                 {{"GET", "/products/{productId}", "/products/^"},
                  {"GET", "/products", "/products?page=~"},
                  {"GET", "/products/search", "/products/search?q=*"}},
                 NOCALL, "postgresql", "catalog", "catalog-db", 5432,
                 {{"SELECT products", "SELECT",
                   "SELECT id, name, description, picture, price_units, price_nanos, categories "
                   "FROM products WHERE id = $1"},
                  {"SELECT products", "SELECT",
                   "SELECT id, name, price_units, price_nanos FROM products ORDER BY id "
                   "LIMIT 20 OFFSET $1"},
                  {"SELECT products", "SELECT",
                   "SELECT id, name, price_units, price_nanos FROM products WHERE name ILIKE $1 "
                   "OR description ILIKE $1 LIMIT 20"}},
                 {"ListProducts", "SearchProducts", "GetProduct"}},
};

static const char *const browsers[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
};

static const char *const words[] = {
    "shoes", "telescope", "binoculars", "lens", "tripod", "camera", "filter", "mount",
    "eyepiece", "travel", "accessories", "books", "star chart", "solar", "kids", "gift",
};

static const char *const currencies[] = {"EUR", "GBP", "JPY", "CAD", "CHF", "AUD", "SEK",
                                         "NOK", "PLN", "BRL", "INR", "CNY"};

static const char *const card_types[] = {"visa", "visa", "visa", "mastercard", "mastercard",
                                         "amex"};

static const char *const exc_types[] = {
    "context.DeadlineExceeded", "java.net.SocketTimeoutException", "ConnectionResetError",
    "Error", "System.TimeoutException", "pq.Error",
};
static const char *const exc_msgs[] = {
    "context deadline exceeded", "Read timed out", "connection reset by peer",
    "upstream connect error or disconnect/reset before headers",
    "The operation has timed out.", "deadlock detected",
};

static uint8_t nroutes(int s)
{
    uint8_t n = 0;
    while (n < NELEM(svcs[s].routes) && svcs[s].routes[n].method)
        n++;
    return n;
}

static uint8_t ncallees(int s)
{
    uint8_t n = 0;
    while (n < NELEM(svcs[s].callees) && svcs[s].callees[n] >= 0)
        n++;
    return n;
}

static uint8_t ndbops(int s)
{
    uint8_t n = 0;
    while (n < NELEM(svcs[s].dbops) && svcs[s].dbops[n].name)
        n++;
    return n;
}

static uint8_t ninternal(int s)
{
    uint8_t n = 0;
    while (n < NELEM(svcs[s].internal) && svcs[s].internal[n])
        n++;
    return n;
}

/* ---- Spans ---- */

enum cat { C_SERVER, C_CLIENT, C_DB, C_INTERNAL };
static const char *const cat_names[] = {"SERVER", "CLIENT", "DB", "INTERNAL"};
enum { K_INTERNAL = 1, K_SERVER = 2, K_CLIENT = 3 };
enum { SC_HTTP, SC_DB, SC_APP, NSCOPE };

typedef struct span {
    uint64_t tid[2];         /* trace id, big-endian halves */
    uint64_t sid, psid;      /* psid 0: root */
    int64_t start, end;      /* ns since the epoch */
    uint64_t param;          /* the ids in its attributes (a CLIENT and its SERVER share it) */
    uint16_t res;            /* resource (pod) index */
    uint8_t svc;
    uint8_t cat;
    uint8_t op;              /* route (SERVER; CLIENT: the peer's), db op or internal op */
    int8_t peer;             /* CLIENT: the callee; SERVER: the caller (-1: a browser) */
    uint8_t depth;
    bool error;
    uint16_t status;         /* HTTP status (SERVER and CLIENT) */
} span_t;

static uint8_t scope_of(uint8_t cat)
{
    return cat == C_DB ? SC_DB : cat == C_INTERNAL ? SC_APP : SC_HTTP;
}

/* ---- Back-to-front protobuf writer ---- */

/* Writes grow from e->end towards e->base: a nested message's contents
 * are written first, so its length is known when its tag and length go in
 * front of them. Fields, and repeated elements, therefore go in reverse. */
typedef struct renc {
    uint8_t *base, *p, *end;
} renc_t;

static void renc_overflow(void)
{
    fprintf(stderr, "sx-spanload: BUG: request buffer overflow\n");
    abort();
}

static inline void r_bytes(renc_t *e, const void *s, size_t n)
{
    if ((size_t)(e->p - e->base) < n)
        renc_overflow();
    e->p -= n;
    memcpy(e->p, s, n);
}

static inline void r_varint(renc_t *e, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    } while (v);
    tmp[n - 1] &= 0x7f;
    r_bytes(e, tmp, (size_t)n);
}

static inline void r_tag(renc_t *e, uint32_t field, uint32_t wt)
{
    r_varint(e, (uint64_t)field << 3 | wt);
}

/* Close a length-delimited field whose contents run from e->p to mark. */
static inline void r_close(renc_t *e, const uint8_t *mark, uint32_t field)
{
    r_varint(e, (uint64_t)(mark - e->p));
    r_tag(e, field, 2);
}

static inline void r_str(renc_t *e, uint32_t field, const void *s, size_t n)
{
    r_bytes(e, s, n);
    r_varint(e, n);
    r_tag(e, field, 2);
}

static inline void r_cstr(renc_t *e, uint32_t field, const char *s)
{
    r_str(e, field, s, strlen(s));
}

static inline void r_fixed64(renc_t *e, uint32_t field, uint64_t v)
{
    r_bytes(e, &v, 8);
    r_tag(e, field, 1);
}

static inline void r_uint(renc_t *e, uint32_t field, uint64_t v)
{
    r_varint(e, v);
    r_tag(e, field, 0);
}

/* A 64-bit id half as 8 big-endian bytes (hex of the bytes = hex of v). */
static inline void r_be64(renc_t *e, uint64_t v)
{
    v = __builtin_bswap64(v);
    r_bytes(e, &v, 8);
}

/* KeyValue{key = 1, value = 2: AnyValue{string 1 | bool 2 | int 3 |
 * double 4}} as field `field` of the enclosing message. */
static void r_kv_str(renc_t *e, uint32_t field, const char *k, const char *v, size_t vn)
{
    uint8_t *kv = e->p;
    r_str(e, 1, v, vn);
    r_close(e, kv, 2);
    r_cstr(e, 1, k);
    r_close(e, kv, field);
}

static void r_kv_cstr(renc_t *e, uint32_t field, const char *k, const char *v)
{
    r_kv_str(e, field, k, v, strlen(v));
}

static void r_kv_int(renc_t *e, uint32_t field, const char *k, int64_t v)
{
    uint8_t *kv = e->p;
    r_uint(e, 3, (uint64_t)v);
    r_close(e, kv, 2);
    r_cstr(e, 1, k);
    r_close(e, kv, field);
}

static void r_kv_bool(renc_t *e, uint32_t field, const char *k, bool v)
{
    uint8_t *kv = e->p;
    r_uint(e, 2, v);
    r_close(e, kv, 2);
    r_cstr(e, 1, k);
    r_close(e, kv, field);
}

static void r_kv_double(renc_t *e, uint32_t field, const char *k, double v)
{
    uint8_t *kv = e->p;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    r_fixed64(e, 4, bits);
    r_close(e, kv, 2);
    r_cstr(e, 1, k);
    r_close(e, kv, field);
}

/* ---- Text (forward) ---- */

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

static inline char *put_hex(char *p, uint64_t v, int digits)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        p[i] = hx[v & 15];
        v >>= 4;
    }
    return p + digits;
}

/* Skewed towards small values: hot users and products. */
static inline uint64_t skew(uint64_t h, uint64_t n)
{
    uint64_t a = (h & 0xffffffff) % n, b = (h >> 32) % (a + 1);
    return b;
}

/* The trace's user: every span of a trace serves the same one. */
static char *put_user(char *p, const span_t *s)
{
    return put_u(p, 1 + skew(mix(s->tid[0], 1), 50000));
}

/* Product ids look like the OpenTelemetry demo's (10 characters). */
static char *put_product(char *p, uint64_t param)
{
    static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t k = skew(mix(param, 2), 400) * 0x9e3779b97f4a7c15ULL + 12345;
    for (int i = 0; i < 10; i++) {
        *p++ = al[k % 36];
        k = k / 36 + 0x5bd1e995ULL * (uint64_t)(i + 1);
    }
    return p;
}

/* Expand a template (see the placeholders above the route type). */
static char *put_tmpl(char *p, const char *t, const span_t *s)
{
    uint64_t param = s->param;
    for (; *t; t++) {
        switch (*t) {
        case '#': p = put_hex(p, mix(param, 3), 16); break;
        case '@': p = put_user(p, s); break;
        case '^': p = put_product(p, param); break;
        case '~': p = put_u(p, 1 + skew(mix(param, 4), 30)); break;
        case '*': p = put_c(p, words[mix(param, 5) % NELEM(words)]); break;
        case '%': p = put_c(p, currencies[mix(param, 6) % NELEM(currencies)]); break;
        default: *p++ = *t;
        }
    }
    return p;
}

/* ---- Resources and scopes (encoded once) ---- */

typedef struct blob {
    uint8_t *pb;
    size_t len;
} blob_t;

static blob_t resources[NSVC * PODS];
static blob_t scopes[NSVC][NSCOPE];
static char pod_names[NSVC * PODS][64];
static char pod_ips[NSVC * PODS][16];

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sx-spanload: out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "sx-spanload: out of memory\n");
        exit(3);
    }
    return p;
}

static blob_t blob_of(const renc_t *e)
{
    blob_t b = {xmalloc((size_t)(e->end - e->p)), (size_t)(e->end - e->p)};
    memcpy(b.pb, e->p, b.len);
    return b;
}

/* Kubernetes' random-suffix alphabet. */
static void k8s_suffix(char *out, int n, uint64_t *rng)
{
    static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int i = 0; i < n; i++)
        out[i] = al[rnd_below(rng, sizeof(al) - 1)];
    out[n] = '\0';
}

/* Resource{attributes = 1} of every pod and InstrumentationScope{name = 1,
 * version = 2} of every service's three instrumentations. */
static void build_resources(uint64_t seed)
{
    uint64_t rng = seed * 0x1234567ULL + 99;
    uint8_t tmp[4096];
    char nodes[NODES][48];
    for (int i = 0; i < NODES; i++)
        snprintf(nodes[i], sizeof(nodes[i]), "ip-10-0-%u-%u.ec2.internal",
                 (unsigned)(16 * (i % 3) + rnd_below(&rng, 16)),
                 (unsigned)(10 + rnd_below(&rng, 240)));
    for (int s = 0; s < NSVC; s++) {
        const service_t *sv = &svcs[s];
        const lang_info_t *li = &langs[sv->lang];
        char rs[11];
        k8s_suffix(rs, 10, &rng);
        for (int k = 0; k < PODS; k++) {
            int r = s * PODS + k;
            char suf[6], iid[40], *q;
            k8s_suffix(suf, 5, &rng);
            snprintf(pod_names[r], sizeof(pod_names[r]), "%s-%s-%s", sv->name, rs, suf);
            snprintf(pod_ips[r], sizeof(pod_ips[r]), "10.42.%u.%u", (unsigned)rnd_below(&rng, 8),
                     (unsigned)(2 + rnd_below(&rng, 250)));
            q = iid;
            uint64_t a = rnd_next(&rng), b = rnd_next(&rng);
            q = put_hex(q, a >> 32, 8);
            *q++ = '-';
            q = put_hex(q, a >> 16, 4);
            *q++ = '-';
            q = put_hex(q, 0x4000 | (a & 0x0fff), 4);
            *q++ = '-';
            q = put_hex(q, 0x8000 | (b >> 48 & 0x3fff), 4);
            *q++ = '-';
            q = put_hex(q, b, 12);
            *q = '\0';
            const char *node = nodes[(s * PODS + k) % NODES];
            renc_t e = {tmp, tmp + sizeof(tmp), tmp + sizeof(tmp)};
            /* Written back to front: the first attribute ends up first. */
            r_kv_cstr(&e, 1, "telemetry.sdk.version", li->sdk_version);
            r_kv_cstr(&e, 1, "telemetry.sdk.name", "opentelemetry");
            r_kv_cstr(&e, 1, "telemetry.sdk.language", li->name);
            r_kv_cstr(&e, 1, "deployment.environment.name", "production");
            r_kv_cstr(&e, 1, "k8s.node.name", node);
            r_kv_cstr(&e, 1, "k8s.deployment.name", sv->name);
            r_kv_cstr(&e, 1, "k8s.namespace.name", "shop");
            r_kv_cstr(&e, 1, "k8s.pod.name", pod_names[r]);
            r_kv_cstr(&e, 1, "host.name", node);
            r_kv_cstr(&e, 1, "service.instance.id", iid);
            r_kv_cstr(&e, 1, "service.version", sv->version);
            r_kv_cstr(&e, 1, "service.name", sv->name);
            resources[r] = blob_of(&e);
        }
        const char *names[NSCOPE] = {li->http_scope, li->db_scope, sv->name};
        const char *vers[NSCOPE] = {li->http_scope_version, li->db_scope_version, sv->version};
        for (int c = 0; c < NSCOPE; c++) {
            renc_t e = {tmp, tmp + sizeof(tmp), tmp + sizeof(tmp)};
            r_cstr(&e, 2, vers[c]);
            r_cstr(&e, 1, names[c]);
            scopes[s][c] = blob_of(&e);
        }
    }
}

/* ---- Trace generation ---- */

/* What the query phase needs to know of a sampled trace. */
typedef struct idrec {
    uint64_t tid[2];
    int64_t start, end;
    uint32_t nspans, errors;
    uint16_t svcmask;
    uint8_t root_svc, root_op;
    uint64_t routes; /* bit svc * 6 + route of every SERVER span */
} idrec_t;

typedef struct worker {
    uint32_t id;
    uint64_t rng;
    span_t *spans;
    size_t n, cap;
    uint32_t *order;           /* span indices grouped by (resource, scope) */
    uint32_t cnt[NSVC * PODS * NSCOPE + 1];
    uint8_t *buf;              /* the encoder's buffer */
    size_t bufcap;
    const uint8_t *body;       /* the encoded request (into buf or gz) */
    size_t body_len;
    z_stream zs;
    uint8_t *gz;
    size_t gzcap;
    uint64_t target, built;    /* spans this thread sends, and has built */
    uint64_t traces;
    idrec_t *ids;              /* sampled traces of the request being built */
    size_t nids, idcap;
    double t_start;
    double *lat;
    size_t nlat, latcap;
    int64_t min_ts, max_ts;
    uint64_t error_spans, kinds[4];
    atomic_bool finished;
} worker_t;

static double ids_prob; /* chance that a trace is sampled for --ids-out */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static span_t *new_span(worker_t *w)
{
    if (w->n == w->cap) {
        fprintf(stderr, "sx-spanload: BUG: span buffer full\n");
        abort();
    }
    span_t *s = &w->spans[w->n++];
    memset(s, 0, sizeof(*s));
    s->sid = rnd_next(&w->rng) | 1; /* never zero */
    s->param = rnd_next(&w->rng);
    return s;
}

static uint16_t ok_status(uint64_t *r, const char *method)
{
    uint64_t x = rnd_below(r, 1000);
    if (x < 8)
        return 404;
    if (x < 12)
        return 400;
    if (method[0] == 'P' && method[1] == 'O')
        return x < 600 ? 201 : 200;
    if (method[0] == 'D')
        return 204;
    return 200;
}

static uint16_t err_status(uint64_t *r)
{
    static const uint16_t v[] = {500, 500, 500, 502, 503, 504};
    return v[rnd_below(r, NELEM(v))];
}

/* Mark span i as failed; half the time the failure reaches its parent p
 * too (SIZE_MAX: no parent to tell). */
static void fail(worker_t *w, size_t i, size_t p)
{
    span_t *s = &w->spans[i];
    s->error = true;
    if (s->cat == C_SERVER || s->cat == C_CLIENT)
        s->status = err_status(&w->rng);
    if (p != SIZE_MAX && rnd_below(&w->rng, 2) == 0) {
        span_t *ps = &w->spans[p];
        ps->error = true;
        if (ps->cat == C_SERVER || ps->cat == C_CLIENT)
            ps->status = s->status ? s->status : 500;
    }
}

/* One trace ending near end_ns appended to w->spans: a root SERVER span,
 * then children of random earlier SERVER or INTERNAL spans until the
 * drawn size is reached. A call adds a CLIENT span and the callee's
 * SERVER span under it, which continues the tree in that service. */
static void gen_trace(worker_t *w, int64_t end_ns)
{
    uint64_t *r = &w->rng;
    uint32_t want = MIN_SPANS + (uint32_t)((MAX_SPANS - MIN_SPANS + 1) * pow(rnd_unit(r), 1.6));
    if (want > MAX_SPANS)
        want = MAX_SPANS;
    size_t base = w->n;
    uint64_t tid0 = rnd_next(r), tid1 = rnd_next(r) | 1;
    /* Requests come in through the frontend; some start at checkout (a
     * retried order) or recommendation (a precomputing job). */
    uint64_t rs = rnd_below(r, 100);
    int root_svc = rs < 85 ? FRONTEND : rs < 95 ? CHECKOUT : RECOMMEND;
    double dur_ms = rnd_lognormal(r, 5.0 * pow(want / 5.0, 0.8), 1.0);
    if (dur_ms < 0.5)
        dur_ms = 0.5;
    if (dur_ms > 30000)
        dur_ms = 30000;
    span_t *root = new_span(w);
    root->svc = (uint8_t)root_svc;
    root->res = (uint16_t)(root_svc * PODS + rnd_below(r, PODS));
    root->cat = C_SERVER;
    root->op = (uint8_t)rnd_below(r, nroutes(root_svc));
    root->peer = -1;
    root->end = end_ns - (int64_t)rnd_below(r, 200000000);
    root->start = root->end - (int64_t)(dur_ms * 1e6);
    root->status = ok_status(r, svcs[root_svc].routes[root->op].method);
    /* Per span (trace-local index): the SERVER span through which the
     * request entered its service (a visit), and per visit its internal
     * and database spans, of which a service makes a few per request. */
    uint8_t visit[MAX_SPANS + 2], nint_of[MAX_SPANS + 2], ndb_of[MAX_SPANS + 2];
    uint32_t exp[MAX_SPANS], nexp = 0; /* spans that may get children */
    visit[0] = 0;
    nint_of[0] = ndb_of[0] = 0;
    exp[nexp++] = 0;
    uint32_t n = 1;
    while (n < want && nexp) {
        uint32_t ei = (uint32_t)rnd_below(r, nexp), pl = exp[ei];
        size_t p = base + pl;
        int s = w->spans[p].svc;
        uint8_t v = visit[pl], nc = ncallees(s), nd = ndbops(s), ni = ninternal(s);
        uint32_t wc = nc && n + 2 <= want ? 50 : 0;
        uint32_t wd = nd && ndb_of[v] < MAX_DB_PER_VISIT ? 35 : 0;
        uint32_t wi = ni && nint_of[v] < MAX_INTERNAL_PER_VISIT ? 15 : 0;
        if (!wc && !wd && !wi) {
            exp[ei] = exp[--nexp];
            continue;
        }
        uint64_t x = rnd_below(r, wc + wd + wi);
        int act = x < wc ? 0 : x < wc + wd ? 1 : 2; /* call, database, internal */
        span_t *ps = &w->spans[p];
        int64_t pdur = ps->end - ps->start;
        int64_t cs = ps->start + (int64_t)((double)pdur * rnd_range(r, 0.02, 0.3));
        int64_t room = ps->end - cs;
        uint8_t depth = (uint8_t)(ps->depth + 1);
        uint64_t psid = ps->sid;
        uint16_t res = ps->res;
        span_t *c = new_span(w); /* ps is not used past here */
        size_t ci = w->n - 1;
        visit[ci - base] = v;
        c->res = res;
        c->svc = (uint8_t)s;
        c->depth = depth;
        c->psid = psid;
        c->start = cs;
        if (act != 0) /* the ids of one visit (an order, a cart) are the same */
            c->param = w->spans[base + v].param;
        n++;
        if (act == 0) {
            int callee = svcs[s].callees[rnd_below(r, nc)];
            c->cat = C_CLIENT;
            c->peer = (int8_t)callee;
            c->op = (uint8_t)rnd_below(r, nroutes(callee));
            c->end = cs + (int64_t)((double)room * rnd_range(r, 0.4, 0.95));
            if (c->end - c->start < 200000) /* an HTTP call takes 200 us at least */
                c->end = c->start + 200000;
            c->status = ok_status(r, svcs[callee].routes[c->op].method);
            /* The callee's SERVER span, a network hop inside the CLIENT span. */
            int64_t cd = c->end - c->start, net = 60000 + (int64_t)rnd_below(r, 600000);
            if (net > cd / 10)
                net = cd / 10;
            span_t cc = *c;
            span_t *sv = new_span(w);
            sv->svc = (uint8_t)callee;
            sv->res = (uint16_t)(callee * PODS + rnd_below(r, PODS));
            sv->cat = C_SERVER;
            sv->op = cc.op;
            sv->peer = (int8_t)s;
            sv->depth = (uint8_t)(cc.depth + 1);
            sv->psid = cc.sid;
            sv->start = cc.start + net;
            sv->end = cc.end - net;
            sv->param = cc.param;
            sv->status = cc.status;
            n++;
            uint32_t sl = (uint32_t)(w->n - 1 - base);
            visit[sl] = (uint8_t)sl;
            nint_of[sl] = ndb_of[sl] = 0;
            exp[nexp++] = sl;
            if (rnd_below(r, 1000) < 20) {
                fail(w, w->n - 1, SIZE_MAX);
                w->spans[ci].error = true;
                w->spans[ci].status = w->spans[w->n - 1].status;
                if (rnd_below(r, 2) == 0)
                    fail(w, ci, p);
            }
        } else {
            if (act == 1) {
                ndb_of[v]++;
                c->cat = C_DB;
                c->op = (uint8_t)rnd_below(r, nd);
                int64_t d = (int64_t)(rnd_lognormal(r, 1.2, 1.0) * 1e6);
                if (d > room * 95 / 100)
                    d = room * 95 / 100;
                if (d < 20000)
                    d = 20000;
                c->end = cs + d;
            } else {
                nint_of[v]++;
                c->cat = C_INTERNAL;
                c->op = (uint8_t)rnd_below(r, ni);
                c->end = cs + (int64_t)((double)room * rnd_range(r, 0.3, 0.9));
                if (c->end - c->start < 5000)
                    c->end = c->start + 5000;
                exp[nexp++] = (uint32_t)(ci - base);
            }
            if (rnd_below(r, 1000) < 15)
                fail(w, ci, p);
        }
    }
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    uint32_t errors = 0;
    uint16_t svcmask = 0;
    uint64_t routes = 0;
    for (size_t i = base; i < w->n; i++) {
        span_t *s = &w->spans[i];
        s->tid[0] = tid0;
        s->tid[1] = tid1;
        tmin = s->start < tmin ? s->start : tmin;
        tmax = s->end > tmax ? s->end : tmax;
        errors += s->error;
        svcmask |= (uint16_t)(1u << s->svc);
        if (s->cat == C_SERVER)
            routes |= 1ULL << (s->svc * 6 + s->op);
        w->kinds[s->cat]++;
    }
    w->error_spans += errors;
    w->traces++;
    if (tmin < w->min_ts || !w->min_ts)
        w->min_ts = tmin;
    if (tmax > w->max_ts)
        w->max_ts = tmax;
    if (ids_prob > 0 && rnd_unit(r) < ids_prob) {
        if (w->nids == w->idcap) {
            w->idcap = w->idcap ? w->idcap * 2 : 64;
            w->ids = realloc(w->ids, w->idcap * sizeof(idrec_t));
            if (!w->ids) {
                fprintf(stderr, "sx-spanload: out of memory\n");
                exit(3);
            }
        }
        w->ids[w->nids++] = (idrec_t){{tid0, tid1}, tmin, tmax, (uint32_t)(w->n - base), errors,
                                      svcmask, (uint8_t)root_svc, root->op, routes};
    }
}

/* ---- Encoding ---- */

/* One Span (fields in reverse: status 15, events 11, attributes 9, end 8,
 * start 7, kind 6, name 5, parent 4, span id 2, trace id 1) as field 2 of
 * its ScopeSpans. */
static void encode_span(renc_t *e, const span_t *s)
{
    const service_t *sv = &svcs[s->svc];
    char t[512], *q;
    uint8_t *mark = e->p;
    /* Status{message = 2, code = 3}. */
    {
        uint8_t *m = e->p;
        if (s->error) {
            r_uint(e, 3, 2);
            if (s->cat == C_DB || s->cat == C_INTERNAL)
                r_cstr(e, 2, exc_msgs[mix(s->param, 7) % NELEM(exc_msgs)]);
        }
        r_close(e, m, 15);
    }
    /* An exception event on failed database and internal spans and on
     * half the failed SERVER spans: Event{time 1, name 2, attributes 3}. */
    if (s->error && (s->cat != C_CLIENT) && (s->cat != C_SERVER || (s->param & 1))) {
        uint8_t *m = e->p;
        size_t k = mix(s->param, 7) % NELEM(exc_msgs);
        r_kv_cstr(e, 3, "exception.message", exc_msgs[k]);
        r_kv_cstr(e, 3, "exception.type", exc_types[k]);
        r_cstr(e, 2, "exception");
        r_fixed64(e, 1, (uint64_t)(s->end - 1000));
        r_close(e, m, 11);
    }
    /* Attributes (field 9), last first. */
    switch (s->cat) {
    case C_SERVER: {
        const route_t *rt = &sv->routes[s->op];
        bool browser = s->peer < 0;
        if (browser) {
            r_kv_cstr(e, 9, "user_agent.original",
                      browsers[mix(s->param, 8) % NELEM(browsers)]);
            uint64_t h = mix(s->param, 9);
            q = put_c(t, "");
            q = put_u(q, 1 + h % 223);
            *q++ = '.';
            q = put_u(q, h >> 8 & 255);
            *q++ = '.';
            q = put_u(q, h >> 16 & 255);
            *q++ = '.';
            q = put_u(q, 1 + (h >> 24) % 254);
            r_kv_str(e, 9, "client.address", t, (size_t)(q - t));
        } else {
            r_kv_cstr(e, 9, "user_agent.original", langs[svcs[s->peer].lang].client_ua);
            r_kv_cstr(e, 9, "client.address", pod_ips[s->peer * PODS + s->param % PODS]);
        }
        r_kv_int(e, 9, "http.response.status_code", s->status);
        r_kv_cstr(e, 9, "network.protocol.version", browser ? "2" : "1.1");
        r_kv_int(e, 9, "server.port", browser ? 443 : sv->port);
        r_kv_cstr(e, 9, "server.address", browser ? "shop.example.com" : sv->name);
        q = put_c(t, browser ? "https://shop.example.com" : "http://");
        if (!browser) {
            q = put_c(q, sv->name);
            *q++ = ':';
            q = put_u(q, sv->port);
        }
        q = put_tmpl(q, rt->path, s);
        r_kv_str(e, 9, "url.full", t, (size_t)(q - t));
        r_kv_cstr(e, 9, "url.scheme", browser ? "https" : "http");
        r_kv_cstr(e, 9, "http.route", rt->route);
        r_kv_cstr(e, 9, "http.request.method", rt->method);
        break;
    }
    case C_CLIENT: {
        const service_t *pv = &svcs[s->peer];
        const route_t *rt = &pv->routes[s->op];
        r_kv_int(e, 9, "http.response.status_code", s->status);
        r_kv_cstr(e, 9, "network.protocol.version", "1.1");
        r_kv_int(e, 9, "server.port", pv->port);
        r_kv_cstr(e, 9, "server.address", pv->name);
        q = put_c(t, "http://");
        q = put_c(q, pv->name);
        *q++ = ':';
        q = put_u(q, pv->port);
        q = put_tmpl(q, rt->path, s);
        r_kv_str(e, 9, "url.full", t, (size_t)(q - t));
        r_kv_cstr(e, 9, "http.request.method", rt->method);
        break;
    }
    case C_DB: {
        const dbop_t *op = &sv->dbops[s->op];
        r_kv_int(e, 9, "server.port", sv->db_port);
        r_kv_cstr(e, 9, "server.address", sv->db_host);
        q = put_tmpl(t, op->stmt, s);
        r_kv_str(e, 9, "db.statement", t, (size_t)(q - t));
        r_kv_cstr(e, 9, "db.operation", op->op);
        if (sv->db_name) {
            r_kv_cstr(e, 9, "db.user", "app");
            r_kv_cstr(e, 9, "db.name", sv->db_name);
        } else {
            r_kv_int(e, 9, "db.redis.database_index", s->svc == CART ? 0 : 1);
        }
        r_kv_cstr(e, 9, "db.system", sv->db_system);
        break;
    }
    default: {
        uint64_t h = mix(s->param, 10);
        switch (s->svc) {
        case FRONTEND:
            q = put_hex(t, h, 16);
            q = put_hex(q, mix(h, 1), 16);
            r_kv_str(e, 9, "app.session.id", t, (size_t)(q - t));
            break;
        case CART:
            r_kv_int(e, 9, "app.cart.items.count", (int64_t)(h % 9));
            q = put_c(t, "u-");
            q = put_user(q, s);
            r_kv_str(e, 9, "app.user.id", t, (size_t)(q - t));
            break;
        case CHECKOUT:
            r_kv_int(e, 9, "app.order.items.count", (int64_t)(1 + h % 6));
            r_kv_double(e, 9, "app.order.amount", (double)(h % 100000) / 100.0);
            q = put_hex(t, mix(h, 2), 16);
            r_kv_str(e, 9, "app.order.id", t, (size_t)(q - t));
            q = put_c(t, "u-");
            q = put_user(q, s);
            r_kv_str(e, 9, "app.user.id", t, (size_t)(q - t));
            break;
        case PAYMENT:
            r_kv_bool(e, 9, "app.payment.card_valid", !s->error);
            r_kv_double(e, 9, "app.payment.amount", (double)(h % 100000) / 100.0);
            r_kv_cstr(e, 9, "app.payment.card_type", card_types[(h >> 20) % NELEM(card_types)]);
            break;
        case SHIPPING:
            r_kv_double(e, 9, "app.shipping.cost.total", (double)(h % 5000) / 100.0);
            q = put_u(t, 10000 + (h >> 16) % 89999);
            r_kv_str(e, 9, "app.shipping.zip_code", t, (size_t)(q - t));
            break;
        case EMAIL:
            q = put_hex(t, mix(h, 2), 16);
            r_kv_str(e, 9, "app.order.id", t, (size_t)(q - t));
            break;
        case CURRENCY:
            r_kv_cstr(e, 9, "app.currency.conversion.to", currencies[h % NELEM(currencies)]);
            r_kv_cstr(e, 9, "app.currency.conversion.from", "USD");
            break;
        case RECOMMEND:
            r_kv_bool(e, 9, "app.recommendation.cache_enabled", true);
            r_kv_int(e, 9, "app.products_recommended.count", (int64_t)(h % 5));
            break;
        case AD:
            r_kv_int(e, 9, "app.ads.count", (int64_t)(1 + h % 2));
            r_kv_cstr(e, 9, "app.ads.contextKeys", words[h % NELEM(words)]);
            break;
        default:
            r_kv_int(e, 9, "app.products.count", (int64_t)(h % 20));
            q = put_product(t, s->param);
            r_kv_str(e, 9, "app.product.id", t, (size_t)(q - t));
        }
        break;
    }
    }
    r_fixed64(e, 8, (uint64_t)s->end);
    r_fixed64(e, 7, (uint64_t)s->start);
    r_uint(e, 6, s->cat == C_SERVER ? K_SERVER : s->cat == C_INTERNAL ? K_INTERNAL : K_CLIENT);
    /* Name. */
    if (s->cat == C_SERVER || s->cat == C_CLIENT) {
        const route_t *rt = &svcs[s->cat == C_SERVER ? s->svc : s->peer].routes[s->op];
        q = put_c(t, rt->method);
        *q++ = ' ';
        q = put_c(q, rt->route);
        r_str(e, 5, t, (size_t)(q - t));
    } else {
        r_cstr(e, 5, s->cat == C_DB ? sv->dbops[s->op].name : sv->internal[s->op]);
    }
    if (s->psid) {
        r_be64(e, s->psid);
        r_varint(e, 8);
        r_tag(e, 4, 2);
    }
    r_be64(e, s->sid);
    r_varint(e, 8);
    r_tag(e, 2, 2);
    r_be64(e, s->tid[1]);
    r_be64(e, s->tid[0]);
    r_varint(e, 16);
    r_tag(e, 1, 2);
    r_close(e, mark, 2);
}

/* Encode w->spans as one ExportTraceServiceRequest{resource_spans = 1}:
 * ResourceSpans{resource = 1, scope_spans = 2} per pod, ScopeSpans{scope =
 * 1, spans = 2} per instrumentation. Sets w->body. */
static void encode_request(worker_t *w)
{
    enum { NK = NSVC * PODS * NSCOPE };
    memset(w->cnt, 0, sizeof(w->cnt));
    for (size_t i = 0; i < w->n; i++)
        w->cnt[w->spans[i].res * NSCOPE + scope_of(w->spans[i].cat) + 1]++;
    for (int k = 1; k <= NK; k++)
        w->cnt[k] += w->cnt[k - 1];
    /* cnt[k] is now the start of group k; fill, then cnt[k] is its end. */
    for (size_t i = 0; i < w->n; i++)
        w->order[w->cnt[w->spans[i].res * NSCOPE + scope_of(w->spans[i].cat)]++] = (uint32_t)i;
    renc_t e = {w->buf, w->buf + w->bufcap, w->buf + w->bufcap};
    for (int r = NSVC * PODS - 1; r >= 0; r--) {
        uint32_t rbeg = r ? w->cnt[r * NSCOPE - 1] : 0, rend = w->cnt[r * NSCOPE + NSCOPE - 1];
        if (rbeg == rend)
            continue;
        uint8_t *rs = e.p;
        for (int c = NSCOPE - 1; c >= 0; c--) {
            int k = r * NSCOPE + c;
            uint32_t beg = k ? w->cnt[k - 1] : 0, end = w->cnt[k];
            if (beg == end)
                continue;
            uint8_t *ss = e.p;
            for (uint32_t j = end; j-- > beg;)
                encode_span(&e, &w->spans[w->order[j]]);
            const blob_t *sc = &scopes[r / PODS][c];
            r_str(&e, 1, sc->pb, sc->len);
            r_close(&e, ss, 2);
        }
        r_str(&e, 1, resources[r].pb, resources[r].len);
        r_close(&e, rs, 1);
    }
    w->body = e.p;
    w->body_len = (size_t)(e.end - e.p);
}

/* gzip the body into w->gz (level --gzip-level). */
static void gzip_body(worker_t *w)
{
    z_stream *zs = &w->zs;
    if (deflateReset(zs) != Z_OK) {
        fprintf(stderr, "sx-spanload: deflateReset failed\n");
        exit(3);
    }
    size_t bound = deflateBound(zs, w->body_len) + 64;
    if (bound > w->gzcap) {
        free(w->gz);
        w->gzcap = bound * 2;
        w->gz = xmalloc(w->gzcap);
    }
    zs->next_in = (Bytef *)w->body;
    zs->avail_in = (uInt)w->body_len;
    zs->next_out = w->gz;
    zs->avail_out = (uInt)w->gzcap;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END) {
        fprintf(stderr, "sx-spanload: deflate failed\n");
        exit(3);
    }
    w->body = w->gz;
    w->body_len = zs->total_out;
}

/* Share of this thread's spans built so far, in [0, 1]. */
static double progress_of(const worker_t *w)
{
    double f;
    if (w->target)
        f = (double)w->built / (double)w->target;
    else
        f = O.seconds > 0 ? (now_s() - w->t_start) / O.seconds : 0;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* Build the next request's spans (whole traces, at least --batch spans
 * unless the thread's target is reached first) and encode them. Returns
 * the span count. */
static uint32_t build_request(worker_t *w)
{
    w->n = 0;
    w->nids = 0;
    uint64_t want = O.batch;
    if (w->target && w->target - w->built < want)
        want = w->target - w->built;
    int64_t span = (int64_t)(O.hours * 3600e9);
    while (w->n < want) {
        int64_t end;
        if (O.hours > 0) {
            double f = w->target ? (double)(w->built + w->n) / (double)w->target : progress_of(w);
            end = O.end_ns - span + (int64_t)(f * (double)span);
        } else {
            end = now_ns();
        }
        gen_trace(w, end);
    }
    w->built += w->n;
    encode_request(w);
    if (O.gzip)
        gzip_body(w);
    return (uint32_t)w->n;
}

/* ---- Sending ---- */

static atomic_uint_fast64_t g_spans_ok, g_traces_ok, g_body_ok, g_requests, g_errors;
static atomic_uint_fast64_t g_rejected, g_spans_built;
static atomic_bool g_stop;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_ids;
static uint64_t g_ids_written;

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

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; sh < 64 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* rejected_spans of an ExportTraceServiceResponse{partial_success = 1
 * {rejected_spans = 1, error_message = 2}}; 0 when absent. */
static uint64_t rejected_spans(const resp_t *r)
{
    const uint8_t *p = (const uint8_t *)r->body, *end = p + r->len;
    uint64_t tag, len, v;
    while (p < end && pb_varint(&p, end, &tag)) {
        if ((tag & 7) != 2 || !pb_varint(&p, end, &len) || len > (uint64_t)(end - p))
            return 0;
        if (tag >> 3 != 1) {
            p += len;
            continue;
        }
        const uint8_t *q = p, *qe = p + len;
        while (q < qe && pb_varint(&q, qe, &tag)) {
            if (tag == 8)
                return pb_varint(&q, qe, &v) ? v : 0;
            if ((tag & 7) != 2 || !pb_varint(&q, qe, &len) || len > (uint64_t)(qe - q))
                return 0;
            q += len;
        }
        return 0;
    }
    return 0;
}

static void note_error(uint32_t id, const char *what, const resp_t *r)
{
    uint64_t n = atomic_fetch_add(&g_errors, 1) + 1;
    size_t len = r ? r->len : 0;
    while (len && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r'))
        len--;
    pthread_mutex_lock(&g_lock);
    if (n <= 3 || n == O.max_errors)
        fprintf(stderr, "sx-spanload: thread %u: %s%s%.*s\n", id, what, len ? ": " : "",
                (int)(len > 600 ? 600 : len), r ? r->body : "");
    if (n >= O.max_errors && !atomic_load(&g_stop)) {
        fprintf(stderr, "sx-spanload: %" PRIu64 " failed requests, aborting\n", n);
        atomic_store(&g_stop, true);
    }
    pthread_mutex_unlock(&g_lock);
}

static const char *svc_names_of(uint16_t mask, char *out)
{
    char *q = out;
    for (int s = 0; s < NSVC; s++)
        if (mask & (1u << s)) {
            if (q != out)
                *q++ = ',';
            q = put_c(q, svcs[s].name);
        }
    *q = '\0';
    return out;
}

/* The sampled traces of an accepted request, one line each:
 * trace_id spans start_ns end_ns errors root_service root_name services routes */
static void write_ids(worker_t *w)
{
    if (!g_ids || !w->nids)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < w->nids; i++) {
        const idrec_t *d = &w->ids[i];
        char hex[33], svcl[160];
        put_hex(put_hex(hex, d->tid[0], 16), d->tid[1], 16);
        hex[32] = '\0';
        const route_t *rt = &svcs[d->root_svc].routes[d->root_op];
        fprintf(g_ids, "%s\t%u\t%" PRId64 "\t%" PRId64 "\t%u\t%s\t%s %s\t%s\t", hex, d->nspans,
                d->start, d->end, d->errors, svcs[d->root_svc].name, rt->method, rt->route,
                svc_names_of(d->svcmask, svcl));
        bool first = true;
        for (int s = 0; s < NSVC; s++)
            for (int k = 0; k < 6; k++)
                if (d->routes >> (s * 6 + k) & 1) {
                    fprintf(g_ids, "%s%s|%s", first ? "" : ",", svcs[s].name,
                            svcs[s].routes[k].route);
                    first = false;
                }
        fputc('\n', g_ids);
        g_ids_written++;
    }
    pthread_mutex_unlock(&g_lock);
}

static void *sender_main(void *arg)
{
    worker_t *w = arg;
    resp_t resp;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    if (!O.dry_run) {
        for (struct curl_slist *x = O.headers; x; x = x->next)
            hdrs = curl_slist_append(hdrs, x->data);
        h = curl_easy_init();
        if (!h || !hdrs) {
            fprintf(stderr, "sx-spanload: cannot set up libcurl\n");
            exit(3);
        }
        curl_easy_setopt(h, CURLOPT_URL, O.url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, O.timeout_s);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "sx-spanload/0.1 (OTLP/HTTP traces)");
    }
    double per_thread_rate = O.rate > 0 ? O.rate / O.conns : 0;
    uint64_t sent = 0;
    while (!atomic_load(&g_stop)) {
        if (w->target && w->built >= w->target)
            break;
        if (O.seconds > 0 && now_s() - w->t_start >= O.seconds)
            break;
        uint64_t traces0 = w->traces;
        uint32_t n = build_request(w);
        atomic_fetch_add(&g_spans_built, n);
        if (O.dry_run) {
            atomic_fetch_add(&g_spans_ok, n);
            atomic_fetch_add(&g_traces_ok, w->traces - traces0);
            atomic_fetch_add(&g_body_ok, w->body_len);
            atomic_fetch_add(&g_requests, 1);
            continue;
        }
        if (per_thread_rate > 0) {
            double due = w->t_start + (double)sent / per_thread_rate, now = now_s();
            if (due > now) {
                struct timespec nap = {(time_t)(due - now),
                                       (long)((due - now - (double)(time_t)(due - now)) * 1e9)};
                nanosleep(&nap, NULL);
            }
        }
        sent += n;
        resp.len = 0;
        resp.body[0] = '\0';
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)w->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body_len);
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(h);
        if (w->nlat == w->latcap) {
            w->latcap = w->latcap ? w->latcap * 2 : 4096;
            w->lat = realloc(w->lat, w->latcap * sizeof(double));
            if (!w->lat) {
                fprintf(stderr, "sx-spanload: out of memory\n");
                exit(3);
            }
        }
        w->lat[w->nlat++] = now_s() - t0;
        atomic_fetch_add(&g_requests, 1);
        if (rc != CURLE_OK) {
            note_error(w->id, curl_easy_strerror(rc), NULL);
            continue;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            char what[64];
            snprintf(what, sizeof(what), "HTTP %ld", status);
            note_error(w->id, what, &resp);
            continue;
        }
        uint64_t rej = rejected_spans(&resp);
        if (rej) {
            atomic_fetch_add(&g_rejected, rej);
            note_error(w->id, "partial success: spans rejected", NULL);
            continue;
        }
        atomic_fetch_add(&g_spans_ok, n);
        atomic_fetch_add(&g_traces_ok, w->traces - traces0);
        atomic_fetch_add(&g_body_ok, w->body_len);
        write_ids(w);
    }
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    atomic_store(&w->finished, true);
    return NULL;
}

/* ---- --print-traces ---- */

static void print_span_tree(const span_t *v, size_t n, uint64_t parent, int depth)
{
    for (size_t i = 0; i < n; i++) {
        const span_t *s = &v[i];
        if (s->psid != parent)
            continue;
        const service_t *sv = &svcs[s->svc];
        char name[160];
        if (s->cat == C_SERVER || s->cat == C_CLIENT) {
            const route_t *rt = &svcs[s->cat == C_SERVER ? s->svc : s->peer].routes[s->op];
            snprintf(name, sizeof(name), "%s %s", rt->method, rt->route);
        } else {
            snprintf(name, sizeof(name), "%s",
                     s->cat == C_DB ? sv->dbops[s->op].name : sv->internal[s->op]);
        }
        char extra[400] = "", t[300], *q;
        if (s->cat == C_SERVER || s->cat == C_CLIENT) {
            const service_t *pv = &svcs[s->cat == C_SERVER ? s->svc : s->peer];
            q = put_tmpl(t, pv->routes[s->op].path, s);
            *q = '\0';
            snprintf(extra, sizeof(extra), "%u %s", s->status, t);
        } else if (s->cat == C_DB) {
            q = put_tmpl(t, sv->dbops[s->op].stmt, s);
            *q = '\0';
            snprintf(extra, sizeof(extra), "%s: %.60s%s", sv->db_system, t,
                     strlen(t) > 60 ? "..." : "");
        }
        printf("  %*s%-15s %-8s %-40s %9.3f ms  %s%s\n", depth * 2, "", sv->name,
               cat_names[s->cat], name, (double)(s->end - s->start) / 1e6,
               s->error ? "ERROR " : "", extra);
        print_span_tree(v, n, s->sid, depth + 1);
    }
}

static int run_print(worker_t *w)
{
    int64_t end = O.end_ns;
    for (uint32_t i = 0; i < O.print_traces; i++) {
        w->n = 0;
        gen_trace(w, end);
        const span_t *root = &w->spans[0];
        printf("trace %016" PRIx64 "%016" PRIx64 ": %zu spans, %.3f ms\n", root->tid[0],
               root->tid[1], w->n, (double)(root->end - root->start) / 1e6);
        print_span_tree(w->spans, w->n, 0, 0);
        end += 1000000000;
    }
    return 0;
}

/* ---- Command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sx-spanload --url URL [options]\n"
            "Send realistic traces (OTLP protobuf) to an OTLP/HTTP traces endpoint.\n\n"
            "  --url URL          endpoint (http://127.0.0.1:4318/v1/traces)\n"
            "  --spans N          spans to send (default 1000000; 0 with --seconds)\n"
            "  --seconds S        stop after S seconds whatever was sent\n"
            "  --rate R           spans/s over all connections; 0 = as fast as possible (0)\n"
            "  --conns C          sender threads = keep-alive connections (default 4)\n"
            "  --batch N          spans per request, in whole traces (default 1000)\n"
            "  --gzip             gzip every body (Content-Encoding: gzip)\n"
            "  --gzip-level N     zlib level (default 1)\n"
            "  --seed N           random seed (default 1)\n"
            "  --ids-out FILE     write a sample of the sent trace ids, one per line:\n"
            "                     trace_id spans start_ns end_ns errors root_service\n"
            "                     root_name services service|route,... (tab-separated)\n"
            "  --ids-max N        about this many ids in it (default 2000)\n"
            "  --hours H          spread timestamps over the last H hours in proportion\n"
            "                     to the spans sent (default 0: the wall clock)\n"
            "  --end-ms MS        newest timestamp with --hours (default now)\n"
            "  --header 'K: V'    extra request header (repeatable), e.g. X-Scope-OrgID\n"
            "  --max-errors N     abort after N failed requests (default 5)\n"
            "  --timeout S        per-request timeout in seconds (default 60)\n"
            "  --progress S       progress period on stderr, 0 for none (default 5)\n"
            "  --dry-run          only build and encode the bodies, print the speed\n"
            "  --print-traces N   print N generated traces as trees, exit\n");
}

static uint64_t parse_u64(const char *name, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    double d = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K' || *end == 'M' || *end == 'G') {
        /* 10M spans, 500k spans */
        d = strtod(s, &end);
        double m = *end == 'G' ? 1e9 : *end == 'M' ? 1e6 : 1e3;
        end++;
        v = (unsigned long long)(d * m);
    }
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "sx-spanload: bad %s '%s' (want %" PRIu64 "..%" PRIu64 ")\n", name, s,
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
        fprintf(stderr, "sx-spanload: bad %s '%s' (want %g..%g)\n", name, s, min, max);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv)
{
    enum { O_URL = 256, O_SPANS, O_SECONDS, O_RATE, O_CONNS, O_BATCH, O_GZIP, O_GZLEVEL,
           O_SEED, O_IDS, O_IDSMAX, O_HOURS, O_END, O_HEADER, O_MAXERR, O_TIMEOUT, O_PROGRESS,
           O_DRY, O_PRINT, O_HELP };
    static const struct option lopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"spans", required_argument, NULL, O_SPANS},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"rate", required_argument, NULL, O_RATE},
        {"conns", required_argument, NULL, O_CONNS},
        {"batch", required_argument, NULL, O_BATCH},
        {"gzip", no_argument, NULL, O_GZIP},
        {"gzip-level", required_argument, NULL, O_GZLEVEL},
        {"seed", required_argument, NULL, O_SEED},
        {"ids-out", required_argument, NULL, O_IDS},
        {"ids-max", required_argument, NULL, O_IDSMAX},
        {"hours", required_argument, NULL, O_HOURS},
        {"end-ms", required_argument, NULL, O_END},
        {"header", required_argument, NULL, O_HEADER},
        {"max-errors", required_argument, NULL, O_MAXERR},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"dry-run", no_argument, NULL, O_DRY},
        {"print-traces", required_argument, NULL, O_PRINT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    O = (opts_t){.spans = 1000000, .conns = 4, .batch = 1000, .gzip_level = 1, .seed = 1,
                 .ids_max = 2000, .max_errors = 5, .timeout_s = 60, .progress_s = 5};
    bool spans_set = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case O_URL: O.url = optarg; break;
        case O_SPANS:
            O.spans = parse_u64("--spans", optarg, 0, UINT64_MAX / 2);
            spans_set = true;
            break;
        case O_SECONDS: O.seconds = parse_double("--seconds", optarg, 0.001, 1e9); break;
        case O_RATE: O.rate = parse_double("--rate", optarg, 0, 1e9); break;
        case O_CONNS: O.conns = (uint32_t)parse_u64("--conns", optarg, 1, 256); break;
        case O_BATCH: O.batch = (uint32_t)parse_u64("--batch", optarg, 1, 100000); break;
        case O_GZIP: O.gzip = true; break;
        case O_GZLEVEL: O.gzip_level = (int)parse_u64("--gzip-level", optarg, 0, 9); break;
        case O_SEED: O.seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case O_IDS: O.ids_out = optarg; break;
        case O_IDSMAX: O.ids_max = (uint32_t)parse_u64("--ids-max", optarg, 1, 100000000); break;
        case O_HOURS: O.hours = parse_double("--hours", optarg, 0, 24 * 365); break;
        case O_END:
            O.end_ns = (int64_t)parse_u64("--end-ms", optarg, 1, INT64_MAX / 2000000) * 1000000;
            break;
        case O_HEADER:
            if (!strchr(optarg, ':')) {
                fprintf(stderr, "sx-spanload: --header wants 'Name: value'\n");
                exit(2);
            }
            O.headers = curl_slist_append(O.headers, optarg);
            break;
        case O_MAXERR:
            O.max_errors = (uint32_t)parse_u64("--max-errors", optarg, 1, 1u << 30);
            break;
        case O_TIMEOUT: O.timeout_s = (long)parse_u64("--timeout", optarg, 1, 86400); break;
        case O_PROGRESS: O.progress_s = parse_double("--progress", optarg, 0, 86400); break;
        case O_DRY: O.dry_run = true; break;
        case O_PRINT:
            O.print_traces = (uint32_t)parse_u64("--print-traces", optarg, 1, 100000);
            break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || (!O.url && !O.dry_run && !O.print_traces)) {
        usage(stderr);
        exit(2);
    }
    if (O.seconds > 0 && !spans_set)
        O.spans = 0;
    if (!O.spans && !O.seconds) {
        fprintf(stderr, "sx-spanload: --spans 0 needs --seconds\n");
        exit(2);
    }
    if (!O.end_ns)
        O.end_ns = now_ns();
    O.headers = curl_slist_append(O.headers, "Content-Type: application/x-protobuf");
    if (O.gzip)
        O.headers = curl_slist_append(O.headers, "Content-Encoding: gzip");
    /* libcurl would wait for 100-continue on large bodies; OTLP exporters do not. */
    O.headers = curl_slist_append(O.headers, "Expect:");
}

/* ---- Main ---- */

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

static void worker_init(worker_t *w, uint32_t id)
{
    w->id = id;
    w->rng = O.seed * 0x9e3779b97f4a7c15ULL + id * 0x632be59bd9b4e019ULL + 7;
    w->cap = O.batch + 2 * MAX_SPANS;
    w->spans = xcalloc(w->cap, sizeof(span_t));
    w->order = xcalloc(w->cap, sizeof(uint32_t));
    w->bufcap = w->cap * MAX_SPAN_BYTES + 65536;
    w->buf = xmalloc(w->bufcap);
    uint32_t c = O.conns;
    w->target = O.spans / c + (id < O.spans % c);
    if (O.gzip && deflateInit2(&w->zs, O.gzip_level, Z_DEFLATED, 15 + 16, 8,
                               Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "sx-spanload: deflateInit2 failed\n");
        exit(3);
    }
    atomic_init(&w->finished, false);
}

int main(int argc, char **argv)
{
    parse_opts(argc, argv);
    build_resources(O.seed);
    if (O.print_traces) {
        worker_t w = {0};
        O.batch = MAX_SPANS;
        worker_init(&w, 0);
        return run_print(&w);
    }
    if (O.ids_out) {
        g_ids = fopen(O.ids_out, "w");
        if (!g_ids) {
            fprintf(stderr, "sx-spanload: cannot write %s: %s\n", O.ids_out, strerror(errno));
            return 2;
        }
        /* About 22 spans per trace on average. */
        double traces = O.spans ? (double)O.spans / 22.0
                                : (O.rate > 0 ? O.rate : 200000) * O.seconds / 22.0;
        ids_prob = traces > 0 ? O.ids_max / traces : 1;
        if (ids_prob > 1)
            ids_prob = 1;
    }
    if (!O.dry_run && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "sx-spanload: curl_global_init failed\n");
        return 3;
    }
    fprintf(stderr, "sx-spanload: %d services x %d pods, traces of %d-%d spans; %u connections, "
                    "about %u spans per request%s%s\n",
            NSVC, PODS, MIN_SPANS, MAX_SPANS, O.conns, O.batch, O.gzip ? ", gzip" : "",
            O.rate > 0 ? ", rate-limited" : "");
    worker_t *ws = xcalloc(O.conns, sizeof(worker_t));
    pthread_t *th = xcalloc(O.conns, sizeof(pthread_t));
    for (uint32_t k = 0; k < O.conns; k++)
        worker_init(&ws[k], k);
    printf("SEND_START\n");
    fflush(stdout);
    double start = now_s(), cpu0 = cpu_self_s();
    for (uint32_t k = 0; k < O.conns; k++) {
        ws[k].t_start = start;
        if (pthread_create(&th[k], NULL, sender_main, &ws[k]) != 0) {
            fprintf(stderr, "sx-spanload: pthread_create failed\n");
            return 3;
        }
    }
    bool done = false;
    double last = start, last_spans = 0;
    while (!done) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        done = true;
        for (uint32_t k = 0; k < O.conns; k++)
            if (!atomic_load(&ws[k].finished))
                done = false;
        double now = now_s();
        if (!done && O.progress_s > 0 && now - last >= O.progress_s) {
            double spans = (double)atomic_load(&g_spans_ok);
            double pct = O.spans ? 100.0 * spans / (double)O.spans
                                 : 100.0 * (now - start) / O.seconds;
            fprintf(stderr,
                    "sx-spanload: %6.1f s  %.2f M spans (%4.1f%%)  now %.0f spans/s  avg %.0f "
                    "spans/s  cpu %.2f cores  errors %" PRIu64 "\n",
                    now - start, spans / 1e6, pct, (spans - last_spans) / (now - last),
                    spans / (now - start), (cpu_self_s() - cpu0) / (now - start),
                    (uint64_t)atomic_load(&g_errors));
            last = now;
            last_spans = spans;
        }
    }
    double secs = now_s() - start;
    for (uint32_t k = 0; k < O.conns; k++)
        pthread_join(th[k], NULL);
    double cpu = cpu_self_s() - cpu0;
    if (g_ids)
        fclose(g_ids);

    uint64_t spans = atomic_load(&g_spans_ok), traces = atomic_load(&g_traces_ok);
    uint64_t body = atomic_load(&g_body_ok), reqs = atomic_load(&g_requests);
    uint64_t errs = atomic_load(&g_errors), rej = atomic_load(&g_rejected);
    uint64_t built = atomic_load(&g_spans_built), err_spans = 0, kinds[4] = {0};
    int64_t min_ts = 0, max_ts = 0;
    for (uint32_t k = 0; k < O.conns; k++) {
        worker_t *w = &ws[k];
        if (w->min_ts && (!min_ts || w->min_ts < min_ts))
            min_ts = w->min_ts;
        if (w->max_ts > max_ts)
            max_ts = w->max_ts;
        err_spans += w->error_spans;
        for (int i = 0; i < 4; i++)
            kinds[i] += w->kinds[i];
    }
    printf("spans sent       %" PRIu64 " in %" PRIu64 " traces (%.1f spans/trace)\n", spans,
           traces, traces ? (double)spans / traces : 0);
    printf("span mix         %.1f%% server, %.1f%% http client, %.1f%% db, %.1f%% internal; "
           "%.2f%% errors\n",
           100.0 * kinds[0] / (built ? built : 1), 100.0 * kinds[1] / (built ? built : 1),
           100.0 * kinds[2] / (built ? built : 1), 100.0 * kinds[3] / (built ? built : 1),
           100.0 * err_spans / (built ? built : 1));
    printf("body bytes       %" PRIu64 " (%.1f bytes/span%s)\n", body,
           spans ? (double)body / spans : 0, O.gzip ? ", gzip" : ", protobuf");
    printf("seconds          %.3f\n", secs);
    printf("spans/s          %.0f\n", spans / secs);
    if (O.dry_run) {
        printf("dry-run: %.0f spans per CPU second on %u thread(s)\n", cpu > 0 ? spans / cpu : 0,
               O.conns);
        printf("RESULT mode=dry-run spans=%" PRIu64 " body_bytes=%" PRIu64
               " seconds=%.3f cpu_s=%.3f\n", spans, body, secs, cpu);
        return 0;
    }
    size_t nlat = 0;
    for (uint32_t k = 0; k < O.conns; k++)
        nlat += ws[k].nlat;
    double *lat = xmalloc((nlat + 1) * sizeof(double));
    nlat = 0;
    for (uint32_t k = 0; k < O.conns; k++) {
        if (ws[k].nlat)
            memcpy(lat + nlat, ws[k].lat, ws[k].nlat * sizeof(double));
        nlat += ws[k].nlat;
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)((double)nlat * 0.99)] : 0;
    printf("requests/s       %.1f (%" PRIu64 " requests, %.0f spans/request)\n", reqs / secs,
           reqs, reqs > errs ? (double)spans / (double)(reqs - errs) : 0);
    printf("errors           %" PRIu64 " (%" PRIu64 " spans rejected)\n", errs, rej);
    printf("latency ms       p50 %.2f  p99 %.2f\n", p50 * 1e3, p99 * 1e3);
    printf("client cpu s     %.2f (%.2f cores)\n", cpu, cpu / secs);
    if (O.ids_out)
        printf("ids written      %" PRIu64 " to %s\n", g_ids_written, O.ids_out);
    printf("RESULT mode=send spans=%" PRIu64 " traces=%" PRIu64 " body_bytes=%" PRIu64
           " seconds=%.3f spans_per_s=%.0f requests=%" PRIu64 " requests_per_s=%.1f errors=%" PRIu64
           " rejected=%" PRIu64 " p50_ms=%.2f p99_ms=%.2f cpu_s=%.3f min_ts=%" PRId64
           " max_ts=%" PRId64 " error_spans=%" PRIu64 " ids=%" PRIu64 "\n",
           spans, traces, body, secs, spans / secs, reqs, reqs / secs, errs, rej, p50 * 1e3,
           p99 * 1e3, cpu, min_ts, max_ts, err_spans, g_ids_written);
    fflush(stdout);
    curl_global_cleanup();
    return errs ? 1 : 0;
}
