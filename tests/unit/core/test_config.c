/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for src/core/config.c: defaults, the three sources and their
 * precedence, every option type in flags, environment and YAML, error
 * messages that name the culprit, the generated help, and sx_size_parse.
 * Every test starts from an environment without SEXTANT_* variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

extern char **environ;

/* ---- Helpers ---- */

static void clear_sextant_env(void)
{
    /* unsetenv edits environ, so restart the scan after each removal. */
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "SEXTANT_", 8) == 0) {
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof(name), "%.*s", (int)n, *e);
                break;
            }
        }
        if (!name[0])
            return;
        unsetenv(name);
    }
}

static char yaml_path[64];

/* Write text to a fresh temp file and return its path (removed by teardown). */
static const char *write_yaml(const char *text)
{
    strcpy(yaml_path, "/tmp/sx_test_config_XXXXXX");
    int fd = mkstemp(yaml_path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return yaml_path;
}

static int setup(void **state)
{
    clear_sextant_env();
    yaml_path[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    clear_sextant_env();
    if (yaml_path[0])
        unlink(yaml_path);
    return 0;
}

/* Load from a NULL-terminated argument list. */
#define LOAD(cfg, err, ...)                                                                        \
    load_args((cfg), (err), (char *[]){__VA_ARGS__, NULL})

static int load_args(sx_config_t *cfg, sx_err_t *err, char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    sx_err_clear(err);
    return sx_config_load(cfg, argc, args, err);
}

static int load_none(sx_config_t *cfg, sx_err_t *err)
{
    sx_err_clear(err);
    return sx_config_load(cfg, 0, (char *[]){NULL}, err);
}

#define assert_err_contains(err, text)                                                             \
    do {                                                                                           \
        if (!strstr((err)->msg, (text)))                                                           \
            fail_msg("error \"%s\" does not contain \"%s\"", (err)->msg, (text));                  \
    } while (0)

/* ---- Defaults and flags ---- */

static void test_config_defaults_match_documented_values(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(load_none(&cfg, &err), 0);
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen[0], "127.0.0.1:4318");
    assert_string_equal(cfg.data_dir, "./sextant-data");
    assert_int_equal(cfg.retention_ms, 30LL * 86400 * 1000);
    assert_int_equal(cfg.retention_max_bytes, 0);
    assert_int_equal(cfg.min_free_bytes, 64LL << 20);
    assert_int_equal(cfg.ooo_window_ms, 3600 * 1000);
    assert_int_equal(cfg.head_flush_ms, 2 * 3600 * 1000);
    assert_int_equal(cfg.max_body_bytes, 64LL << 20);
    assert_int_equal(cfg.workers, 0);
    assert_null(cfg.tls_cert);
    assert_null(cfg.tls_key);
    assert_null(cfg.tls_client_ca);
    assert_string_equal(cfg.log_level, "info");
    assert_true(cfg.access_log);
    assert_int_equal(cfg.ntokens, 0);
    assert_null(cfg.config_file);
    sx_config_dispose(&cfg);
}

static void test_config_flags_accept_separate_and_equals_values(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--data", "/var/lib/sx", "--retention=15d", "--workers", "4",
                          "--max-body-size=1MiB", "--log-level", "debug"),
                     0);
    assert_string_equal(cfg.data_dir, "/var/lib/sx");
    assert_int_equal(cfg.retention_ms, 15LL * 86400 * 1000);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.max_body_bytes, 1 << 20);
    assert_string_equal(cfg.log_level, "debug");
    sx_config_dispose(&cfg);
}

static void test_config_listen_flag_is_repeatable_and_replaces_default(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--listen", "0.0.0.0:9000", "--listen=[::1]:9001"), 0);
    assert_int_equal(cfg.nlisten, 2);
    assert_string_equal(cfg.listen[0], "0.0.0.0:9000");
    assert_string_equal(cfg.listen[1], "[::1]:9001");
    sx_config_dispose(&cfg);
}

static void test_config_bool_flag_without_value_is_true(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--access-log=false"), 0);
    assert_false(cfg.access_log);
    sx_config_dispose(&cfg);
    setenv("SEXTANT_ACCESS_LOG", "off", 1);
    assert_int_equal(LOAD(&cfg, &err, "--access-log"), 0);
    assert_true(cfg.access_log);
    sx_config_dispose(&cfg);
    assert_int_equal(load_none(&cfg, &err), 0);
    assert_false(cfg.access_log);
    sx_config_dispose(&cfg);
}

