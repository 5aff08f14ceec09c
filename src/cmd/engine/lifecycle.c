/* `nook start`, `restart`, `stop`, `kill`, `rm`, `pause`, `unpause`,
 * `rename`, `wait`, `container prune`: in the nook binary itself (no engine
 * module to load: these start in a few milliseconds). Docker's exit codes: 1 when one of the
 * containers failed, each failure on its own line. */
#include "cmd/engine/ctr_cmd.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*one_fn)(const struct nk_global *g, const char *id, const char *ref, void *arg,
                      nk_error **err);

/* Each REF in turn: resolved, then fn; print REF on success if asked. */
static int each(const struct nk_global *g, int argc, char **argv, one_fn fn, void *arg, bool echo)
{
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                char id[NK_CTR_ID_LEN + 1];
                nk_error *e = NULL;
                if (nk_ctr_resolve(g->store, argv[i], id, &e) < 0 ||
                    fn(g, id, argv[i], arg, &e) < 0) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                if (echo)
                        printf("%s\n", argv[i]);
        }
        return rc;
}

static int need_refs(const char *cmd, int argc)
{
        return optind >= argc ? nk_cmd_usage_error(cmd, "requires at least one container") : 0;
}

static int stop_one(const struct nk_global *g, const char *id, const char *ref, void *arg,
                    nk_error **err)
{
        int timeout = *(int *)arg;
        _cleanup_jansson_ json_t *rec = nk_ctr_record(g->store, id, err);
        if (!rec)
                return -1;
        if (timeout < 0) {
                json_t *t = json_object_get(json_object_get(rec, "Config"), "StopTimeout");
                timeout = json_is_integer(t) ? (int)json_integer_value(t) : 10;
        }
        return nk_ctr_stop(g, id, rec, timeout, err);
}

int nk_cmd_stop(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"time", required_argument, NULL, 't'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {0}};
        int timeout = -1, c;
        unsigned long long v;
        while ((c = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
                if (c != 't' || nk_parse_uint(optarg, 1 << 30, &v) < 0)
                        return nk_cmd_usage_error("stop", "-t: a number of seconds");
                timeout = (int)v;
        }
        if (need_refs("stop", argc))
                return 1;
        return each(g, argc, argv, stop_one, &timeout, true);
}

static int kill_one(const struct nk_global *g, const char *id, const char *ref, void *arg,
                    nk_error **err)
{
        struct nk_ctr_state st;
        if (nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        if (st.status != NK_CTR_RUNNING && st.status != NK_CTR_PAUSED)
                return nk_error_set(err, 0, "cannot kill container %s: it is not running", ref);
        return nk_container_kill(g->root, id, *(int *)arg, false, err);
}

int nk_cmd_kill(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"signal", required_argument, NULL, 's'}, {0}};
        int sig = SIGKILL, c;
        while ((c = getopt_long(argc, argv, "+s:", opts, NULL)) != -1) {
                if (c != 's' || (sig = nk_signal_parse(optarg)) <= 0)
                        return nk_cmd_usage_error("kill", "-s: unknown signal `%s`",
                                                  c == 's' ? optarg : "?");
        }
        if (need_refs("kill", argc))
                return 1;
        return each(g, argc, argv, kill_one, &sig, true);
}

