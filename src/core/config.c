/* SPDX-License-Identifier: Apache-2.0 */
/* Server configuration from one const option table. Each row names an
 * option, its type, its default (as text, parsed by the same code as user
 * input) and where its value lives in sx_config_t; flags, environment
 * variables, the YAML file, --help and the README table all read that table,
 * so they cannot drift apart. Sources are applied default, file, environment,
 * flags; a list option set by a source replaces what lower sources gave. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "arena.h"
#include "log.h"
#include "str.h"
#include "time.h"

/* ---- The option table ---- */

typedef enum opt_type {
    OPT_STRING,   /* char *; NULL when unset */
    OPT_LIST,     /* char ** + size_t count; repeatable */
    OPT_DURATION, /* int64_t ms; Prometheus syntax, "0" allowed */
    OPT_SIZE,     /* int64_t bytes; sx_size_parse */
    OPT_INT,      /* int, 0..INT_MAX */
    OPT_BOOL,     /* bool; a flag without a value means true */
    OPT_TOKENS,   /* sx_token_t * + size_t count; TOKEN=TENANT, repeatable */
} opt_type_t;

typedef struct option {
    const char *name;    /* flag without "--"; YAML key with '-' or '_' */
    const char *plural;  /* env/YAML name when it differs (auth-tokens), or NULL */
    opt_type_t type;
    const char *metavar; /* placeholder shown in --help */
    const char *def;     /* default in the syntax users write, or NULL for none */
    size_t off;          /* offsetof the value in sx_config_t */
    size_t count_off;    /* offsetof the count, for OPT_LIST and OPT_TOKENS */
    /* Extra validation for one string or list item, or NULL. */
    int (*check)(const char *val, sx_err_t *err);
    const char *help;
} option_t;

static int check_listen(const char *val, sx_err_t *err);
static int check_log_level(const char *val, sx_err_t *err);

#define OFF(f) offsetof(sx_config_t, f)

