/* The engine's container store: directories, names, the monitor's small
 * records and the status derived from them (see ctr.h). */
#include "engine/container/ctr.h"
#include "engine/container/volume.h"
#include "runtime/container.h"
#include "runtime/state.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int nk_ctr_new_id(char id[NK_CTR_ID_LEN + 1], nk_error **err)
{
        unsigned char b[NK_CTR_ID_LEN / 2];
        if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
                return nk_error_set(err, errno, "getrandom for a container id");
        for (size_t i = 0; i < sizeof b; i++)
                snprintf(id + 2 * i, 3, "%02x", b[i]);
        return 0;
}

bool nk_ctr_id_valid(const char *id)
{
        if (strlen(id) != NK_CTR_ID_LEN)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

char *nk_ctr_dir(const char *store, const char *id)
{
        char *p = NULL;
        return asprintf(&p, "%s/containers/%s", store, id) < 0 ? NULL : p;
}

int nk_ctr_dir_open(const char *store, const char *id, nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id);
        if (!dir)
                return nk_error_set(err, ENOMEM, "container directory");
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", dir);
        return fd;
}

static char *names_path(const char *store, const char *name)
{
        char *p = NULL;
        return asprintf(&p, "%s/container-names%s%s", store, name ? "/" : "", name ? name : "") < 0
                       ? NULL
                       : p;
}

int nk_ctr_names_lock(const char *store, nk_error **err)
{
        _cleanup_free_ char *dir = names_path(store, NULL), *lock = names_path(store, ".lock");
        if (!dir || !lock)
                return nk_error_set(err, ENOMEM, "names lock");
        if (nk_mkdir_p(dir, 0700, err) < 0)
                return -1;
        int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", lock);
        if (nk_flock_wait(fd, LOCK_EX) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "lock `%s`", lock);
        }
        return fd;
}

int nk_ctr_name_check(const char *name, nk_error **err)
{
        size_t n = strlen(name);
        bool ok = n > 0 && n <= 128;
        for (size_t i = 0; ok && i < n; i++) {
                char c = name[i];
                bool alnum =
                        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '-'));
        }
        if (!ok)
                return nk_error_set(err, EINVAL,
                                    "--name: invalid container name `%s` (only "
                                    "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed)",
                                    name);
        return 0;
}

/* The id a name links to, or NULL. */
static char *name_target(const char *store, const char *name)
{
        _cleanup_free_ char *p = names_path(store, name);
        char buf[NK_CTR_ID_LEN + 2];
        ssize_t n = p ? readlink(p, buf, sizeof buf - 1) : -1;
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return strdup(buf);
}

static bool ctr_exists(const char *store, const char *id)
{
        _cleanup_free_ char *d = nk_ctr_dir(store, id);
        struct stat st;
        return d && nk_ctr_id_valid(id) && lstat(d, &st) == 0 && S_ISDIR(st.st_mode);
}

int nk_ctr_name_reserve(const char *store, const char *name, const char *id, nk_error **err)
{
        if (nk_ctr_name_check(name, err) < 0)
                return -1;
        _cleanup_free_ char *p = names_path(store, name);
        if (!p)
                return nk_error_set(err, ENOMEM, "name");
        for (int tries = 0; tries < 2; tries++) {
                if (symlink(id, p) == 0)
                        return 0;
                if (errno != EEXIST)
                        return nk_error_set(err, errno, "create name link `%s`", p);
                _cleanup_free_ char *old = name_target(store, name);
                if (old && ctr_exists(store, old))
                        return nk_error_set(err, EEXIST,
                                            "the container name `%s` is already in use by "
                                            "container %.12s: remove or rename it first",
                                            name, old);
                /* Its creator died before making the container (we hold
                 * the lock it held): the name is free. */
                if (unlink(p) < 0 && errno != ENOENT)
                        return nk_error_set(err, errno, "remove stale name `%s`", p);
        }
        return nk_error_set(err, EEXIST, "the container name `%s` is already in use", name);
}