static void test_config_retention_zero_keeps_data_forever(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--retention", "0"), 0);
    assert_int_equal(cfg.retention_ms, 0);
    sx_config_dispose(&cfg);
    setenv("SEXTANT_RETENTION", "0", 1);
    assert_int_equal(load_none(&cfg, &err), 0);
    assert_int_equal(cfg.retention_ms, 0);
    sx_config_dispose(&cfg);
}

/* ---- Precedence ---- */

static void test_config_env_overrides_file_and_flag_overrides_env(void **state)
{
    const char *path = write_yaml("data: /from/file\n"
                                  "retention: 7d\n"
                                  "workers: 3\n");
    setenv("SEXTANT_CONFIG", path, 1);
    setenv("SEXTANT_RETENTION", "14d", 1);
    setenv("SEXTANT_WORKERS", "5", 1);
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--workers", "8"), 0);
    assert_string_equal(cfg.config_file, path);
    assert_string_equal(cfg.data_dir, "/from/file");      /* file only */
    assert_int_equal(cfg.retention_ms, 14LL * 86400000); /* env over file */
    assert_int_equal(cfg.workers, 8);                     /* flag over env */
    sx_config_dispose(&cfg);
}

static void test_config_higher_source_replaces_list_instead_of_appending(void **state)
{
    const char *path = write_yaml("listen:\n"
                                  "  - 10.0.0.1:1\n"
                                  "  - 10.0.0.2:2\n");
    sx_config_t cfg;
    sx_err_t err;
    setenv("SEXTANT_LISTEN", "10.0.0.3:3, 10.0.0.4:4", 1);
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), 0);
    assert_int_equal(cfg.nlisten, 2);
    assert_string_equal(cfg.listen[0], "10.0.0.3:3");
    assert_string_equal(cfg.listen[1], "10.0.0.4:4");
    sx_config_dispose(&cfg);

    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path, "--listen", "10.0.0.5:5"), 0);
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen[0], "10.0.0.5:5");
    sx_config_dispose(&cfg);

    unsetenv("SEXTANT_LISTEN");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), 0);
    assert_int_equal(cfg.nlisten, 2);
    assert_string_equal(cfg.listen[1], "10.0.0.2:2");
    sx_config_dispose(&cfg);
}

static void test_config_flag_config_wins_over_env_config(void **state)
{
    const char *path = write_yaml("data: /chosen\n");
    setenv("SEXTANT_CONFIG", "/nonexistent/sextant.yaml", 1);
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--config=" "/nonexistent/other.yaml"), SX_EIO);
    assert_err_contains(&err, "/nonexistent/other.yaml");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), 0);
    assert_string_equal(cfg.data_dir, "/chosen");
    sx_config_dispose(&cfg);
}

/* ---- YAML ---- */

static void test_config_yaml_file_sets_every_option_type(void **state)
{
    const char *path = write_yaml("# every type\n"
                                  "listen: 0.0.0.0:4318\n" /* a scalar for a list */
                                  "data: /srv/sextant\n"
                                  "retention: 90d\n"
                                  "retention_max_size: 1.5GiB\n"
                                  "min-free-disk: 100MB\n"
                                  "ooo_window: 30m\n"
                                  "head_flush_interval: 1h30m\n"
                                  "max_body_size: 512KiB\n"
                                  "workers: 2\n"
                                  "tls_cert: /etc/sx/cert.pem\n"
                                  "tls_key: \"/etc/sx/key.pem\"\n"
                                  "tls_client_ca: /etc/sx/ca.pem\n"
                                  "log_level: warn\n"
                                  "access_log: no\n"
                                  "auth_tokens:\n"
                                  "  s3cret: team-a\n"
                                  "  \"tok=en\": team_b\n");
    sx_config_t cfg;
    sx_err_t err;
    if (LOAD(&cfg, &err, "--config", (char *)path) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen[0], "0.0.0.0:4318");
    assert_string_equal(cfg.data_dir, "/srv/sextant");
    assert_int_equal(cfg.retention_ms, 90LL * 86400000);
    assert_int_equal(cfg.retention_max_bytes, 3LL << 29);
    assert_int_equal(cfg.min_free_bytes, 100000000);
    assert_int_equal(cfg.ooo_window_ms, 30 * 60000);
    assert_int_equal(cfg.head_flush_ms, 90 * 60000);
    assert_int_equal(cfg.max_body_bytes, 512 * 1024);
    assert_int_equal(cfg.workers, 2);
    assert_string_equal(cfg.tls_cert, "/etc/sx/cert.pem");
    assert_string_equal(cfg.tls_key, "/etc/sx/key.pem");
    assert_string_equal(cfg.tls_client_ca, "/etc/sx/ca.pem");
    assert_string_equal(cfg.log_level, "warn");
    assert_false(cfg.access_log);
    assert_int_equal(cfg.ntokens, 2);
    assert_string_equal(cfg.tokens[0].token, "s3cret");
    assert_string_equal(cfg.tokens[0].tenant, "team-a");
    assert_string_equal(cfg.tokens[1].token, "tok=en");
    assert_string_equal(cfg.tokens[1].tenant, "team_b");
    sx_config_dispose(&cfg);
}