static const option_t options[] = {
    {"listen", NULL, OPT_LIST, "HOST:PORT", "127.0.0.1:4318", OFF(listen), OFF(nlisten),
     check_listen, "address to serve all APIs on (port 0 picks a free port)"},
    {"data", NULL, OPT_STRING, "DIR", "./sextant-data", OFF(data_dir), 0, NULL,
     "directory that holds all stored data; created if missing"},
    {"retention", NULL, OPT_DURATION, "DURATION", "30d", OFF(retention_ms), 0, NULL,
     "drop data older than this; 0 keeps data forever"},
    {"retention-max-size", NULL, OPT_SIZE, "SIZE", "0", OFF(retention_max_bytes), 0, NULL,
     "drop the oldest data once stored data grows past this; 0 = no size limit"},
    {"min-free-disk", NULL, OPT_SIZE, "SIZE", "64MiB", OFF(min_free_bytes), 0, NULL,
     "refuse writes (HTTP 507) while the data disk has less free space than this"},
    {"ooo-window", NULL, OPT_DURATION, "DURATION", "1h", OFF(ooo_window_ms), 0, NULL,
     "accept samples up to this far behind the newest data (out-of-order window)"},
    {"head-flush-interval", NULL, OPT_DURATION, "DURATION", "2h", OFF(head_flush_ms), 0, NULL,
     "seal in-memory head data into an on-disk part once it is this old"},
    {"max-body-size", NULL, OPT_SIZE, "SIZE", "64MiB", OFF(max_body_bytes), 0, NULL,
     "largest request body accepted, also after decompression (HTTP 413 above)"},
    {"workers", NULL, OPT_INT, "N", "0", OFF(workers), 0, NULL,
     "HTTP threads: 0 = a thread per connection (a write waits only for its own fsync); "
     "N = a pool of N threads serving all connections"},
    {"query-timeout", NULL, OPT_DURATION, "DURATION", "2m", OFF(query_timeout_ms), 0, NULL,
     "abandon a PromQL or LogQL query after this long (Prometheus API: HTTP 503, errorType "
     "timeout; Loki API: HTTP 504)"},
    {"query-max-samples", NULL, OPT_INT, "N", "50000000", OFF(query_max_samples), 0, NULL,
     "most samples one query may hold in memory at once (HTTP 422 above)"},
    {"query-max-concurrency", NULL, OPT_INT, "N", "20", OFF(query_max_concurrency), 0, NULL,
     "PromQL queries evaluated at the same time; further ones wait for a slot"},
    {"query-lookback-delta", NULL, OPT_DURATION, "DURATION", "5m", OFF(query_lookback_ms), 0,
     NULL, "how far back an instant selector looks for a sample"},
    {"query-parallelism", NULL, OPT_INT, "N", "0", OFF(query_parallelism), 0, NULL,
     "threads one query uses (PromQL range functions and selectors over many series, "
     "writing a large range answer, LogQL stream reads); 0 = one per core (at most 8)"},
    {"tail-max-connections", NULL, OPT_INT, "N", "100", OFF(tail_max_connections), 0, NULL,
     "Loki live tails (/loki/api/v1/tail WebSockets) open at the same time; a further one "
     "is closed at once with Loki's \"max concurrent tail requests limit exceeded\"; 0 refuses "
     "every tail"},
    {"span-metrics", NULL, OPT_BOOL, NULL, "true", OFF(span_metrics), 0, NULL,
     "derive Tempo's span metrics (traces_spanmetrics_*) and service graph "
     "(traces_service_graph_*) series from ingested spans, queryable with PromQL"},
    {"span-metrics-interval", NULL, OPT_DURATION, "DURATION", "15s",
     OFF(span_metrics_interval_ms), 0, NULL,
     "how often span metrics and service graph series are written to the metric store"},
    {"span-metrics-slack", NULL, OPT_DURATION, "DURATION", "30s", OFF(span_metrics_slack_ms), 0,
     NULL, "span metrics count only spans that ended within this of the present, as Tempo's "
           "metrics generator does; 0 counts every span"},
    {"service-graph-wait", NULL, OPT_DURATION, "DURATION", "10s", OFF(service_graph_wait_ms), 0,
     NULL, "how long a client or server span waits for the other side of its call before it is "
           "counted as unpaired"},
    {"span-metrics-max-series", NULL, OPT_INT, "N", "20000", OFF(span_metrics_max_series), 0,
     NULL, "most span metric and service graph label sets per tenant; spans beyond it are not "
           "counted (pending service graph calls are capped at the same number)"},
    {"tls-cert", NULL, OPT_STRING, "FILE", NULL, OFF(tls_cert), 0, NULL,
     "PEM certificate chain; TLS is on when tls-cert and tls-key are both set"},
    {"tls-key", NULL, OPT_STRING, "FILE", NULL, OFF(tls_key), 0, NULL,
     "PEM private key for tls-cert"},
    {"tls-client-ca", NULL, OPT_STRING, "FILE", NULL, OFF(tls_client_ca), 0, NULL,
     "PEM CA bundle; when set, clients must present a certificate signed by it (mTLS)"},
    {"log-level", NULL, OPT_STRING, "LEVEL", "info", OFF(log_level), 0, check_log_level,
     "debug, info, warn or error"},
    {"access-log", NULL, OPT_BOOL, NULL, "true", OFF(access_log), 0, NULL,
     "log one logfmt line per HTTP request"},
    {"auth-token", "auth-tokens", OPT_TOKENS, "TOKEN=TENANT", NULL, OFF(tokens), OFF(ntokens),
     NULL,
     "accept X-Auth-Token TOKEN as tenant TENANT ([A-Za-z0-9_.-]{1,64}); with none, auth "
     "is off and all data is in one tenant"},
    {"config", NULL, OPT_STRING, "FILE", NULL, OFF(config_file), 0, NULL,
     "YAML file: a mapping of these option names ('-' or '_') to values"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

enum source { SRC_NONE, SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

/* State of one sx_config_load: which source last set each option, so that a
 * list is cleared the first time a higher source touches it. */
typedef struct loader {
    sx_config_t *cfg;
    unsigned char src[NOPTIONS];
} loader_t;

/* ---- Small helpers ---- */

static const option_t *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *names[2] = {options[i].name, options[i].plural};
        for (int k = 0; k < 2; k++) {
            const char *n = names[k];
            if (!n || strlen(n) != len)
                continue;
            size_t j = 0;
            /* '-' and '_' are the same character in option names. */
            while (j < len && (n[j] == name[j] || (n[j] == '-' && name[j] == '_')))
                j++;
            if (j == len)
                return &options[i];
        }
    }
    return NULL;
}

/* The environment variable of o: SEXTANT_ plus its (plural) name in upper
 * case with '-' as '_'. buf must hold 64 bytes. */
static const char *env_name(const option_t *o, char *buf)
{
    const char *n = o->plural ? o->plural : o->name;
    size_t len = (size_t)snprintf(buf, 64, "SEXTANT_%s", n);
    for (size_t i = 8; i < len && i < 63; i++)
        buf[i] = buf[i] == '-' ? '_' : (char)toupper((unsigned char)buf[i]);
    return buf;
}

/* The YAML key documented for o: its (plural) name with '_' for '-'. */
static const char *yaml_name(const option_t *o, char *buf)
{
    const char *n = o->plural ? o->plural : o->name;
    size_t i = 0;
    for (; n[i] && i < 63; i++)
        buf[i] = n[i] == '-' ? '_' : n[i];
    buf[i] = '\0';
    return buf;
}

static bool tenant_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
            return false;
    return n >= 1 && n <= 64;
}

