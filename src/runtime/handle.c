/* The container handle and the lifecycle verbs over it: signal (kill),
 * pause, resume, update, pids, stats, watch; state and list. The command
 * layer (src/cmd) opens a handle, calls one verb and prints; it never sees
 * the cgroup module. */
#include "../util/cleanup.h"
#include "../util/log.h"
#include "../util/strv.h"
#include "../util/syscalls.h"
#include "cgroup/cgroup.h"
#include "container.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct nk_container {
        char *root;
        int dir_fd;  /* ROOT/<id>, O_PATH, opened without following */
        int lock_fd; /* -1 unless opened with NK_CONTAINER_LOCK */
        char *id;
        struct nk_state *st;  /* NULL when state.json could not be used ... */
        nk_error *load_error; /* ... and why (NK_CONTAINER_ANY_STATE) */
        struct nk_cgroup *cg; /* opened by the first verb that needs it */
};

/* Steps: the state dir (never through a symlink), its lock, state.json read
 * through the same dir fd: lock and state are of one directory, even if
 * ROOT/<id> is swapped meanwhile. */
int nk_container_open(const char *root, const char *id, unsigned flags, struct nk_container **out,
                      nk_error **err)
{
        _cleanup_close_ int dfd = nk_state_dir_open(root, id, err);
        if (dfd < 0)
                return -1;
        _cleanup_close_ int lock = -1;
        if ((flags & NK_CONTAINER_LOCK) && (lock = nk_state_lock_at(dfd, root, id, err)) < 0)
                return -1;
        struct nk_state *st = NULL;
        nk_error *e = NULL;
        if (nk_state_load_at(dfd, root, id, &st, &e) < 0 && !(flags & NK_CONTAINER_ANY_STATE))
                return nk_error_pass(err, e);
        struct nk_container *c = calloc(1, sizeof(*c));
        if (!c || !(c->root = strdup(root)) || !(c->id = strdup(id))) {
                if (c)
                        free(c->root);
                free(c);
                nk_state_free(st);
                nk_error_free(e);
                return nk_error_set(err, ENOMEM, "open container `%s`", id);
        }
        c->st = st;
        c->load_error = e;
        c->dir_fd = TAKE_FD(dfd);
        c->lock_fd = TAKE_FD(lock);
        *out = c;
        return 0;
}

void nk_container_close(struct nk_container *c)
{
        if (!c)
                return;
        nk_cgroup_free(c->cg);
        nk_state_free(c->st);
        nk_error_free(c->load_error);
        free(c->id);
        if (c->lock_fd >= 0)
                close(c->lock_fd); /* unlocks */
        close(c->dir_fd);
        free(c->root);
        free(c);
}

const struct nk_state *nk_container_state(const struct nk_container *c)
{
        return c->st;
}

const nk_error *nk_container_load_error(const struct nk_container *c)
{
        return c->load_error;
}

const char *nk_container_root(const struct nk_container *c)
{
        return c->root;
}

json_t *nk_container_state_json(const struct nk_container *c)
{
        if (c->st)
                return nk_state_to_json(c->root, c->st);
        /* A create holds the lock and has not written state.json yet. */
        bool creating = c->load_error->errno_ == ENOENT && nk_state_lock_busy_at(c->dir_fd);
        return nk_state_unknown_json(c->id, creating ? "creating" : "unknown", c->load_error->msg);
}

/* One row of the list: the entry opened once, whatever state it is in. An
 * entry that is not a state dir (a file or symlink named like an id) is
 * shown as unknown too; NULL when it is gone since the listing. */
static json_t *list_entry(const char *root, const char *id)
{
        struct nk_container *c = NULL;
        _cleanup_error_ nk_error *e = NULL;
        if (nk_container_open(root, id, NK_CONTAINER_ANY_STATE, &c, &e) < 0)
                return e->errno_ == ENOENT ? NULL : nk_state_unknown_json(id, "unknown", e->msg);
        json_t *o = nk_container_state_json(c);
        nk_container_close(c);
        return o;
}

json_t *nk_container_list(const char *root, nk_error **err)
{
        _cleanup_strv_ char **ids = NULL;
        if (nk_state_list(root, &ids, err) < 0)
                return NULL;
        json_t *arr = json_array();
        for (char **id = ids; arr && *id; id++) {
                json_t *o = list_entry(root, *id);
                if (o && json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        arr = NULL;
                }
        }
        if (!arr)
                nk_error_set(err, ENOMEM, "list containers in `%s`", root);
        return arr;
}

int nk_container_dir_fd(const struct nk_container *c)
{
        return c->dir_fd;
}

/* The container's cgroup, opened once. A container created with
 * --cgroup-manager disabled has none: every verb here refuses it. */