static int rm_one(const struct nk_global *g, const char *id, const char *ref, void *arg,
                  nk_error **err)
{
        const bool *fv = arg; /* force, volumes */
        bool force = fv[0];
        struct nk_ctr_state st;
        if (nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        bool live = st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED ||
                    st.status == NK_CTR_RESTARTING || st.monitor;
        if (live && !force)
                return nk_error_set(err, EBUSY,
                                    "cannot remove container %s: it is %s: stop it first or "
                                    "use rm -f",
                                    ref, nk_ctr_status_name(st.status));
        return nk_ctr_force_remove(g, id, fv[1], err);
}

/* rm -f of several: every one resolved, then every init killed, so their
 * monitors record the exits and delete the runtime state side by side
 * while the removals go one by one. One with --rm may be gone by then,
 * removed by its monitor: removed all the same. */
static int rm_many(const struct nk_global *g, int n, char **refs, bool volumes)
{
        char(*ids)[NK_CTR_ID_LEN + 1] = calloc((size_t)n, sizeof *ids);
        bool *found = calloc((size_t)n, sizeof *found);
        int rc = 0;
        if (!ids || !found) {
                free(ids);
                free(found);
                nk_log(NK_LOG_ERROR, "rm: out of memory");
                return 1;
        }
        for (int i = 0; i < n; i++) {
                nk_error *e = NULL;
                found[i] = nk_ctr_resolve(g->store, refs[i], ids[i], &e) == 0;
                if (!found[i])
                        rc = nk_ctr_fail(e, 1);
        }
        for (int i = 0; i < n; i++)
                if (found[i])
                        nk_ctr_kill_for_removal(g, ids[i]);
        for (int i = 0; i < n; i++) {
                nk_error *e = NULL;
                if (!found[i])
                        continue;
                if (nk_ctr_force_remove(g, ids[i], volumes, &e) < 0)
                        rc = nk_ctr_fail(e, 1);
                else
                        printf("%s\n", refs[i]);
        }
        free(ids);
        free(found);
        return rc;
}

int nk_cmd_rm(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"force", no_argument, NULL, 'f'}, {"volumes", no_argument, NULL, 'v'}, {0}};
        bool fv[2] = {false, false}; /* -f, -v */
        int c;
        while ((c = getopt_long(argc, argv, "+fv", opts, NULL)) != -1) {
                if (c == 'f' || c == 'v')
                        fv[c == 'v'] = true;
                else
                        return nk_cmd_usage_error("rm", "unknown option");
        }
        if (need_refs("rm", argc))
                return 1;
        nk_ctr_sweep_trash(g->store, g->root);
        if (!fv[0] || argc - optind < 2)
                return each(g, argc, argv, rm_one, fv, true);
        return rm_many(g, argc - optind, argv + optind, fv[1]);
}