static int check_listen(const char *val, sx_err_t *err)
{
    const char *colon = strrchr(val, ':');
    if (!colon || colon[1] == '\0')
        return sx_err_set(err, SX_EINVAL, "\"%s\" is not HOST:PORT", val);
    if (val[0] == '[' && (colon == val || colon[-1] != ']'))
        return sx_err_set(err, SX_EINVAL, "\"%s\" is not [IPV6]:PORT", val);
    long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (!isdigit((unsigned char)*p) || (port = port * 10 + (*p - '0')) > 65535)
            return sx_err_set(err, SX_EINVAL, "bad port in \"%s\"", val);
    }
    return 0;
}

static int check_log_level(const char *val, sx_err_t *err)
{
    if (sx_log_level_parse(val) < 0)
        return sx_err_set(err, SX_EINVAL, "unknown log level \"%s\" (debug, info, warn, error)",
                          val);
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int parse_int(const char *s, int *out)
{
    long v = 0;
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) || (v = v * 10 + (*p - '0')) > INT_MAX)
            return -1;
    *out = (int)v;
    return 0;
}

/* ---- Sizes ---- */

int sx_size_parse(const char *s, int64_t *bytes, sx_err_t *err)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"KB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000},
        {"TB", 1000000000000},
        {"KiB", 1LL << 10},
        {"MiB", 1LL << 20},
        {"GiB", 1LL << 30},
        {"TiB", 1LL << 40},
    };
    const char *p = s;
    int64_t whole = 0, frac = 0, scale = 1;
    if (!isdigit((unsigned char)*p))
        goto bad;
    for (; isdigit((unsigned char)*p); p++) {
        if (whole > (INT64_MAX - 9) / 10)
            goto bad;
        whole = whole * 10 + (*p - '0');
    }
    bool has_frac = false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        has_frac = true;
        /* Digits past the ninth cannot change a whole number of bytes
         * below an exabyte; skip them. */
        for (; isdigit((unsigned char)*p); p++)
            if (scale < 1000000000) {
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            }
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        int64_t m = units[i].mult;
        if (has_frac && m == 1)
            goto bad; /* a fraction of a byte */
        if (whole > INT64_MAX / m)
            goto bad;
        /* frac * m / scale without overflow: with m = q * scale + r,
         * frac * q < m and frac * r < scale^2 <= 1e18 both fit. */
        int64_t part = frac * (m / scale) + frac * (m % scale) / scale;
        if (whole * m > INT64_MAX - part)
            goto bad;
        *bytes = whole * m + part;
        return 0;
    }
bad:
    return sx_err_set(err, SX_EPARSE,
                      "not a valid size: \"%s\" (bytes, or a number with KB MB GB TB KiB MiB GiB "
                      "TiB)",
                      s);
}

/* ---- Setting values ---- */