static struct nk_cgroup *need_cgroup(struct nk_container *c, const char *verb, nk_error **err)
{
        if (c->cg)
                return c->cg;
        if (!c->st->cgroup_path) {
                nk_error_set(err, ENOTSUP,
                             "%s: container `%s` has no cgroup "
                             "(--cgroup-manager disabled)",
                             verb, c->st->id);
                return NULL;
        }
        if (nk_cgroup_open(c->st->cgroup_path, &c->cg, err) < 0)
                return NULL;
        return c->cg;
}

/* pause: running -> paused; resume: paused -> running (runc refuses the
 * other transitions the same way). */
static int set_frozen(struct nk_container *c, bool frozen, nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, frozen ? "pause" : "resume", err);
        if (!cg)
                return -1;
        enum nk_status s = nk_state_status(c->root, c->st);
        enum nk_status want = frozen ? NK_STATUS_RUNNING : NK_STATUS_PAUSED;
        if (s != want)
                return nk_error_set(err, 0, "container `%s` is %s, not %s", c->st->id,
                                    nk_status_name(s), nk_status_name(want));
        return nk_cgroup_freeze(cg, frozen, err);
}

int nk_container_pause(struct nk_container *c, nk_error **err)
{
        return set_frozen(c, true, err);
}

int nk_container_resume(struct nk_container *c, nk_error **err)
{
        return set_frozen(c, false, err);
}

/* kill --all: every process in the container's cgroup. The cgroup is
 * frozen while its PIDs are read and signalled, so none can fork a child
 * the list misses (or exit and have its PID reused); a container the user
 * paused stays paused. A freeze that fails is not fatal: signal anyway. */
static int signal_all(struct nk_container *c, int sig, nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, "kill --all", err);
        if (!cg)
                return -1;
        bool thaw = false;
        if (!nk_cgroup_is_frozen(cg)) {
                nk_error *e = NULL;
                thaw = nk_cgroup_freeze(cg, true, &e) == 0;
                nk_error_free(e);
        }
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = nk_cgroup_pids(cg, &pids, &n, err);
        for (size_t i = 0; r == 0 && i < n; i++)
                if (kill(pids[i], sig) < 0 && errno != ESRCH)
                        r = nk_error_set(err, errno, "signal %d to pid %d", sig, (int)pids[i]);
        if (!thaw)
                return r;
        nk_error *e = NULL;
        if (nk_cgroup_freeze(cg, false, &e) == 0 || r < 0 || !err) {
                nk_error_free(e);
                return r;
        }
        nk_error_pass(err, e);
        return nk_error_wrap(err, "thaw container `%s` after signalling it", c->st->id);
}

static int signal_init(struct nk_container *c, int sig, nk_error **err)
{
        _cleanup_close_ int fd = nk_state_init_pidfd(c->st, err);
        if (fd < 0)
                return -1;
        if (nk_pidfd_send_signal(fd, sig, NULL, 0) < 0)
                return nk_error_set(err, errno, "signal %d to container `%s`", sig, c->st->id);
        return 0;
}

int nk_container_signal(struct nk_container *c, int sig, bool all, nk_error **err)
{
        /* --all also for a stopped init: what is left in the cgroup is
         * signalled (runc answers 0 here too, and shims rely on it). */
        if (all)
                return signal_all(c, sig, err);
        if (nk_state_status(c->root, c->st) == NK_STATUS_STOPPED)
                return nk_error_set(err, ESRCH, "container `%s` is not running", c->st->id);
        return signal_init(c, sig, err);
}

int nk_container_kill(const char *root, const char *id, int sig, bool all, nk_error **err)
{
        struct nk_container *c = NULL;
        if (nk_container_open(root, id, 0, &c, err) < 0)
                return -1;
        int r = nk_container_signal(c, sig, all, err);
        nk_container_close(c);
        return r;
}

void nk_resources_merge(json_t *dst, json_t *src)
{
        const char *k;
        json_t *v;
        json_object_foreach (src, k, v) {
                json_t *d = json_object_get(dst, k);
                if (json_is_object(v) && json_is_object(d))
                        json_object_update(d, v);
                else
                        json_object_set(dst, k, v);
        }
}

/* Add to `delta` the keys the kernel needs written together with the ones
 * the caller changed (v2 cpu.max takes quota and period at once, v2 swap
 * depends on the memory limit), taken from the merged resources. */
