/* Runtime face: create, start, run, state, kill, delete, list, features. */
#include "cmd/commands.h"
#include "runtime/container.h"
#include "runtime/features.h"
#include "runtime/security.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/strv.h"
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
        OPT_BUNDLE = 'b',
        OPT_CONSOLE = 256,
        OPT_PIDFILE,
        OPT_NOPIVOT,
        OPT_NOKEYRING,
        OPT_PRESERVE,
        OPT_DETACH = 'd',
        OPT_KEEP = 300,
        OPT_NOSUBREAPER,
        OPT_CONFIG = 'f'
};

static const struct option create_opts[] = {
        {"bundle", required_argument, NULL, OPT_BUNDLE},
        {"console-socket", required_argument, NULL, OPT_CONSOLE},
        {"pid-file", required_argument, NULL, OPT_PIDFILE},
        {"no-pivot", no_argument, NULL, OPT_NOPIVOT},
        {"no-new-keyring", no_argument, NULL, OPT_NOKEYRING},
        {"preserve-fds", required_argument, NULL, OPT_PRESERVE},
        {"detach", no_argument, NULL, OPT_DETACH},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"no-subreaper", no_argument, NULL, OPT_NOSUBREAPER},
        {"config", required_argument, NULL, OPT_CONFIG},
        {0},
};

/* create and run's options: the bundle and its --config, and *o. */
struct create_args {
        const char *bundle, *config;
        struct nk_create_opts o;
};

/* Shared by create and run: fills *a, returns 0 or an exit code. */
static int parse_create(const char *cmd, const struct nk_global *g, int argc, char **argv,
                        bool is_run, struct create_args *a)
{
        struct nk_create_opts *o = &a->o;
        *a = (struct create_args){0};
        *o = (struct nk_create_opts){.root = g->root,
                                     .systemd_cgroup = g->systemd_cgroup,
                                     .no_cgroup = g->no_cgroup,
                                     .init_fd = -1,
                                     .detach = !is_run};
        int c;
        while ((c = getopt_long_only(argc, argv, "+b:df:", create_opts, NULL)) != -1) {
                switch (c) {
                case OPT_BUNDLE:
                        a->bundle = optarg;
                        break;
                case OPT_CONSOLE:
                        o->console_socket = optarg;
                        break;
                case OPT_CONFIG:
                        a->config = optarg;
                        break;
                case OPT_PIDFILE:
                        o->pid_file = optarg;
                        break;
                case OPT_NOPIVOT:
                        o->no_pivot = true;
                        break;
                case OPT_NOKEYRING:
                        o->no_new_keyring = true;
                        break;
                case OPT_PRESERVE: {
                        unsigned long long n;
                        if (nk_parse_uint(optarg, NK_PRESERVE_FDS_MAX, &n) < 0)
                                return nk_cmd_usage_error(cmd, "--preserve-fds: bad number `%s`",
                                                          optarg);
                        o->preserve_fds = (int)n;
                        break;
                }
                case OPT_DETACH:
                        if (!is_run)
                                return nk_cmd_usage_error(cmd, "unknown option -d");
                        o->detach = true;
                        break;
                case OPT_KEEP:
                        if (!is_run)
                                return nk_cmd_usage_error(cmd, "unknown option --keep");
                        o->keep = true;
                        break;
                case OPT_NOSUBREAPER:
                        break;
                default:
                        return 1;
                }
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error(cmd, "expects exactly one container ID");
        o->id = argv[optind];
        return 0;
}

/* create and run: the bundle read, nook's binary kept out of the
 * container's reach (nk_self_exe_guard: nook-init to hand over to, or a
 * re-exec of the whole command from a sealed copy), then one call. */
static int create_or_run(const struct nk_global *g, int argc, char **argv, bool is_run)
{
        struct create_args a;
        int r = parse_create(is_run ? "run" : "create", g, argc, argv, is_run, &a);
        if (r)
                return r;
        nk_error *err = NULL;
        struct nk_bundle b = {0};
        if (nk_container_id_check(a.o.id, &err) < 0 ||
            nk_bundle_load(a.bundle, a.config, &b, &err) < 0 ||
            nk_self_exe_guard(g->argv, nk_container_may_hand_over(b.spec), &a.o.init_fd, &err) <
                    0) {
                nk_bundle_clear(&b);
                nk_error_wrap(&err, "create container `%s`", a.o.id);
                return nk_cmd_fail(err);
        }
        a.o.bundle = b.dir;
        int code = 0;
        if (is_run)
                r = nk_container_run(b.spec, b.rootfs, &a.o, &code, &err);
        else
                r = nk_container_create(b.spec, b.rootfs, &a.o, &err);
        if (a.o.init_fd >= 0)
                close(a.o.init_fd);
        nk_bundle_clear(&b);
        return r < 0 ? nk_cmd_fail(err) : code;
}

static int cmd_create(const struct nk_global *g, int argc, char **argv)
{
        return create_or_run(g, argc, argv, false);
}

static int cmd_run(const struct nk_global *g, int argc, char **argv)
{
        return create_or_run(g, argc, argv, true);
}

static int cmd_start(const struct nk_global *g, int argc, char **argv)
{
        const char *id = NULL;
        int r = nk_cmd_one_id("start", argc, argv, &id);
        if (r)
                return r;
        nk_error *err = NULL;
        return nk_container_start(g->root, id, &err) < 0 ? nk_cmd_fail(err) : 0;
}

static int cmd_state(const struct nk_global *g, int argc, char **argv)
{
        const char *id = NULL;
        int r = nk_cmd_one_id("state", argc, argv, &id);
        if (r)
                return r;
        nk_error *err = NULL;
        struct nk_container *c = NULL;
        if (nk_container_open(g->root, id, 0, &c, &err) < 0)
                return nk_cmd_fail(err);
        json_t *o = nk_container_state_json(c);
        nk_container_close(c);
        return nk_cmd_json_out(o, true);
}

/* crun's --regex: the ids an extended regular expression matches
 * (anywhere in the id, as crun's regexec does), in list order. */
static int ids_matching(const struct nk_global *g, const char *cmd, const char *re_text,
                        char ***out)
{
        regex_t re;
        int rc = regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
                char msg[128];
                regerror(rc, &re, msg, sizeof msg);
                return nk_cmd_usage_error(cmd, "--regex `%s`: %s", re_text, msg);
        }
        nk_error *err = NULL;
        _cleanup_strv_ char **ids = NULL;
        if (nk_state_list(g->root, &ids, &err) < 0) {
                regfree(&re);
                return nk_cmd_fail(err);
        }
        size_t k = 0;
        for (size_t i = 0; ids[i]; i++) {
                if (regexec(&re, ids[i], 0, NULL, 0) == 0)
                        ids[k++] = ids[i];
                else
                        free(ids[i]);
        }
        ids[k] = NULL;
        regfree(&re);
        *out = TAKE_PTR(ids);
        return 0;
}