static void free_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static void free_tokens(sx_token_t **toks, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free((*toks)[i].token);
        free((*toks)[i].tenant);
    }
    free(*toks);
    *toks = NULL;
    *n = 0;
}

/* Called before a source sets option o: the first time a source sets a
 * list, the values of lower sources are dropped. */
static void begin_set(loader_t *ld, const option_t *o, enum source src)
{
    size_t i = (size_t)(o - options);
    if (ld->src[i] == src)
        return;
    ld->src[i] = (unsigned char)src;
    char *base = (char *)ld->cfg;
    if (o->type == OPT_LIST)
        free_list((char ***)(base + o->off), (size_t *)(base + o->count_off));
    else if (o->type == OPT_TOKENS)
        free_tokens((sx_token_t **)(base + o->off), (size_t *)(base + o->count_off));
}

/* Add one token. The token itself is a secret, so errors never print it. */
static int add_token(loader_t *ld, const option_t *o, const char *token, const char *tenant,
                     sx_err_t *err)
{
    char *base = (char *)ld->cfg;
    sx_token_t **toks = (sx_token_t **)(base + o->off);
    size_t *n = (size_t *)(base + o->count_off);
    if (!*token)
        return sx_err_set(err, SX_EINVAL, "empty auth token (for tenant \"%s\")", tenant);
    if (!tenant_valid(tenant))
        return sx_err_set(err, SX_EINVAL,
                          "invalid tenant name \"%s\": want 1 to 64 of A-Z a-z 0-9 _ . -", tenant);
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*toks)[i].token, token) == 0)
            return sx_err_set(err, SX_EINVAL, "the token for tenant \"%s\" is given twice",
                              tenant);
    *toks = sx_xrealloc(*toks, (*n + 1) * sizeof(**toks));
    (*toks)[*n].token = sx_xstrdup(token);
    (*toks)[*n].tenant = sx_xstrdup(tenant);
    ++*n;
    return 0;
}

/* Add one TOKEN=TENANT pair. Tenants never contain '=' but base64 tokens
 * end in it, so the last '=' separates them. */
static int add_token_pair(loader_t *ld, const option_t *o, const char *pair, sx_err_t *err)
{
    const char *eq = strrchr(pair, '=');
    if (!eq)
        return sx_err_set(err, SX_EINVAL, "auth token is not TOKEN=TENANT");
    char *token = sx_xstrndup(pair, (size_t)(eq - pair));
    int rc = add_token(ld, o, token, eq + 1, err);
    free(token);
    return rc;
}

/* Set option o from the text val given by src. For lists and tokens val is
 * one item, appended. Returns 0 or an error whose message names the value but
 * not the option (the caller adds where it came from). */
static int set_value(loader_t *ld, const option_t *o, enum source src, const char *val,
                     sx_err_t *err)
{
    char *field = (char *)ld->cfg + o->off;
    int rc;
    begin_set(ld, o, src);
    if (o->check && (rc = o->check(val, err)) != 0)
        return rc;
    switch (o->type) {
    case OPT_STRING:
        /* An empty string unsets the option (no TLS file, say). */
        free(*(char **)field);
        *(char **)field = *val ? sx_xstrdup(val) : NULL;
        return 0;
    case OPT_LIST: {
        char ***list = (char ***)field;
        size_t *n = (size_t *)((char *)ld->cfg + o->count_off);
        *list = sx_xrealloc(*list, (*n + 1) * sizeof(char *));
        (*list)[(*n)++] = sx_xstrdup(val);
        return 0;
    }
    case OPT_DURATION:
        return sx_duration_parse(sx_str(val), (int64_t *)field, err);
    case OPT_SIZE:
        return sx_size_parse(val, (int64_t *)field, err);
    case OPT_INT:
        if (parse_int(val, (int *)field) != 0)
            return sx_err_set(err, SX_EPARSE, "not a non-negative integer: \"%s\"", val);
        return 0;
    case OPT_BOOL:
        if (parse_bool(val, (bool *)field) != 0)
            return sx_err_set(err, SX_EPARSE, "not a boolean: \"%s\" (true or false)", val);
        return 0;
    case OPT_TOKENS:
        return add_token_pair(ld, o, val, err);
    }
    sx_panic("BUG: option type %d", (int)o->type);
}

