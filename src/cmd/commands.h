/* nook command line: global options, the command table, shared helpers.
 * A command parses its own options (getopt_long_only, so runc's single-dash
 * long flags work too), makes one call into the library, prints, and returns
 * the process exit code. */
#pragma once
#include "util/error.h"
#include <getopt.h>
#include <stdbool.h>

struct nk_global {
        const char *root;       /* --root, default /run/nook */
        const char *log;        /* --log FILE */
        const char *log_format; /* text|json */
        const char *store;      /* --store / NOOK_STORE, default /var/lib/nook */
        bool debug;
        bool systemd_cgroup;
        bool no_cgroup; /* --cgroup-manager disabled (crun) */
        char **argv;    /* main's, whole: for the re-exec of nk_self_exe_guard() */
};

/* What main does for a command before running it (main knows no command
 * by name). */
enum nk_command_flags {
        /* Takes --preserve-fds N: fds 3..N+2 are reserved before nook opens
         * anything (the --log file first); see nk_process_reserve_fds(). */
        NK_CMD_PRESERVE_FDS = 1 << 0,
        /* Puts a process into a running container: seal /proc/self/exe
         * first (nk_seal_self_exe). create and run decide it themselves,
         * once the spec is known (nk_self_exe_guard with g->argv). */
        NK_CMD_SELF_EXE_SEAL = 1 << 1,
        /* -h is one of its options (run's --hostname), not help. */
        NK_CMD_H_IS_OPTION = 1 << 2,
};

struct nk_command {
        const char *name;
        int (*run)(const struct nk_global *g, int argc, char **argv);
        const char *usage;   /* "create [options] ID" */
        const char *summary; /* one line */
        unsigned flags;      /* enum nk_command_flags */
};

/* Each table ends with a zeroed entry. */
extern const struct nk_command nk_runtime_commands[]; /* src/cmd/runtime*.c */
extern const struct nk_command nk_cgroup_commands[];  /* src/cmd/cgroup_cmds.c */
extern const struct nk_command nk_engine_commands[];  /* src/cmd/engine/ (the module) */
/* Engine commands built into the binary itself, found without loading the
 * module (and its libraries): src/cmd/engine_core.c. */
extern const struct nk_command nk_engine_core_commands[];
/* A symbol of the engine module, loading it (src/nook.c) on first use;
 * NULL (and a line on stderr) when the module or the symbol is missing. */
void *nk_cmd_engine_symbol(const char *name);
/* The networking module's operations (net/ctrnet.h), loading it on first
 * use; NULL (and a line on stderr) when it is missing. */
struct nk_net_ops;
const struct nk_net_ops *nk_cmd_net_ops(void);
/* The engine's settings from the environment (struct nk_engine_env), read
 * once: by the module when it loads, and by run/create in nook itself. */
void nk_cmd_engine_env_init(void);

/* The name usage lines give: "nook", or "nook-oci" for the OCI face. */
extern const char *nk_cmd_prog;

/* Print "nook: <error text>" (and log it), free it, return 1. */
int nk_cmd_fail(nk_error *err);
/* Print a usage error naming the command, return 1 (runc uses 1 too). */
int nk_cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* If argv has -h/--help, print "usage: nook <usage>\n<help>" and return true. */
bool nk_cmd_help(int argc, char **argv, const char *usage, const char *help);
/* The same with a command's flags (NK_CMD_H_IS_OPTION). */
bool nk_cmd_help_flags(int argc, char **argv, const char *usage, const char *help, unsigned flags);
/* A command taking exactly one container ID and no options: *id, or the
 * exit code of a usage error. */
int nk_cmd_one_id(const char *cmd, int argc, char **argv, const char **id);
/* Parse `--format table|json` (the only option of ps and info): *json is
 * set for json; 0, or the exit code of a usage error. Positional
 * arguments start at optind. */
int nk_cmd_format_option(const char *cmd, int argc, char **argv, bool *json);
/* Print o (consumed) to stdout as one JSON line, or indented
 * with `pretty`; 0, or 1 when it cannot be encoded. */
struct json_t;
int nk_cmd_json_out(struct json_t *o, bool pretty);
/* Reset getopt before a command parses its argv. */
void nk_cmd_getopt_reset(void);