static int pause_one(const struct nk_global *g, const char *id, const char *ref, void *arg,
                     nk_error **err)
{
        struct nk_container *c = NULL;
        if (nk_container_open(g->root, id, NK_CONTAINER_LOCK, &c, err) < 0)
                return nk_error_wrap(err, "container %s is not running", ref);
        bool pause = *(bool *)arg;
        int r = pause ? nk_container_pause(c, err) : nk_container_resume(c, err);
        nk_container_close(c);
        _cleanup_close_ int dfd = r == 0 ? nk_ctr_dir_open(g->store, id, err) : -1;
        if (r < 0 || dfd < 0)
                return -1;
        /* What ps reads (it parses no runtime state). */
        if (pause)
                close(openat(dfd, "paused", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        else
                (void)unlinkat(dfd, "paused", 0);
        return 0;
}

int nk_cmd_pause(const struct nk_global *g, int argc, char **argv)
{
        bool pause = true;
        optind = 1;
        if (need_refs("pause", argc))
                return 1;
        return each(g, argc, argv, pause_one, &pause, true);
}

int nk_cmd_unpause(const struct nk_global *g, int argc, char **argv)
{
        bool pause = false;
        optind = 1;
        if (need_refs("unpause", argc))
                return 1;
        return each(g, argc, argv, pause_one, &pause, true);
}

int nk_cmd_rename(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 3)
                return nk_cmd_usage_error("rename", "expects CONTAINER NEW_NAME");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        const char *to = argv[2];
        if (nk_ctr_resolve(g->store, argv[1], id, &e) < 0)
                return nk_ctr_fail(e, 1);
        _cleanup_close_ int lock = nk_ctr_names_lock(g->store, &e);
        _cleanup_jansson_ json_t *rec = lock < 0 ? NULL : nk_ctr_record(g->store, id, &e);
        if (!rec || nk_ctr_name_reserve(g->store, to, id, &e) < 0)
                return nk_ctr_fail(e, 1);
        _cleanup_free_ char *old = strdup(json_string_value(json_object_get(rec, "Name")) ?: "/");
        _cleanup_free_ char *slash = NULL;
        if (asprintf(&slash, "/%s", to) < 0)
                return 1;
        json_object_set_new(rec, "Name", json_string(slash));
        if (nk_ctr_record_save(g->store, id, rec, &e) < 0) {
                nk_ctr_name_release(g->store, to, id);
                return nk_ctr_fail(e, 1);
        }
        nk_ctr_name_release(g->store, old + 1, id);
        return 0;
}

/* Block until the container is not running (no monitor either). */
static int wait_one(const struct nk_global *g, const char *id, const char *ref, void *arg,
                    nk_error **err)
{
        for (;;) {
                struct nk_ctr_state st;
                nk_error *e = NULL;
                if (nk_ctr_state(g->store, g->root, id, &st, &e) < 0) {
                        nk_error_free(e); /* removed (--rm) as we waited */
                        return nk_error_set(err, 0, "no such container: %s", ref);
                }
                bool up = st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED ||
                          st.status == NK_CTR_RESTARTING;
                if (!up && !st.monitor) {
                        printf("%d\n", st.exit_code);
                        fflush(stdout);
                        return 0;
                }
                pid_t pid = st.monitor ? st.monitor : st.pid;
                int pfd = nk_pidfd_open(pid, 0);
                struct pollfd p = {.fd = pfd, .events = POLLIN};
                if (pfd < 0 || poll(&p, 1, 200) < 0)
                        usleep(50000);
                if (pfd >= 0)
                        close(pfd);
        }
}

int nk_cmd_wait(const struct nk_global *g, int argc, char **argv)
{
        optind = 1;
        if (need_refs("wait", argc))
                return 1;
        return each(g, argc, argv, wait_one, NULL, false);
}

/* Stopped containers (exited or created, no monitor): removed. */
static int prune(const struct nk_global *g)
{
        _cleanup_strv_ char **ids = NULL;
        nk_error *e = NULL;
        if (nk_ctr_list(g->store, &ids, &e) < 0)
                return nk_ctr_fail(e, 1);
        nk_ctr_sweep_trash(g->store, g->root);
        printf("Deleted Containers:\n");
        int rc = 0;
        for (char **p = ids; *p; p++) {
                struct nk_ctr_state st;
                if (nk_ctr_state(g->store, g->root, *p, &st, &e) < 0) {
                        nk_error_free(e);
                        e = NULL;
                        continue;
                }
                if (st.monitor || st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED ||
                    st.status == NK_CTR_RESTARTING)
                        continue;
                if (nk_ctr_force_remove(g, *p, false, &e) < 0)
                        rc = nk_ctr_fail(e, 1);
                else
                        printf("%s\n", *p);
                e = NULL;
        }
        return rc;
}

#define PRUNE_USAGE "container prune [-f]"
#define PRUNE_HELP                                                                                 \
        "Remove every container that is not running (created or exited).\n"                        \
        "  -f, --force   accepted (nook never asks for confirmation)\n"

/* What `container` does not hand on to a command of its own (nook.c maps
 * `container ls|rm|...`): prune. */
int nk_cmd_container(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("container", "expects a subcommand");
        if (!streq(argv[1], "prune"))
                return nk_cmd_usage_error("container", "unknown subcommand `%s`", argv[1]);
        if (nk_cmd_help(argc - 1, argv + 1, PRUNE_USAGE, PRUNE_HELP))
                return 0;
        for (int i = 2; i < argc; i++)
                if (!streq(argv[i], "-f") && !streq(argv[i], "--force"))
                        return nk_cmd_usage_error("container prune", "unknown option `%s`",
                                                  argv[i]);
        return prune(g);
}

/* A container that does not run: leftovers of a killed monitor go first. */
static int start_one(const struct nk_global *g, const char *ref, bool attach, bool in)
{
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        struct nk_ctr_state st;
        /* The rootfs lock first: a start or a `cp` to the stopped
         * container at the same time waits, then finds the truth. */
        _cleanup_close_ int lock = -1, mnt = -1;
        if (nk_ctr_resolve(g->store, ref, id, &e) < 0 ||
            (lock = nk_image_rootfs_lock(g->store, id, true, &e)) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, &e) < 0)
                return nk_ctr_fail(e, 1);
        if (st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED || st.monitor) {
                close(TAKE_FD(lock));
                if (!attach)
                        return 0; /* Docker: starting a running container is a no-op */
                _cleanup_jansson_ json_t *rec = nk_ctr_record(g->store, id, &e);
                return rec ? nk_ctr_attach(g, id, rec, !in) : nk_ctr_fail(e, 1);
        }
        if (st.status == NK_CTR_REMOVING) {
                nk_log(NK_LOG_ERROR, "container %s is being removed", ref);
                return 1;
        }
        if (nk_container_delete(g->root, id, true, &e) < 0)
                nk_error_free(e);
        e = NULL;
        /* Its overlay, made anew at each start: the last one went with the
         * container's mount namespace. */
        if ((mnt = nk_image_rootfs_open(g->store, id, &e)) < 0)
                return nk_ctr_fail(e, 1);
        json_t *rec = nk_ctr_record(g->store, id, &e);
        if (!rec)
                return nk_ctr_fail(e, 1);
        if (nk_ctr_net_restore(g, id, rec, &e) < 0) {
                json_decref(rec);
                return nk_ctr_fail(e, 1);
        }
        bool failed;
        int rc = nk_ctr_start_monitor(g, id, rec, attach, in, NULL, &mnt, &lock, &failed);
        json_decref(rec);
        return rc;
}