static void test_config_yaml_empty_file_and_null_values_keep_defaults(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    const char *path = write_yaml("");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), 0);
    assert_string_equal(cfg.data_dir, "./sextant-data");
    sx_config_dispose(&cfg);
    unlink(path);
    path = write_yaml("data:\nretention: ~\n");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), 0);
    assert_string_equal(cfg.data_dir, "./sextant-data");
    assert_int_equal(cfg.retention_ms, 30LL * 86400000);
    sx_config_dispose(&cfg);
}

static void test_config_yaml_unknown_key_names_key_and_line(void **state)
{
    const char *path = write_yaml("data: /x\n"
                                  "\n"
                                  "retension: 5d\n");
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), SX_EINVAL);
    assert_err_contains(&err, "line 3");
    assert_err_contains(&err, "\"retension\"");
    assert_err_contains(&err, path);
}

static void test_config_yaml_bad_value_names_key_and_line(void **state)
{
    const char *path = write_yaml("workers: 1\n"
                                  "max_body_size: 12 parsecs\n");
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), SX_EPARSE);
    assert_err_contains(&err, "line 2");
    assert_err_contains(&err, "max_body_size");
    assert_err_contains(&err, "12 parsecs");
}

static void test_config_yaml_syntax_error_names_line(void **state)
{
    const char *path = write_yaml("data: /x\n"
                                  "listen: [a, b\n"
                                  "workers: 2\n");
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), SX_EPARSE);
    assert_err_contains(&err, path);
    assert_err_contains(&err, "line ");
}

static void test_config_yaml_rejects_non_mapping_and_duplicate_keys(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    const char *path = write_yaml("- data\n");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), SX_EPARSE);
    assert_err_contains(&err, "mapping");
    unlink(path);
    path = write_yaml("data: /a\ndata: /b\n");
    assert_int_equal(LOAD(&cfg, &err, "--config", (char *)path), SX_EINVAL);
    assert_err_contains(&err, "line 2");
    assert_err_contains(&err, "twice");
}

/* ---- Tokens ---- */

static void test_config_tokens_from_flags_split_at_last_equals(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", "dGVzdA==", "--auth-token", "a=b=c=t1"),
                     SX_EINVAL); /* "dGVzdA=" + "" : empty tenant */
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", "dGVzdA===tenant.1", "--auth-token=k=t2"), 0);
    assert_int_equal(cfg.ntokens, 2);
    assert_string_equal(cfg.tokens[0].token, "dGVzdA==");
    assert_string_equal(cfg.tokens[0].tenant, "tenant.1");
    assert_string_equal(cfg.tokens[1].token, "k");
    assert_string_equal(cfg.tokens[1].tenant, "t2");
    sx_config_dispose(&cfg);
}

static void test_config_tokens_from_env_are_comma_separated(void **state)
{
    setenv("SEXTANT_AUTH_TOKENS", "tok1=tenant1, tok2=tenant2", 1);
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(load_none(&cfg, &err), 0);
    assert_int_equal(cfg.ntokens, 2);
    assert_string_equal(cfg.tokens[0].token, "tok1");
    assert_string_equal(cfg.tokens[0].tenant, "tenant1");
    assert_string_equal(cfg.tokens[1].token, "tok2");
    assert_string_equal(cfg.tokens[1].tenant, "tenant2");
    sx_config_dispose(&cfg);

    /* Flags replace the environment's tokens. */
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", "tok3=tenant3"), 0);
    assert_int_equal(cfg.ntokens, 1);
    assert_string_equal(cfg.tokens[0].tenant, "tenant3");
    sx_config_dispose(&cfg);
}