static int cmd_kill(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"all", no_argument, NULL, 'a'}, {"regex", no_argument, NULL, 'r'}, {0}};
        bool all = false, regex = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+ar", opts, NULL)) != -1) {
                if (c == 'a')
                        all = true;
                else if (c == 'r')
                        regex = true;
                else
                        return 1;
        }
        if (optind >= argc || argc - optind > 2)
                return nk_cmd_usage_error("kill", "usage: kill [--all] ID [SIGNAL]");
        const char *id = argv[optind];
        int sig = 15;
        if (argc - optind == 2 && (sig = nk_signal_parse(argv[optind + 1])) < 0)
                return nk_cmd_usage_error("kill", "unknown signal `%s`", argv[optind + 1]);
        nk_error *err = NULL;
        if (!regex)
                return nk_container_kill(g->root, id, sig, all, &err) < 0 ? nk_cmd_fail(err) : 0;
        _cleanup_strv_ char **ids = NULL;
        int rc = ids_matching(g, "kill", id, &ids);
        for (size_t i = 0; rc == 0 && ids[i]; i++)
                if (nk_container_kill(g->root, ids[i], sig, all, &err) < 0)
                        rc = nk_cmd_fail(err);
        return rc;
}

static int cmd_delete(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"force", no_argument, NULL, 'f'}, {"regex", no_argument, NULL, 'r'}, {0}};
        bool force = false, regex = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+fr", opts, NULL)) != -1) {
                if (c == 'f')
                        force = true;
                else if (c == 'r')
                        regex = true;
                else
                        return 1;
        }
        if (optind >= argc)
                return nk_cmd_usage_error("delete", "expects at least one container ID");
        int rc = 0;
        if (regex) {
                if (optind + 1 != argc)
                        return nk_cmd_usage_error("delete", "--regex takes one expression");
                _cleanup_strv_ char **ids = NULL;
                if ((rc = ids_matching(g, "delete", argv[optind], &ids)) != 0)
                        return rc;
                for (size_t i = 0; ids[i]; i++) {
                        nk_error *err = NULL;
                        if (nk_container_delete(g->root, ids[i], force, &err) < 0)
                                rc = nk_cmd_fail(err);
                }
                return rc;
        }
        for (int i = optind; i < argc; i++) {
                nk_error *err = NULL;
                if (nk_container_delete(g->root, argv[i], force, &err) < 0)
                        rc = nk_cmd_fail(err);
        }
        return rc;
}