static void add_partners(json_t *delta, json_t *merged)
{
        static const struct {
                const char *section, *a, *b;
        } pairs[] = {
                {"cpu", "quota", "period"},
                {"memory", "limit", "swap"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
                json_t *d = json_object_get(delta, pairs[i].section);
                json_t *m = json_object_get(merged, pairs[i].section);
                if (!json_is_object(d) || !json_is_object(m))
                        continue;
                const char *keys[] = {pairs[i].a, pairs[i].b};
                for (int k = 0; k < 2; k++)
                        if (json_object_get(d, keys[k]) && !json_object_get(d, keys[1 - k]) &&
                            json_object_get(m, keys[1 - k]))
                                json_object_set(d, keys[1 - k], json_object_get(m, keys[1 - k]));
        }
}

/* Steps: merge into the saved resources, check the whole result, write
 * only what changed (plus partners), then save the merged resources. */
int nk_container_update(struct nk_container *c, json_t *resources, nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, "update", err);
        if (!cg)
                return -1;
        _cleanup_(json_decrefp) json_t *delta = json_deep_copy(resources);
        json_t *lnx = c->st->config ? json_object_get(c->st->config, "linux") : NULL;
        json_t *cur = json_object_get(lnx, "resources");
        _cleanup_(json_decrefp) json_t *merged = cur ? json_deep_copy(cur) : json_object();
        if (!delta || !merged)
                return nk_error_set(err, ENOMEM, "update container `%s`", c->st->id);
        nk_resources_merge(merged, delta);
        add_partners(delta, merged);
        if (nk_cgroup_validate_resources(merged, "linux.resources", err) < 0)
                return -1;
        if (nk_cgroup_update(cg, delta, err) < 0)
                return -1;
        if (!json_is_object(lnx))
                return 0;
        json_object_set(lnx, "resources", merged);
        return nk_state_save(c->root, c->st, err);
}

static int cmp_pid(const void *a, const void *b)
{
        pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
        return (x > y) - (x < y);
}

int nk_container_pids(struct nk_container *c, pid_t **pids, size_t *n, nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, "ps", err);
        if (!cg)
                return -1;
        pid_t *p = NULL;
        size_t k = 0;
        if (nk_cgroup_pids(cg, &p, &k, err) < 0)
                return -1;
        qsort(p, k, sizeof(pid_t), cmp_pid);
        *pids = p;
        *n = k;
        return 0;
}

json_t *nk_container_stats(struct nk_container *c, nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, "events", err);
        return cg ? nk_cgroup_stats(cg, err) : NULL;
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void report_ooms(nk_event_fn fn, void *arg, long long n)
{
        for (long long i = 0; i < n; i++)
                fn(NK_EVENT_OOM, NULL, arg);
}

/* Stats every interval until the cgroup cannot be read any more: then the
 * container was deleted under us and the stream ends (the reason logged,
 * not returned: the end of a stream is no failure of the watch). */
static bool stats_event(struct nk_container *c, nk_event_fn fn, void *arg)
{
        nk_error *e = NULL;
        json_t *s = nk_cgroup_stats(c->cg, &e);
        if (!s) {
                _cleanup_free_ char *text = nk_error_text(e);
                nk_log(NK_LOG_ERROR, "%s", text ? text : "unknown error");
                nk_error_free(e);
                return false;
        }
        fn(NK_EVENT_STATS, s, arg);
        json_decref(s);
        return true;
}

/* One poll loop over the OOM notification fd and a pidfd of the init. */
int nk_container_watch(struct nk_container *c, long long interval_ms, nk_event_fn fn, void *arg,
                       nk_error **err)
{
        struct nk_cgroup *cg = need_cgroup(c, "events", err);
        if (!cg)
                return -1;
        _cleanup_close_ int ofd = nk_cgroup_oom_fd(cg, err);
        if (ofd < 0)
                return -1;
        _cleanup_close_ int pfd = c->st->pid > 0 ? nk_pidfd_open(c->st->pid, 0) : -1;
        long long seen = nk_cgroup_oom_kills(cg), next = now_ms() + interval_ms;
        for (;;) {
                struct pollfd p[2] = {{ofd, POLLIN, 0}, {pfd, POLLIN, 0}};
                long long wait = next - now_ms();
                int r = poll(p, pfd >= 0 ? 2 : 1, wait < 0 ? 0 : (int)wait);
                if (r < 0 && errno != EINTR)
                        return nk_error_set(err, errno, "events `%s`: poll", c->st->id);
                if (r > 0 && (p[0].revents & POLLIN)) {
                        int n = nk_cgroup_oom_events(cg, ofd, &seen);
                        if (n < 0)
                                return 0; /* cgroup removed: container deleted */
                        report_ooms(fn, arg, n);
                }
                if (r > 0 && pfd >= 0 && (p[1].revents & POLLIN)) {
                        /* The init is gone: report kills that ended it. */
                        long long now = nk_cgroup_oom_kills(cg);
                        report_ooms(fn, arg, now > seen ? now - seen : 0);
                        return 0;
                }
                if (now_ms() >= next) {
                        if (!stats_event(c, fn, arg))
                                return 0;
                        next = now_ms() + interval_ms;
                }
        }
}