int nk_cmd_start(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"attach", no_argument, NULL, 'a'}, {"interactive", no_argument, NULL, 'i'}, {0}};
        bool attach = false, in = false;
        int c;
        while ((c = getopt_long(argc, argv, "+ai", opts, NULL)) != -1) {
                if (c == 'a')
                        attach = true;
                else if (c == 'i')
                        in = attach = true;
                else
                        return nk_cmd_usage_error("start", "unknown option");
        }
        if (optind >= argc)
                return nk_cmd_usage_error("start", "requires at least one container");
        if (attach && argc - optind > 1)
                return nk_cmd_usage_error("start", "-a and -i take one container");
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                int r = start_one(g, argv[i], attach, in);
                if (attach)
                        return r;
                if (r == 0)
                        printf("%s\n", argv[i]);
                else
                        rc = r;
        }
        return rc;
}

int nk_cmd_restart(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"time", required_argument, NULL, 't'}, {0}};
        int timeout = 10, c;
        while ((c = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
                if (c != 't' || (timeout = atoi(optarg)) < 0)
                        return nk_cmd_usage_error("restart", "bad option");
        }
        if (optind >= argc)
                return nk_cmd_usage_error("restart", "requires at least one container");
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                char id[NK_CTR_ID_LEN + 1];
                nk_error *e = NULL;
                json_t *rec = NULL;
                if (nk_ctr_resolve(g->store, argv[i], id, &e) < 0 ||
                    !(rec = nk_ctr_record(g->store, id, &e)) ||
                    nk_ctr_stop(g, id, rec, timeout, &e) < 0) {
                        json_decref(rec);
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                json_decref(rec);
                int r = start_one(g, id, false, false);
                if (r == 0)
                        printf("%s\n", argv[i]);
                else
                        rc = r;
        }
        return rc;
}

int nk_cmd_attach(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"no-stdin", no_argument, NULL, 'n'},
                                             {"sig-proxy", required_argument, NULL, 'p'},
                                             {0}};
        bool no_stdin = false;
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                if (c == 'n')
                        no_stdin = true;
                else if (c != 'p')
                        return nk_cmd_usage_error("attach", "unknown option");
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("attach", "expects one container");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        struct nk_ctr_state st;
        if (nk_ctr_resolve(g->store, argv[optind], id, &e) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, &e) < 0)
                return nk_ctr_fail(e, 1);
        if (!st.monitor || (st.status != NK_CTR_RUNNING && st.status != NK_CTR_RESTARTING)) {
                nk_log(NK_LOG_ERROR, "cannot attach to container %s: it is %s%s", argv[optind],
                       nk_ctr_status_name(st.status), st.monitor ? "" : " (no monitor)");
                return 1;
        }
        _cleanup_jansson_ json_t *rec = nk_ctr_record(g->store, id, &e);
        if (!rec)
                return nk_ctr_fail(e, 1);
        return nk_ctr_attach(g, id, rec, no_stdin);
}