static int cmd_list(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"format", required_argument, NULL, 'f'}, {"quiet", no_argument, NULL, 'q'}, {0}};
        const char *format = "table";
        bool quiet = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:q", opts, NULL)) != -1) {
                if (c == 'f')
                        format = optarg;
                else if (c == 'q')
                        quiet = true;
                else
                        return 1;
        }
        if (!streq(format, "table") && !streq(format, "json"))
                return nk_cmd_usage_error("list", "--format: `%s` is not table or json", format);
        nk_error *err = NULL;
        json_t *arr = nk_container_list(g->root, &err);
        if (!arr)
                return nk_cmd_fail(err);
        if (!quiet && streq(format, "table"))
                printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE",
                       "CREATED", "OWNER");
        size_t i;
        json_t *o;
        json_array_foreach (arr, i, o) {
                const char *id = json_string_value(json_object_get(o, "id"));
                const char *reason = json_string_value(json_object_get(o, "reason"));
                if (quiet)
                        puts(id);
                else if (streq(format, "table"))
                        printf("%-20s %-8lld %-10s %-40s %-30s %s\n", id,
                               json_integer_value(json_object_get(o, "pid")),
                               json_string_value(json_object_get(o, "status")),
                               reason ? reason : json_string_value(json_object_get(o, "bundle")),
                               json_string_value(json_object_get(o, "created")),
                               json_string_value(json_object_get(o, "owner")));
        }
        if (!quiet && streq(format, "json"))
                return nk_cmd_json_out(arr, true);
        json_decref(arr);
        return 0;
}

static int cmd_features(const struct nk_global *g, int argc, char **argv)
{
        return nk_cmd_json_out(nk_features(), true);
}

/* crun commands nook does not have: say so and why, rather than
 * "unknown command". */
static int cmd_unsupported(const struct nk_global *g, int argc, char **argv)
{
        (void)g;
        (void)argc;
        if (streq(argv[0], "mounts"))
                fprintf(stderr, "nook: mounts: adding or removing mounts in a running container "
                                "is not supported (crun marks it experimental)\n");
        else
                fprintf(stderr, "nook: %s: not supported: nook has no CRIU checkpoint/restore\n",
                        argv[0]);
        return 1;
}

int nk_cmd_spec(const struct nk_global *g, int argc, char **argv);
int nk_cmd_exec(const struct nk_global *g, int argc, char **argv);

const struct nk_command nk_runtime_commands[] = {
        {"create", cmd_create,
         "create [--bundle DIR] [--console-socket PATH] [--pid-file F] "
         "[--no-pivot] [--no-new-keyring] [--preserve-fds N] [--config FILE] ID",
         "create a container (its process waits for start)", NK_CMD_PRESERVE_FDS},
        {"start", cmd_start, "start ID", "run the process of a created container"},
        {"run", cmd_run,
         "run [--bundle DIR] [--detach] [--keep] [--console-socket PATH] "
         "[--pid-file F] [--no-pivot] [--no-new-keyring] [--preserve-fds N] [--config FILE] ID",
         "create and start a container", NK_CMD_PRESERVE_FDS},
        {"state", cmd_state, "state ID", "print the OCI state of a container"},
        {"kill", cmd_kill, "kill [--all] [--regex] ID [SIGNAL]", "send a signal (default TERM)"},
        {"delete", cmd_delete, "delete [--force] ID... | delete [--force] --regex RE",
         "delete a container"},
        {"list", cmd_list, "list [--format table|json] [--quiet]", "list containers"},
        {"features", cmd_features, "features", "print what this runtime supports (JSON)"},
        {"exec", nk_cmd_exec,
         "exec [--process FILE] [--tty] [--console-socket PATH] [--detach] "
         "[--pid-file F] [--cwd DIR] [--env K=V] [--user UID[:GID]] "
         "[--additional-gids GID] [--cap CAP] [--no-new-privs] "
         "[--apparmor P] [--process-label L] [--preserve-fds N] "
         "[--ignore-paused] [--cgroup SUB] ID [COMMAND [ARGS...]]",
         "run a new process in a running container", NK_CMD_PRESERVE_FDS | NK_CMD_SELF_EXE_SEAL},
        {"spec", nk_cmd_spec, "spec [--bundle DIR] [--rootless] [--seccomp]",
         "write a default config.json"},
        {"checkpoint", cmd_unsupported, "checkpoint ID", "not supported (no CRIU)"},
        {"restore", cmd_unsupported, "restore ID", "not supported (no CRIU)"},
        {"mounts", cmd_unsupported, "mounts add|remove ID FILE", "not supported"},
        {0},
};