int nk_ctr_name_free(const char *store, const char *name, nk_error **err)
{
        if (nk_ctr_name_check(name, err) < 0)
                return -1;
        _cleanup_free_ char *old = name_target(store, name);
        if (old && ctr_exists(store, old))
                return nk_error_set(err, EEXIST,
                                    "the container name `%s` is already in use by container "
                                    "%.12s: remove or rename it first",
                                    name, old);
        return 0;
}

static void release_all(const char *store, const char *id)
{
        _cleanup_free_ char *dir = names_path(store, NULL);
        _cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
        struct dirent *e;
        while (d && (e = readdir(d))) {
                char buf[NK_CTR_ID_LEN + 2];
                ssize_t n = readlinkat(dirfd(d), e->d_name, buf, sizeof buf - 1);
                if (n == NK_CTR_ID_LEN && strncmp(buf, id, NK_CTR_ID_LEN) == 0)
                        (void)unlinkat(dirfd(d), e->d_name, 0);
        }
}

void nk_ctr_name_release(const char *store, const char *name, const char *id)
{
        if (!name) {
                release_all(store, id);
                return;
        }
        if (!*name || nk_ctr_name_check(name, NULL) < 0)
                return;
        _cleanup_free_ char *old = name_target(store, name);
        _cleanup_free_ char *p = names_path(store, name);
        if (old && p && streq(old, id))
                (void)unlink(p);
}

