/* Runtime state: ROOT/<id>/{state.json,lock,exec.fifo}. */
#include "state.h"
#include "cgroup/cgroup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

int nk_state_check_id(const char *id, nk_error **err)
{
        size_t n = strlen(id);
        if (n == 0 || n > 1024 || id[0] == '.')
                return nk_error_set(err, EINVAL, "invalid container id `%s`", id);
        for (const char *p = id; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
                      ('0' <= *p && *p <= '9') || strchr("_.+-", *p)))
                        return nk_error_set(err, EINVAL,
                                            "invalid container id `%s`: only [A-Za-z0-9_.+-] allowed", id);
        return 0;
}

int nk_state_dir(const char *root, const char *id, char **out, nk_error **err)
{
        if (nk_state_check_id(id, err) < 0)
                return -1;
        if (asprintf(out, "%s/%s", root, id) < 0)
                return nk_error_set(err, ENOMEM, "state dir");
        return 0;
}

int nk_state_lock(const char *root, const char *id, nk_error **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;
        if (nk_state_dir(root, id, &dir, err) < 0)
                return -1;
        if (asprintf(&path, "%s/lock", dir) < 0)
                return nk_error_set(err, ENOMEM, "lock");
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
                if (errno == ENOENT)
                        return nk_error_set(err, ENOENT, "container `%s` does not exist", id);
                return nk_error_set(err, errno, "open `%s`", path);
        }
        if (nk_flock_wait(fd, LOCK_EX) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "lock `%s`", path);
        }
        return fd;
}

int nk_state_save(const char *root, const struct nk_state *s, nk_error **err)
{
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(s->id));
        json_object_set_new(o, "bundle", json_string(s->bundle));
        json_object_set_new(o, "rootfs", json_string(s->rootfs));
        json_object_set_new(o, "pid", json_integer(s->pid));
        json_object_set_new(o, "pid_start", json_integer((json_int_t)s->pid_start));
        json_object_set_new(o, "cgroup_path", json_string(s->cgroup_path));
        json_object_set_new(o, "created", json_string(s->created));
        json_object_set_new(o, "owner", json_string(s->owner ? s->owner : ""));
        json_object_set_new(o, "systemd_cgroup", json_boolean(s->systemd_cgroup));
        if (s->annotations)
                json_object_set(o, "annotations", s->annotations);
        if (s->config)
                json_object_set(o, "config", s->config);
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        _cleanup_free_ char *path = NULL;
        if (!text || asprintf(&path, "%s/%s/state.json", root, s->id) < 0)
                return nk_error_set(err, ENOMEM, "save state");
        return nk_write_file_replace(path, text, strlen(text), 0600, err);
}

static char *dup_str(json_t *o, const char *key)
{
        const char *v = json_string_value(json_object_get(o, key));
        return v ? strdup(v) : NULL;
}

int nk_state_load(const char *root, const char *id, struct nk_state **out, nk_error **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        if (nk_state_dir(root, id, &dir, err) < 0)
                return -1;
        if (asprintf(&path, "%s/state.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "load state");
        _cleanup_error_ nk_error *e = NULL;
        if (nk_read_file(path, &text, NULL, &e) < 0) {
                if (e->errno_ == ENOENT)
                        return nk_error_set(err, ENOENT, "container `%s` does not exist", id);
                return nk_error_set(err, e->errno_, "%s", e->msg);
        }
        json_error_t je;
        json_t *o = json_loads(text, 0, &je);
        if (!o)
                return nk_error_set(err, EINVAL, "%s: corrupt state: %s", path, je.text);
        struct nk_state *s = calloc(1, sizeof(*s));
        s->id = dup_str(o, "id");
        s->bundle = dup_str(o, "bundle");
        s->rootfs = dup_str(o, "rootfs");
        s->cgroup_path = dup_str(o, "cgroup_path");
        s->created = dup_str(o, "created");
        s->owner = dup_str(o, "owner");
        s->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
        s->pid_start = (unsigned long long)json_integer_value(json_object_get(o, "pid_start"));
        s->systemd_cgroup = json_is_true(json_object_get(o, "systemd_cgroup"));
        s->annotations = json_incref(json_object_get(o, "annotations"));
        s->config = json_incref(json_object_get(o, "config"));
        json_decref(o);
        if (!s->id || !s->bundle) {
                nk_state_free(s);
                return nk_error_set(err, EINVAL, "%s: corrupt state: missing id or bundle", path);
        }
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
        char **v = calloc(1, sizeof(char *));
        size_t n = 0;
        if (!d) {
                if (errno == ENOENT) {
                        *ids = v;
                        return 0;
                }
                free(v);
                return nk_error_set(err, errno, "open `%s`", root);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                v = realloc(v, (n + 2) * sizeof(char *));
                v[n++] = strdup(de->d_name);
                v[n] = NULL;
        }
        qsort(v, n, sizeof(char *), cmp_str);
        *ids = v;
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
        return strtoull(p, NULL, 10);
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