/* Set o from a comma-separated list (environment variables): each item,
 * trimmed of blanks, is one value; empty items are skipped. */
static int set_csv(loader_t *ld, const option_t *o, enum source src, const char *val,
                   sx_err_t *err)
{
    begin_set(ld, o, src);
    const char *p = val;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            char *item = sx_xstrndup(a, (size_t)(b - a));
            int rc = set_value(ld, o, src, item, err);
            free(item);
            if (rc)
                return rc;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* ---- YAML file ---- */

static bool yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* Tokens in YAML: a mapping token: tenant, or a sequence of mappings with
 * keys token and tenant. */
static int yaml_tokens(loader_t *ld, const option_t *o, yaml_document_t *doc, yaml_node_t *v,
                       const char *path, const char *key, sx_err_t *err)
{
    if (v->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            yaml_node_t *t = yaml_document_get_node(doc, pr->value);
            if (k->type != YAML_SCALAR_NODE || t->type != YAML_SCALAR_NODE)
                return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: want token: tenant", path,
                                  k->start_mark.line + 1, key);
            if (add_token(ld, o, scalar(k), scalar(t), err))
                return sx_err_wrap(err, "%s line %zu: %s: ", path, k->start_mark.line + 1,
                                   key);
        }
        return 0;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return sx_err_set(err, SX_EPARSE,
                          "%s line %zu: %s: want a mapping of token: tenant or a list of "
                          "{token, tenant}",
                          path, v->start_mark.line + 1, key);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        size_t line = e->start_mark.line + 1;
        const char *token = NULL, *tenant = NULL;
        if (e->type != YAML_MAPPING_NODE)
            return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: want {token, tenant}", path,
                              line, key);
        for (yaml_node_pair_t *pr = e->data.mapping.pairs.start; pr < e->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            yaml_node_t *t = yaml_document_get_node(doc, pr->value);
            const char *field = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
            if (t->type != YAML_SCALAR_NODE ||
                (strcmp(field, "token") != 0 && strcmp(field, "tenant") != 0))
                return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: unknown key \"%s\"", path,
                                  k->start_mark.line + 1, key, field);
            *(strcmp(field, "token") == 0 ? &token : &tenant) = scalar(t);
        }
        if (!token || !tenant)
            return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: entry needs token and tenant",
                              path, line, key);
        if (add_token(ld, o, token, tenant, err))
            return sx_err_wrap(err, "%s line %zu: %s: ", path, line, key);
    }
    return 0;
}

/* Apply one key: value of the top-level mapping. */
static int yaml_option(loader_t *ld, yaml_document_t *doc, yaml_node_t *k, yaml_node_t *v,
                       const char *path, bool *seen, sx_err_t *err)
{
    size_t line = k->start_mark.line + 1;
    if (k->type != YAML_SCALAR_NODE)
        return sx_err_set(err, SX_EPARSE, "%s line %zu: keys must be option names", path, line);
    const char *key = scalar(k);
    const option_t *o = find_option(key, strlen(key));
    if (!o)
        return sx_err_set(err, SX_EINVAL, "%s line %zu: unknown key \"%s\"", path, line, key);
    if (strcmp(o->name, "config") == 0)
        return sx_err_set(err, SX_EINVAL, "%s line %zu: \"%s\" cannot be set in a config file",
                          path, line, key);
    if (seen[o - options])
        return sx_err_set(err, SX_EINVAL, "%s line %zu: \"%s\" is given twice", path, line, key);
    seen[o - options] = true;
    if (yaml_is_null(v))
        return 0; /* "key:" with no value keeps the default */
    if (o->type == OPT_TOKENS) {
        begin_set(ld, o, SRC_FILE);
        return yaml_tokens(ld, o, doc, v, path, key, err);
    }
    if (o->type == OPT_LIST && v->type == YAML_SEQUENCE_NODE) {
        begin_set(ld, o, SRC_FILE);
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (e->type != YAML_SCALAR_NODE)
                return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: list items must be scalars",
                                  path, e->start_mark.line + 1, key);
            if (set_value(ld, o, SRC_FILE, scalar(e), err))
                return sx_err_wrap(err, "%s line %zu: %s: ", path, e->start_mark.line + 1, key);
        }
        return 0;
    }
    if (v->type != YAML_SCALAR_NODE)
        return sx_err_set(err, SX_EPARSE, "%s line %zu: %s: want a single value", path,
                          v->start_mark.line + 1, key);
    if (set_value(ld, o, SRC_FILE, scalar(v), err))
        return sx_err_wrap(err, "%s line %zu: %s: ", path, v->start_mark.line + 1, key);
    return 0;
}