static void test_config_tokens_from_yaml_sequence_of_mappings(void **state)
{
    const char *path = write_yaml("auth_token:\n"
                                  "  - token: abc\n"
                                  "    tenant: ops\n"
                                  "  - {token: def, tenant: dev}\n");
    sx_config_t cfg;
    sx_err_t err;
    if (LOAD(&cfg, &err, "--config", (char *)path) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(cfg.ntokens, 2);
    assert_string_equal(cfg.tokens[0].token, "abc");
    assert_string_equal(cfg.tokens[0].tenant, "ops");
    assert_string_equal(cfg.tokens[1].token, "def");
    assert_string_equal(cfg.tokens[1].tenant, "dev");
    sx_config_dispose(&cfg);
}

static void test_config_invalid_tenant_is_rejected_without_printing_token(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", "hunter2=../etc"), SX_EINVAL);
    assert_err_contains(&err, "--auth-token");
    assert_err_contains(&err, "\"../etc\"");
    assert_null(strstr(err.msg, "hunter2"));

    char long_tenant[80];
    memset(long_tenant, 'a', 65);
    strcpy(long_tenant + 65, "");
    char arg[100];
    snprintf(arg, sizeof(arg), "t=%s", long_tenant);
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", arg), SX_EINVAL);
    long_tenant[64] = '\0';
    snprintf(arg, sizeof(arg), "t=%s", long_tenant);
    assert_int_equal(LOAD(&cfg, &err, "--auth-token", arg), 0);
    sx_config_dispose(&cfg);

    assert_int_equal(LOAD(&cfg, &err, "--auth-token", "x=a", "--auth-token", "x=b"), SX_EINVAL);
    assert_err_contains(&err, "twice");
}

/* ---- Errors ---- */

static void test_config_bad_duration_names_option_and_value(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--ooo-window", "10 minutes"), SX_EPARSE);
    assert_err_contains(&err, "--ooo-window");
    assert_err_contains(&err, "10 minutes");
    setenv("SEXTANT_RETENTION", "-1d", 1);
    assert_int_equal(load_none(&cfg, &err), SX_EPARSE);
    assert_err_contains(&err, "SEXTANT_RETENTION");
    assert_err_contains(&err, "-1d");
}

static void test_config_bad_size_names_option_and_value(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--min-free-disk=64XB"), SX_EPARSE);
    assert_err_contains(&err, "--min-free-disk");
    assert_err_contains(&err, "64XB");
}

static void test_config_unknown_flag_is_named(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--data", "x", "--frobnicate=1"), SX_EINVAL);
    assert_err_contains(&err, "--frobnicate");
    assert_int_equal(LOAD(&cfg, &err, "--tls_cert", "x"), SX_EINVAL);
    assert_err_contains(&err, "--tls_cert");
    assert_int_equal(LOAD(&cfg, &err, "stray"), SX_EINVAL);
    assert_err_contains(&err, "stray");
}

static void test_config_flag_without_value_is_an_error(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--data"), SX_EINVAL);
    assert_err_contains(&err, "--data");
    assert_int_equal(LOAD(&cfg, &err, "--data", "--workers=1"), SX_EINVAL);
    assert_err_contains(&err, "--data");
}

static void test_config_rejects_bad_listen_level_int_and_bool(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--listen", "localhost"), SX_EINVAL);
    assert_err_contains(&err, "localhost");
    assert_int_equal(LOAD(&cfg, &err, "--listen", "localhost:70000"), SX_EINVAL);
    assert_int_equal(LOAD(&cfg, &err, "--listen", "127.0.0.1:0"), 0);
    sx_config_dispose(&cfg);
    assert_int_equal(LOAD(&cfg, &err, "--log-level", "loud"), SX_EINVAL);
    assert_err_contains(&err, "loud");
    assert_int_equal(LOAD(&cfg, &err, "--workers", "-1"), SX_EPARSE);
    assert_int_equal(LOAD(&cfg, &err, "--workers", "99999999999"), SX_EPARSE);
    assert_int_equal(LOAD(&cfg, &err, "--access-log=maybe"), SX_EPARSE);
    assert_err_contains(&err, "maybe");
}

static void test_config_tls_cert_and_key_go_together(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(LOAD(&cfg, &err, "--tls-cert", "c.pem"), SX_EINVAL);
    assert_err_contains(&err, "tls-key");
    assert_int_equal(LOAD(&cfg, &err, "--tls-client-ca", "ca.pem"), SX_EINVAL);
    assert_int_equal(LOAD(&cfg, &err, "--tls-cert", "c.pem", "--tls-key", "k.pem",
                          "--tls-client-ca", "ca.pem"),
                     0);
    sx_config_dispose(&cfg);
}

static void test_config_empty_env_counts_as_unset(void **state)
{
    setenv("SEXTANT_DATA", "", 1);
    setenv("SEXTANT_LISTEN", "", 1);
    sx_config_t cfg;
    sx_err_t err;
    assert_int_equal(load_none(&cfg, &err), 0);
    assert_string_equal(cfg.data_dir, "./sextant-data");
    assert_int_equal(cfg.nlisten, 1);
    sx_config_dispose(&cfg);
}

static void test_config_dispose_after_failed_load_is_harmless(void **state)
{
    sx_config_t cfg;
    sx_err_t err;
    assert_int_not_equal(LOAD(&cfg, &err, "--listen", "a:1", "--retention", "x"), 0);
    sx_config_dispose(&cfg);
    sx_config_dispose(NULL);
}

/* ---- Documentation ---- */

static char *capture(void (*print)(FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    print(f);
    fclose(f);
    return text;
}

static void test_config_help_lists_flag_env_and_default(void **state)
{
    char *text = capture(sx_config_print_help);
    assert_non_null(strstr(text, "--listen HOST:PORT"));
    assert_non_null(strstr(text, "(env SEXTANT_LISTEN, default 127.0.0.1:4318) repeatable;"));
    assert_non_null(strstr(text, "(env SEXTANT_RETENTION, default 30d)"));
    assert_non_null(strstr(text, "--auth-token TOKEN=TENANT"));
    assert_non_null(strstr(text, "(env SEXTANT_AUTH_TOKENS)"));
    assert_non_null(strstr(text, "--access-log[=BOOL]"));
    free(text);
}

static void test_config_markdown_has_one_row_per_option(void **state)
{
    char *text = capture(sx_config_print_markdown);
    assert_true(strncmp(text, "| flag | env | YAML key | default | description |\n", 49) == 0);
    assert_non_null(strstr(text, "| `--retention-max-size SIZE` | `SEXTANT_RETENTION_MAX_SIZE` | "
                                 "`retention_max_size` | `0` |"));
    int rows = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        rows++;
    assert_int_equal(rows, 2 + 27);
    free(text);
}

/* ---- sx_size_parse ---- */

static void test_size_parse_accepts_bytes_and_units(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"0", 0},
        {"1024", 1024},
        {"10B", 10},
        {"1KB", 1000},
        {"64KiB", 65536},
        {"10MB", 10000000},
        {"64MiB", 64LL << 20},
        {"5GB", 5000000000},
        {"1GiB", 1LL << 30},
        {"2TB", 2000000000000},
        {"1TiB", 1LL << 40},
        {"1.5GiB", 3LL << 29},
        {"0.5KB", 500},
        {"64 MiB", 64LL << 20},
        {"64mib", 64LL << 20},
        {"8388607TiB", 8388607LL << 40},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        sx_err_t err;
        if (sx_size_parse(cases[i].in, &got, &err) != 0)
            fail_msg("%s: %s", cases[i].in, err.msg);
        if (got != cases[i].want)
            fail_msg("%s: got %lld want %lld", cases[i].in, (long long)got,
                     (long long)cases[i].want);
    }
}