int nk_ctr_name_generate(const char *store, char *out, size_t size, nk_error **err)
{
        static const char *const adj[] = {"brave",  "calm",  "eager", "fond",  "gentle",
                                          "happy",  "jolly", "keen",  "lucid", "merry",
                                          "nimble", "proud", "quiet", "swift", "tender",
                                          "upbeat", "vivid", "witty", "zen",   "bold"};
        static const char *const noun[] = {"otter", "heron",  "lynx",   "finch", "badger",
                                           "crane", "wren",   "marten", "vole",  "ibex",
                                           "newt",  "plover", "stoat",  "egret", "hare"};
        for (int tries = 0; tries < 64; tries++) {
                unsigned r;
                if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
                        return nk_error_set(err, errno, "getrandom");
                const char *a = adj[r % ARRAY_SIZE(adj)], *n = noun[(r / 32) % ARRAY_SIZE(noun)];
                if (tries < 32)
                        snprintf(out, size, "%s_%s", a, n);
                else
                        snprintf(out, size, "%s_%s_%u", a, n, (r >> 16) % 1000);
                _cleanup_free_ char *old = name_target(store, out);
                if (!old || !ctr_exists(store, old))
                        return 0;
        }
        return nk_error_set(err, EEXIST, "no free container name found");
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int nk_ctr_list(const char *store, char ***ids, nk_error **err)
{
        char **v = calloc(1, sizeof(char *));
        if (!v)
                return nk_error_set(err, ENOMEM, "list");
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/containers", store) < 0)
                dir = NULL;
        _cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
        if (!d && dir && errno != ENOENT) {
                nk_strv_free(v);
                return nk_error_set(err, errno, "open `%s`", dir);
        }
        struct dirent *e;
        while (d && (e = readdir(d)))
                if (nk_ctr_id_valid(e->d_name) && e->d_type == DT_DIR &&
                    nk_strv_push(&v, e->d_name) < 0) {
                        nk_strv_free(v);
                        return nk_error_set(err, ENOMEM, "list");
                }
        qsort(v, nk_strv_len(v), sizeof(char *), cmp_str);
        *ids = v;
        return 0;
}

int nk_ctr_resolve(const char *store, const char *ref, char id[NK_CTR_ID_LEN + 1], nk_error **err)
{
        if (nk_ctr_id_valid(ref) && ctr_exists(store, ref)) {
                memcpy(id, ref, NK_CTR_ID_LEN + 1);
                return 0;
        }
        if (nk_ctr_name_check(ref, NULL) == 0) {
                _cleanup_free_ char *t = name_target(store, ref);
                if (t && ctr_exists(store, t)) {
                        memcpy(id, t, NK_CTR_ID_LEN + 1);
                        return 0;
                }
        }
        size_t n = strlen(ref);
        _cleanup_strv_ char **ids = NULL;
        if (n > 0 && n < NK_CTR_ID_LEN && nk_ctr_list(store, &ids, err) < 0)
                return -1;
        const char *found = NULL;
        for (char **p = ids; p && *p; p++) {
                if (strncmp(*p, ref, n) != 0)
                        continue;
                if (found)
                        return nk_error_set(
                                err, EINVAL,
                                "container id prefix `%s` is ambiguous: %.12s, %.12s...", ref,
                                found, *p);
                found = *p;
        }
        if (!found)
                return nk_error_set(err, 0, "no such container: %s", ref);
        memcpy(id, found, NK_CTR_ID_LEN + 1);
        return 0;
}

/* Atomic (temp + rename) small text file in dfd, no fsync: the records
 * mean nothing after a reboot except exit, which is fsynced. */
static int write_small(int dfd, const char *name, const char *text, bool sync, nk_error **err)
{
        char tmp[64];
        snprintf(tmp, sizeof tmp, ".%s.%d", name, (int)getpid());
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return nk_error_set(err, errno, "create `%s`", tmp);
        size_t len = strlen(text);
        bool ok = write(fd, text, len) == (ssize_t)len && (!sync || fsync(fd) == 0);
        int e = errno;
        close(fd);
        if (!ok || renameat(dfd, tmp, dfd, name) < 0) {
                e = ok ? errno : e;
                unlinkat(dfd, tmp, 0);
                return nk_error_set(err, e, "write `%s`", name);
        }
        return 0;
}

static int read_small(int dfd, const char *name, char *buf, size_t size)
{
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read(fd, buf, size - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        return 0;
}

int nk_ctr_write_exit(int dfd, int code, int64_t finished_ns, bool sync, nk_error **err)
{
        char t[64];
        snprintf(t, sizeof t, "%d %" PRId64 "\n", code, finished_ns);
        return write_small(dfd, "exit", t, sync, err);
}

int nk_ctr_read_exit(int dfd, int *code, int64_t *finished_ns)
{
        char b[64];
        int c;
        int64_t f;
        if (read_small(dfd, "exit", b, sizeof b) < 0 || sscanf(b, "%d %" SCNd64, &c, &f) != 2)
                return -1;
        *code = c;
        *finished_ns = f;
        return 0;
}

int nk_ctr_write_restart(int dfd, int policy, int max, nk_error **err)
{
        char t[64];
        snprintf(t, sizeof t, "%d %d\n", policy, max);
        return write_small(dfd, "restart-policy", t, true, err);
}

int nk_ctr_read_restart(int dfd, int *policy, int *max)
{
        char b[64];
        int p, m;
        if (read_small(dfd, "restart-policy", b, sizeof b) < 0 || sscanf(b, "%d %d", &p, &m) != 2 ||
            p < 0 || p > 3 || m < 0)
                return -1;
        *policy = p;
        *max = m;
        return 0;
}

int nk_ctr_write_started(int dfd, pid_t pid, int64_t started_ns, int restarts, nk_error **err)
{
        char t[128];
        snprintf(t, sizeof t, "%d %" PRId64 " %d %llu\n", (int)pid, started_ns, restarts,
                 nk_proc_start_time(pid));
        return write_small(dfd, "started", t, false, err);
}

/* The init of the last start while that very process lives, else 0. */
static pid_t started_alive(int dfd, int64_t *started_ns, int *restarts)
{
        char b[128];
        int p, r;
        int64_t s;
        unsigned long long start;
        if (read_small(dfd, "started", b, sizeof b) < 0 ||
            sscanf(b, "%d %" SCNd64 " %d %llu", &p, &s, &r, &start) != 4)
                return -1;
        *started_ns = s;
        *restarts = r;
        return p > 0 && start != 0 && nk_proc_start_time(p) == start ? p : 0;
}

int nk_ctr_read_started(int dfd, pid_t *pid, int64_t *started_ns, int *restarts)
{
        pid_t p = started_alive(dfd, started_ns, restarts);
        if (p < 0)
                return -1;
        *pid = p;
        return 0;
}

int nk_ctr_write_monitor(int dfd, pid_t pid, nk_error **err)
{
        char t[64];
        snprintf(t, sizeof t, "%d %llu\n", (int)pid, nk_proc_start_time(pid));
        return write_small(dfd, "monitor", t, false, err);
}

pid_t nk_ctr_monitor_pid(int dfd)
{
        char b[64];
        int p;
        unsigned long long start;
        if (read_small(dfd, "monitor", b, sizeof b) < 0 || sscanf(b, "%d %llu", &p, &start) != 2 ||
            p <= 0)
                return 0;
        unsigned long long now = nk_proc_start_time(p);
        return now != 0 && now == start ? p : 0;
}

int64_t nk_ctr_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void nk_ctr_time_text(int64_t ns, char *buf, size_t size)
{
        if (ns <= 0) {
                snprintf(buf, size, "0001-01-01T00:00:00Z");
                return;
        }
        time_t s = (time_t)(ns / 1000000000);
        struct tm tm;
        gmtime_r(&s, &tm);
        /* not strftime: it reads the time zone file again at each call */
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns % 1000000000));
}

