/* Runtime state: ROOT/<id>/{state.json,lock,cgroup,exec.sock}. */
#include "state.h"
#include "cgroup/cgroup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

const char *nk_status_name(enum nk_status s)
{
        static const char *names[] = {"creating", "created", "running", "paused", "stopped"};
        return names[s];
}

int nk_state_dir(const char *root, const char *id, char **out, nk_error **err)
{
        if (nk_container_id_check(id, err) < 0)
                return -1;
        if (asprintf(out, "%s/%s", root, id) < 0)
                return nk_error_set(err, ENOMEM, "state dir");
        return 0;
}

/* ROOT/<id> itself is never followed: a symlink there could point the
 * lock, the state read and delete's removal anywhere on the host. */
int nk_state_dir_open(const char *root, const char *id, nk_error **err)
{
        _cleanup_free_ char *dir = NULL;
        if (nk_state_dir(root, id, &dir, err) < 0)
                return -1;
        int fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                return fd;
        if (errno == ENOENT)
                return nk_error_set(err, ENOENT, "container `%s` does not exist", id);
        if (errno == ELOOP || errno == ENOTDIR)
                return nk_error_set(err, errno, "state of `%s`: `%s` is %s, not a directory", id,
                                    dir, errno == ELOOP ? "a symlink" : "a file");
        return nk_error_set(err, errno, "open `%s`", dir);
}