/* Read the YAML file at path into the configuration. An empty file is an
 * empty configuration; anything but a top-level mapping is an error. */
static int load_file(loader_t *ld, const char *path, sx_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sx_err_set(err, SX_EIO, "cannot open config file %s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return sx_err_set(err, SX_ENOMEM, "cannot initialize the YAML parser");
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = sx_err_set(err, SX_EPARSE, "%s line %zu: %s%s%s", path,
                        parser.problem_mark.line + 1, parser.problem ? parser.problem : "bad YAML",
                        parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(f);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !yaml_is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            rc = sx_err_set(err, SX_EPARSE, "%s line %zu: want a mapping of option: value", path,
                            root->start_mark.line + 1);
        } else {
            bool seen[NOPTIONS] = {false};
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
                 pr < root->data.mapping.pairs.top && rc == 0; pr++)
                rc = yaml_option(ld, &doc, yaml_document_get_node(&doc, pr->key),
                                 yaml_document_get_node(&doc, pr->value), path, seen, err);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- Flags and environment ---- */

/* One parsed flag: the option and its value text (pointing into argv, or a
 * static "true" for a bare boolean flag). */
typedef struct flag {
    const option_t *opt;
    const char *val;
} flag_t;

/* Split argv into flags without applying them, so that --config is known
 * before the file is read. flags must hold argc entries. */
static int parse_argv(int argc, char **argv, flag_t *flags, int *nflags, sx_err_t *err)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return sx_err_set(err, SX_EINVAL, "unexpected argument \"%s\"", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const option_t *o = find_option(name, len);
        /* Flags are spelled with '-' only; '_' is for YAML keys. */
        if (!o || memchr(name, '_', len) || (o->plural && strncmp(name, o->name, len) != 0))
            return sx_err_set(err, SX_EINVAL, "unknown option --%.*s", (int)len, name);
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_BOOL)
            val = "true";
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            val = argv[++i];
        else
            return sx_err_set(err, SX_EINVAL, "option --%s needs a value (%s)", o->name,
                              o->metavar);
        flags[n++] = (flag_t){o, val};
    }
    *nflags = n;
    return 0;
}

static int load_env(loader_t *ld, sx_err_t *err)
{
    char env[64];
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        const char *val = getenv(env_name(o, env));
        /* An empty variable counts as unset, as shells and compose files
         * often define them empty. --config was handled before. */
        if (!val || !*val || strcmp(o->name, "config") == 0)
            continue;
        int rc = o->type == OPT_LIST || o->type == OPT_TOKENS ? set_csv(ld, o, SRC_ENV, val, err)
                                                              : set_value(ld, o, SRC_ENV, val, err);
        if (rc)
            return sx_err_wrap(err, "%s: ", env);
    }
    return 0;
}

/* Checks that involve more than one option, after every source is in. */
static int validate(const sx_config_t *cfg, sx_err_t *err)
{
    if (cfg->nlisten == 0)
        return sx_err_set(err, SX_EINVAL, "listen: at least one address is needed");
    if (!cfg->data_dir || !*cfg->data_dir)
        return sx_err_set(err, SX_EINVAL, "data: the data directory must not be empty");
    if (!cfg->tls_cert != !cfg->tls_key)
        return sx_err_set(err, SX_EINVAL, "tls-cert and tls-key must be given together");
    if (cfg->tls_client_ca && !cfg->tls_cert)
        return sx_err_set(err, SX_EINVAL, "tls-client-ca needs tls-cert and tls-key");
    return 0;
}