const char *nk_ctr_status_name(enum nk_ctr_status s)
{
        static const char *const names[] = {"created",    "running", "paused",
                                            "restarting", "exited",  "removing"};
        return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

int nk_ctr_state(const char *store, const char *root, const char *id, struct nk_ctr_state *st,
                 nk_error **err)
{
        _cleanup_close_ int dfd = nk_ctr_dir_open(store, id, err);
        if (dfd < 0)
                return -1;
        nk_ctr_state_at(dfd, 0, st);
        return 0;
}

void nk_ctr_state_at(int dfd, unsigned flags, struct nk_ctr_state *st)
{
        *st = (struct nk_ctr_state){.exit_code = 0};
        /* The init of the last start, alive with its start time (not a
         * reused PID): running whoever its parent is now; no runtime state
         * to parse (ps reads this for every container). */
        pid_t spid = started_alive(dfd, &st->started_ns, &st->restarts);
        bool started = spid >= 0;
        bool record = (flags & NK_CTR_STATE_HAVE_RECORD) ||
                      faccessat(dfd, "container.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        if ((flags & NK_CTR_STATE_BRIEF) && spid > 0 && record) {
                /* Running: an exit recorded is an earlier run's (it comes
                 * after a start), the monitor is not looked for. */
                bool paused = faccessat(dfd, "paused", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                st->status = paused ? NK_CTR_PAUSED : NK_CTR_RUNNING;
                st->pid = spid;
                return;
        }
        bool exited = nk_ctr_read_exit(dfd, &st->exit_code, &st->finished_ns) == 0;
        /* An exit recorded before the last start belongs to an earlier run. */
        if (exited && started && st->finished_ns < st->started_ns)
                exited = false;
        st->monitor = nk_ctr_monitor_pid(dfd);
        if (!record)
                st->status = NK_CTR_REMOVING;
        else if (spid > 0) {
                bool paused = faccessat(dfd, "paused", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                st->status = paused ? NK_CTR_PAUSED : NK_CTR_RUNNING;
                st->pid = spid;
        } else if (st->monitor && started)
                st->status = exited ? NK_CTR_RESTARTING : NK_CTR_RUNNING;
        else if (st->monitor || !started)
                st->status = NK_CTR_CREATED;
        else {
                st->status = NK_CTR_EXITED;
                if (!exited) { /* its monitor died without recording the exit */
                        st->exit_code = -1;
                        st->finished_ns = 0;
                }
        }
        if (st->status != NK_CTR_EXITED && st->status != NK_CTR_RESTARTING && !exited) {
                st->exit_code = 0;
                st->finished_ns = 0;
        }
}

static int unmount_dir(const char *merged, nk_error **err)
{
        /* A plain unmount first; detached only when something still uses
         * it (a process inside keeps its view). */
        if (umount2(merged, UMOUNT_NOFOLLOW) == 0)
                return 0;
        if (errno == EBUSY && umount2(merged, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOENT)
                return nk_error_set(err, errno, "unmount `%s`", merged);
        return 0;
}

int nk_ctr_unmount_rootfs(const char *store, const char *id, nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *merged = NULL;
        if (!dir || asprintf(&merged, "%s/merged", dir) < 0)
                return nk_error_set(err, ENOMEM, "rootfs");
        return unmount_dir(merged, err);
}

int nk_ctr_retire(const char *store, const char *id, const char *name, char **trash_out,
                  nk_error **err)
{
        if (!nk_ctr_id_valid(id))
                return nk_error_set(err, EINVAL, "container id `%s`", id);
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *rec = NULL, *trash = NULL;
        if (!dir || asprintf(&rec, "%s/container.json", dir) < 0 ||
            asprintf(&trash, "%s/containers/.trash-%s", store, id) < 0)
                return nk_error_set(err, ENOMEM, "remove");
        /* The record first: a removal killed halfway is seen as
         * "removing" and finished by the next rm. */
        (void)unlink(rec);
        if (rename(dir, trash) < 0 && errno != ENOENT) {
                free(trash);
                trash = TAKE_PTR(dir); /* buried where it is */
        }
        _cleanup_close_ int lk = nk_ctr_names_lock(store, NULL);
        nk_ctr_name_release(store, name, id);
        *trash_out = TAKE_PTR(trash);
        return 0;
}

int nk_ctr_bury(const char *trash, nk_error **err)
{
        _cleanup_free_ char *merged = NULL;
        if (asprintf(&merged, "%s/merged", trash) < 0)
                return nk_error_set(err, ENOMEM, "remove");
        if (unmount_dir(merged, err) < 0)
                return -1;
        return nk_rm_rf(trash, err);
}

int nk_ctr_remove_dir(const char *store, const char *id, const char *name, nk_error **err)
{
        _cleanup_free_ char *trash = NULL;
        if (nk_ctr_retire(store, id, name, &trash, err) < 0)
                return -1;
        return nk_ctr_bury(trash, err);
}

void nk_ctr_sweep_trash(const char *store, const char *root)
{
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/containers", store) < 0)
                return;
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                nk_error *err = NULL;
                if (strncmp(e->d_name, ".trash-", 7) != 0 ||
                    asprintf(&p, "%s/%s", dir, e->d_name) < 0)
                        continue;
                /* Its init is gone (retired after its exit, or removed
                 * after a kill); its runtime state may be left (a --rm
                 * monitor killed before deleting it). */
                if (root && nk_ctr_id_valid(e->d_name + 7) &&
                    nk_container_delete(root, e->d_name + 7, true, &err) < 0) {
                        nk_error_free(err);
                        err = NULL;
                }
                if (nk_ctr_bury(p, &err) < 0)
                        nk_error_free(err);
        }
}

char *nk_ctr_anon_volumes(int dfd)
{
        char *text = NULL;
        size_t len;
        nk_error *e = NULL;
        if (nk_read_file_at(dfd, "anon-volumes", &text, &len, &e) < 0) {
                nk_error_free(e);
                return NULL;
        }
        return text;
}

void nk_ctr_remove_volumes(const char *store, char *names)
{
        char *save = NULL;
        for (char *n = names ? strtok_r(names, "\n", &save) : NULL; n;
             n = strtok_r(NULL, "\n", &save)) {
                nk_error *e = NULL;
                if (nk_volume_remove(store, n, true, NULL, NULL, &e) < 0)
                        nk_error_free(e);
        }
}