int nk_state_lock_at(int dfd, const char *root, const char *id, nk_error **err)
{
        const char *path = "lock";
        int fd = openat(dfd, path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s/%s/lock`", root, id);
        if (nk_flock_wait(fd, LOCK_EX) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "lock `%s/%s/%s`", root, id, path);
        }
        return fd;
}

bool nk_state_lock_busy_at(int dfd)
{
        _cleanup_close_ int fd = openat(dfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
                return false; /* closing the fd drops it */
        return errno == EWOULDBLOCK;
}

int nk_state_record_cgroup(const char *root, const char *id, const char *cgroup_path,
                           nk_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s/cgroup", root, id) < 0)
                return nk_error_set(err, ENOMEM, "record cgroup");
        /* The newline ends it: a record cut short has none and is not used. */
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s\n", cgroup_path) < 0)
                return nk_error_set(err, ENOMEM, "record cgroup");
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

char *nk_state_recorded_cgroup(int dfd)
{
        char *text = NULL;
        size_t len = 0;
        if (nk_read_file_at(dfd, "cgroup", &text, &len, NULL) < 0)
                return NULL;
        if (len < 2 || strlen(text) != len || text[0] != '/' || text[len - 1] != '\n' ||
            memchr(text, '\n', len - 1)) {
                free(text);
                return NULL;
        }
        text[len - 1] = '\0';
        return text;
}

int nk_state_save(const char *root, const struct nk_state *s, nk_error **err)
{
        /* All or nothing: a field jansson refused (no memory, or a path
         * that is not UTF-8) fails the save instead of leaving a state
         * without it, which every later command would call corrupt. */
        json_t *o = json_pack("{s:s, s:s, s:s*, s:I, s:I, s:s*, s:s*, s:s, s:b}", "id", s->id,
                              "bundle", s->bundle, "rootfs", s->rootfs, "pid", (json_int_t)s->pid,
                              "pid_start", (json_int_t)s->pid_start, "cgroup_path", s->cgroup_path,
                              "created", s->created, "owner", s->owner ? s->owner : "",
                              "systemd_cgroup", (int)s->systemd_cgroup);
        if (!o) {
                const char *bad = !nk_utf8_valid(s->bundle)                ? s->bundle
                                  : s->rootfs && !nk_utf8_valid(s->rootfs) ? s->rootfs
                                                                           : NULL;
                if (bad) {
                        _cleanup_free_ char *shown = nk_log_escape(bad);
                        return nk_error_set(err, 0, "save state: `%s` is not UTF-8",
                                            shown ? shown : "");
                }
                return nk_error_set(err, ENOMEM, "save state");
        }
        if ((s->annotations && json_object_set(o, "annotations", s->annotations) < 0) ||
            (s->config && json_object_set(o, "config", s->config) < 0)) {
                json_decref(o);
                return nk_error_set(err, ENOMEM, "save state");
        }
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        _cleanup_free_ char *path = NULL;
        if (!text || asprintf(&path, "%s/%s/state.json", root, s->id) < 0)
                return nk_error_set(err, ENOMEM, "save state");
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

/* A string field into *out (NULL when absent); -1 only when the copy
 * failed (out of memory). */
static int dup_str(json_t *o, const char *key, char **out)
{
        const char *v = json_string_value(json_object_get(o, key));
        *out = v ? strdup(v) : NULL;
        return v && !*out ? -1 : 0;
}

/* The fields nook relies on, with their types: a state.json of another
 * shape is corrupt, not a container with an id of NULL or a pid of 0. */
static const char *state_shape_error(json_t *o, const char *id)
{
        static const char *const strings[] = {"id",          "bundle",  "rootfs",
                                              "cgroup_path", "created", "owner"};
        if (!json_is_object(o))
                return "not a JSON object";
        for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
                json_t *v = json_object_get(o, strings[i]);
                if (v ? !json_is_string(v) : i < 2)
                        return "id and bundle must be strings (rootfs, cgroup_path, created, "
                               "owner too where present)";
        }
        if (!streq(json_string_value(json_object_get(o, "id")), id))
                return "its id is another container's";
        json_t *pid = json_object_get(o, "pid"), *start = json_object_get(o, "pid_start");
        if (!json_is_integer(pid) || json_integer_value(pid) < 0 ||
            json_integer_value(pid) > INT32_MAX || !json_is_integer(start))
                return "pid or pid_start is not a valid number";
        return NULL;
}

int nk_state_load(const char *root, const char *id, struct nk_state **out, nk_error **err)
{
        _cleanup_close_ int dfd = nk_state_dir_open(root, id, err);
        return dfd < 0 ? -1 : nk_state_load_at(dfd, root, id, out, err);
}

int nk_state_load_at(int dfd, const char *root, const char *id, struct nk_state **out,
                     nk_error **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        if (asprintf(&path, "%s/%s/state.json", root, id) < 0)
                return nk_error_set(err, ENOMEM, "load state");
        _cleanup_error_ nk_error *e = NULL;
        if (nk_read_file_at(dfd, "state.json", &text, NULL, &e) < 0) {
                if (e->errno_ == ENOENT)
                        return nk_error_set(err, ENOENT,
                                            "container `%s` does not exist: %s is missing (a "
                                            "create or delete did not finish)",
                                            id, path);
                return nk_error_set(err, e->errno_, "%s", e->msg);
        }
        json_error_t je;
        json_t *o = json_loads(text, 0, &je);
        if (!o)
                return nk_error_set(err, 0, "%s: corrupt state: %s", path, je.text);
        const char *bad = state_shape_error(o, id);
        if (bad) {
                json_decref(o);
                return nk_error_set(err, 0, "%s: corrupt state: %s", path, bad);
        }
        struct nk_state *s = calloc(1, sizeof(*s));
        if (!s || dup_str(o, "id", &s->id) < 0 || dup_str(o, "bundle", &s->bundle) < 0 ||
            dup_str(o, "rootfs", &s->rootfs) < 0 ||
            dup_str(o, "cgroup_path", &s->cgroup_path) < 0 ||
            dup_str(o, "created", &s->created) < 0 || dup_str(o, "owner", &s->owner) < 0) {
                json_decref(o);
                nk_state_free(s);
                return nk_error_set(err, ENOMEM, "load state %s", path);
        }
        s->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
        s->pid_start = (unsigned long long)json_integer_value(json_object_get(o, "pid_start"));
        s->systemd_cgroup = json_is_true(json_object_get(o, "systemd_cgroup"));
        s->annotations = json_incref(json_object_get(o, "annotations"));
        s->config = json_incref(json_object_get(o, "config"));
        json_decref(o);
        *out = s;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int nk_state_list(const char *root, char ***ids, nk_error **err)
{
        _cleanup_closedir_ DIR *d = opendir(root);
        if (!d && errno != ENOENT)
                return nk_error_set(err, errno, "open `%s`", root);
        _cleanup_strv_ char **v = calloc(1, sizeof(char *)); /* none yet, or no root */
        if (!v)
                return nk_error_set(err, ENOMEM, "list `%s`", root);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                /* Files and symlinks too: `list` shows them as unknown and
                 * delete --force removes them. */
                if (nk_container_id_check(de->d_name, NULL) < 0)
                        continue;
                if (nk_strv_push(&v, de->d_name) < 0)
                        return nk_error_set(err, ENOMEM, "list `%s`", root);
        }
        qsort(v, nk_strv_len(v), sizeof(char *), cmp_str);
        *ids = TAKE_PTR(v);
        return 0;
}

unsigned long long nk_proc_start_time(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        /* comm may hold spaces and parens: fields resume after the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return 0;
        char state = p[2];
        if (state == 'Z' || state == 'X')
                return 0; /* a zombie has stopped running */
        p += 2;
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return 0;
                p++;
        }
        unsigned long long t;
        return nk_parse_uint_n(p, strcspn(p, " \n"), UINT64_MAX, &t) == 0 ? t : 0;
}

bool nk_state_pid_alive(const struct nk_state *s)
{
        if (s->pid <= 0)
                return false;
        unsigned long long st = nk_proc_start_time(s->pid);
        return st != 0 && st == s->pid_start;
}

enum nk_status nk_state_status(const char *root, const struct nk_state *s)
{
        if (!nk_state_pid_alive(s))
                return NK_STATUS_STOPPED;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/exec.sock", root, s->id);
        if (access(path, F_OK) == 0)
                return NK_STATUS_CREATED;
        if (s->cgroup_path) {
                struct nk_cgroup *cg = NULL;
                bool frozen = false;
                if (nk_cgroup_open(s->cgroup_path, &cg, NULL) == 0) {
                        frozen = nk_cgroup_is_frozen(cg);
                        nk_cgroup_free(cg);
                }
                if (frozen)
                        return NK_STATUS_PAUSED;
        }
        return NK_STATUS_RUNNING;
}

/* A reason quotes what was found (jansson's parse errors quote the bytes
 * near the fault): escaped as an error line is, one line of valid UTF-8. */
static json_t *printable(const char *text)
{
        _cleanup_free_ char *t = nk_log_escape(text ? text : "");
        return json_string(t ? t : "");
}

json_t *nk_state_unknown_json(const char *id, const char *status, const char *reason)
{
        json_t *o = json_object();
        json_object_set_new(o, "ociVersion", json_string("1.2.0"));
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "pid", json_integer(0));
        json_object_set_new(o, "status", json_string(status));
        json_object_set_new(o, "bundle", json_string(""));
        json_object_set_new(o, "rootfs", json_string(""));
        json_object_set_new(o, "created", json_string(""));
        json_object_set_new(o, "owner", json_string(""));
        json_object_set_new(o, "annotations", json_object());
        json_object_set_new(o, "reason", printable(reason));
        return o;
}

json_t *nk_state_to_json(const char *root, const struct nk_state *s)
{
        enum nk_status st = nk_state_status(root, s);
        json_t *o = json_object();
        json_object_set_new(o, "ociVersion", json_string("1.2.0"));
        json_object_set_new(o, "id", json_string(s->id));
        json_object_set_new(o, "pid", json_integer(st == NK_STATUS_STOPPED ? 0 : s->pid));
        json_object_set_new(o, "status", json_string(nk_status_name(st)));
        json_object_set_new(o, "bundle", json_string(s->bundle));
        json_object_set_new(o, "rootfs", json_string(s->rootfs ? s->rootfs : ""));
        json_object_set_new(o, "created", json_string(s->created ? s->created : ""));
        json_object_set_new(o, "owner", json_string(s->owner ? s->owner : ""));
        if (s->annotations)
                json_object_set(o, "annotations", s->annotations);
        else
                json_object_set_new(o, "annotations", json_object());
        return o;
}

int nk_state_init_pidfd(const struct nk_state *st, nk_error **err)
{
        int fd = nk_pidfd_open(st->pid, 0);
        /* Opened, then checked: if the start time still matches, the pidfd
         * refers to our init and not to a reused PID. */
        if (fd < 0 || !nk_state_pid_alive(st)) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, ESRCH, "container `%s` is not running", st->id);
        }
        return fd;
}

void nk_state_free(struct nk_state *s)
{
        if (!s)
                return;
        free(s->id);
        free(s->bundle);
        free(s->rootfs);
        free(s->cgroup_path);
        free(s->created);
        free(s->owner);
        json_decref(s->annotations);
        json_decref(s->config);
        free(s);
}