static void test_size_parse_rejects_garbage_and_overflow(void **state)
{
    static const char *const bad[] = {
        "", "MiB", "-1", "+1", "1.5", "1.", ".5KB", "12XB", "1 2", "1MiBs", "8388608TiB",
        "99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t got = 42;
        sx_err_t err;
        if (sx_size_parse(bad[i], &got, &err) != SX_EPARSE)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(got, 42);
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults_match_documented_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_flags_accept_separate_and_equals_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_listen_flag_is_repeatable_and_replaces_default,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bool_flag_without_value_is_true, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_retention_zero_keeps_data_forever, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_env_overrides_file_and_flag_overrides_env,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_config_higher_source_replaces_list_instead_of_appending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_flag_config_wins_over_env_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_file_sets_every_option_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_empty_file_and_null_values_keep_defaults,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_unknown_key_names_key_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_bad_value_names_key_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_syntax_error_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_rejects_non_mapping_and_duplicate_keys,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_tokens_from_flags_split_at_last_equals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_tokens_from_env_are_comma_separated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_tokens_from_yaml_sequence_of_mappings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_config_invalid_tenant_is_rejected_without_printing_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_duration_names_option_and_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_size_names_option_and_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_unknown_flag_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_flag_without_value_is_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_rejects_bad_listen_level_int_and_bool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_tls_cert_and_key_go_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_empty_env_counts_as_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_dispose_after_failed_load_is_harmless, setup,
                                        teardown),
        cmocka_unit_test(test_config_help_lists_flag_env_and_default),
        cmocka_unit_test(test_config_markdown_has_one_row_per_option),
        cmocka_unit_test(test_size_parse_accepts_bytes_and_units),
        cmocka_unit_test(test_size_parse_rejects_garbage_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
