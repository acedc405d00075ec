/* SPDX-License-Identifier: Apache-2.0 */
/* The sextant command: `sextant <command> [options]`. This file only
 * dispatches through a const command table; each command's work lives in its
 * own module (the server, the config table, later cmd_*.c). Exit codes: 0 on
 * success, 2 for a usage error, otherwise what the command returns. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../core/config.h"
#include "../core/error.h"
#include "../core/log.h"
#include "../server/server.h"

#ifndef SX_VERSION
#define SX_VERSION "unknown"
#endif
#ifndef SX_REVISION
#define SX_REVISION "unknown"
#endif

#define EXIT_USAGE 2

/* One subcommand. run gets the arguments after the command name and
 * returns the process exit code. */
typedef struct command {
    const char *name;
    const char *args;    /* argument synopsis for the usage line */
    const char *summary;
    int (*run)(int argc, char **argv);
} command_t;

static int cmd_serve(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static int cmd_config_doc(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command_t commands[] = {
    {"serve", "[options]", "run the server", cmd_serve},
    {"version", "", "print the version and source revision", cmd_version},
    {"config-doc", "", "print the configuration options as a Markdown table", cmd_config_doc},
    {"help", "[command]", "list commands, or show one command's options", cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void print_usage(FILE *out)
{
    fprintf(out, "Usage: sextant <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun `sextant <command> --help` for a command's options.\n");
}

static void print_command_usage(FILE *out, const command_t *c)
{
    fprintf(out, "Usage: sextant %s%s%s\n\n%s\n", c->name, *c->args ? " " : "", c->args,
            c->summary);
}

/* Commands without options accept only --help. */
static int no_args(const char *name, int argc, char **argv)
{
    if (argc == 0)
        return 0;
    if (argc == 1 && is_help(argv[0])) {
        print_command_usage(stdout, find_command(name));
        return -1;
    }
    fprintf(stderr, "sextant %s: unexpected argument \"%s\"\n", name, argv[0]);
    return EXIT_USAGE;
}

static int cmd_serve(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            print_command_usage(stdout, find_command("serve"));
            printf("\nOptions:\n");
            sx_config_print_help(stdout);
            return 0;
        }
    }
    sx_config_t cfg;
    sx_err_t err = {0};
    if (sx_config_load(&cfg, argc, argv, &err) != 0) {
        fprintf(stderr, "sextant serve: %s\nRun `sextant serve --help` for the options.\n",
                err.msg);
        return EXIT_USAGE;
    }
    /* The config loader has checked the level already. */
    sx_log_set_level(sx_log_level_parse(cfg.log_level));
    int rc = sx_server_run(&cfg);
    sx_config_dispose(&cfg);
    return rc;
}

static int cmd_version(int argc, char **argv)
{
    int rc = no_args("version", argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    printf("sextant version %s (revision %s)\n", SX_VERSION, SX_REVISION);
    return 0;
}

static int cmd_config_doc(int argc, char **argv)
{
    int rc = no_args("config-doc", argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    sx_config_print_markdown(stdout);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0 || (argc == 1 && is_help(argv[0]))) {
        print_usage(stdout);
        return 0;
    }
    const command_t *c = find_command(argv[0]);
    if (!c) {
        fprintf(stderr, "sextant help: unknown command \"%s\"\n", argv[0]);
        return EXIT_USAGE;
    }
    if (argc > 1) {
        fprintf(stderr, "sextant help: unexpected argument \"%s\"\n", argv[1]);
        return EXIT_USAGE;
    }
    char help[] = "--help";
    char *args[] = {help, NULL};
    return c->run(1, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1]))
        return cmd_help(0, NULL);
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(0, NULL);
    const command_t *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "sextant: unknown command \"%s\"\n\n", argv[1]);
        print_usage(stderr);
        return EXIT_USAGE;
    }
    return c->run(argc - 2, argv + 2);
}