int sx_config_load(sx_config_t *cfg, int argc, char **argv, sx_err_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    loader_t ld = {.cfg = cfg};
    flag_t *flags = sx_xcalloc((size_t)argc + 1, sizeof(flag_t));
    int nflags = 0, rc;

    for (size_t i = 0; i < NOPTIONS; i++) {
        if (options[i].def && set_value(&ld, &options[i], SRC_DEFAULT, options[i].def, err))
            sx_panic("BUG: bad default for option %s: %s", options[i].name, err->msg);
    }
    if ((rc = parse_argv(argc, argv, flags, &nflags, err)) != 0)
        goto fail;

    const char *file = getenv("SEXTANT_CONFIG");
    if (file && !*file)
        file = NULL;
    for (int i = 0; i < nflags; i++)
        if (strcmp(flags[i].opt->name, "config") == 0)
            file = flags[i].val;
    if (file) {
        cfg->config_file = sx_xstrdup(file);
        if ((rc = load_file(&ld, file, err)) != 0)
            goto fail;
    }
    if ((rc = load_env(&ld, err)) != 0)
        goto fail;
    for (int i = 0; i < nflags; i++) {
        const option_t *o = flags[i].opt;
        if (strcmp(o->name, "config") == 0)
            continue;
        if ((rc = set_value(&ld, o, SRC_FLAG, flags[i].val, err)) != 0) {
            sx_err_wrap(err, "--%s: ", o->name);
            goto fail;
        }
    }
    if ((rc = validate(cfg, err)) != 0)
        goto fail;
    free(flags);
    return 0;
fail:
    free(flags);
    sx_config_dispose(cfg);
    return rc;
}

void sx_config_dispose(sx_config_t *cfg)
{
    if (!cfg)
        return;
    char *base = (char *)cfg;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        if (o->type == OPT_STRING)
            free(*(char **)(base + o->off));
        else if (o->type == OPT_LIST)
            free_list((char ***)(base + o->off), (size_t *)(base + o->count_off));
        else if (o->type == OPT_TOKENS)
            free_tokens((sx_token_t **)(base + o->off), (size_t *)(base + o->count_off));
    }
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- Documentation ---- */

static const char *flag_form(const option_t *o, char *buf, size_t size)
{
    if (o->type == OPT_BOOL)
        snprintf(buf, size, "--%s[=BOOL]", o->name);
    else
        snprintf(buf, size, "--%s %s", o->name, o->metavar);
    return buf;
}

static const char *repeat_note(const option_t *o)
{
    return o->type == OPT_LIST || o->type == OPT_TOKENS ? "repeatable; " : "";
}

void sx_config_print_help(FILE *out)
{
    char flag[96], env[64];
    int width = 0;
    for (size_t i = 0; i < NOPTIONS; i++) {
        int w = (int)strlen(flag_form(&options[i], flag, sizeof(flag)));
        width = w > width ? w : width;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        fprintf(out, "  %-*s  (env %s", width, flag_form(o, flag, sizeof(flag)), env_name(o, env));
        if (o->def)
            fprintf(out, ", default %s", o->def);
        fprintf(out, ") %s%s\n", repeat_note(o), o->help);
    }
    fprintf(out, "\nPrecedence: flag > environment > config file > default. In the environment a\n"
                 "repeatable option is a comma-separated list; a source that sets a repeatable\n"
                 "option replaces what lower sources gave.\n");
}

/* Print s for a Markdown table cell: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void sx_config_print_markdown(FILE *out)
{
    char flag[96], env[64], key[64];
    fprintf(out, "| flag | env | YAML key | default | description |\n");
    fprintf(out, "| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        fprintf(out, "| `%s` | `%s` | ", flag_form(o, flag, sizeof(flag)), env_name(o, env));
        if (strcmp(o->name, "config") == 0)
            fputs("-", out);
        else
            fprintf(out, "`%s`", yaml_name(o, key));
        fputs(" | ", out);
        if (o->def)
            fprintf(out, "`%s`", o->def);
        fputs(" | ", out);
        md_cell(out, repeat_note(o));
        md_cell(out, o->help);
        fputs(" |\n", out);
    }
}
