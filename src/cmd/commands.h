/* nook command line: global options, the command table, shared helpers.
 * A command parses its own options (getopt_long_only, so runc's single-dash
 * long flags work too), makes one call into the library, prints, and returns
 * the process exit code. */
#pragma once
#include <stdbool.h>
#include <getopt.h>
#include "util/error.h"

struct nk_global {
        const char *root;        /* --root, default /run/nook */
        const char *log;         /* --log FILE */
        const char *log_format;  /* text|json */
        const char *store;       /* --store / NOOK_STORE, default /var/lib/nook */
        bool debug;
        bool systemd_cgroup;
        bool no_cgroup;          /* --cgroup-manager disabled (crun) */
};

struct nk_command {
        const char *name;
        int (*run)(const struct nk_global *g, int argc, char **argv);
        const char *usage;      /* "create [options] ID" */
        const char *summary;    /* one line */
};

/* Each table ends with a zeroed entry. */
extern const struct nk_command nk_runtime_commands[];   /* src/cmd/runtime*.c */
extern const struct nk_command nk_cgroup_commands[];    /* src/cmd/cgroup_cmds.c */
extern const struct nk_command nk_engine_commands[];    /* src/cmd/engine/ */

/* Print "nook: <error text>" (and log it), free it, return 1. */
int nk_cmd_fail(nk_error *err);
/* Print a usage error naming the command, return 1 (runc uses 1 too). */
int nk_cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* If argv has -h/--help, print "usage: nook <usage>\n<help>" and return true. */
bool nk_cmd_help(int argc, char **argv, const char *usage, const char *help);
/* Reset getopt before a command parses its argv. */
void nk_cmd_getopt_reset(void);
