/* nook engine — the OCI spec of a `nook run`: nook's default spec (the one
 * `nook-oci spec` writes) changed the way Docker's daemon changes its own:
 * process args from the image's Entrypoint/Cmd and the command line, the
 * environment, the user looked up inside the rootfs, resources, privileged
 * mode, mounts, labels as annotations.
 *
 * Left to the caller: linux.cgroupsPath (where the engine puts its
 * containers), the hostname default (o->hostname must be set: Docker's is
 * the first 12 characters of the id, which this code does not know), the
 * --init binary (the engine prepends it to process.args and binds it in),
 * /etc/hosts, /etc/resolv.conf and /etc/hostname (networking). */
#include "engine/container/runopts.h"
#include "engine/jsonutil.h"
#include "runtime/security.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* /etc/passwd and /etc/group of an image: refused when larger. */
#define ID_FILE_MAX (16 << 20)

/* Docker's default capability set (moby oci/caps/defaults.go). */
static const char *const docker_caps[] = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE",
};

/* ---- /etc/passwd and /etc/group inside the rootfs ---------------------- */

/* The file at `path` beneath rootfs_fd, every symlink resolved as if
 * rootfs_fd were / (openat2 RESOLVE_IN_ROOT): an image's /etc/passwd that
 * links to the host's /etc/shadow or to ../../.. stays inside. *out = NULL
 * when there is no such file (an image without users). */
static int read_in_root(int rootfs_fd, const char *path, char **out, nk_error **err)
{
        struct open_how how = {
                /* O_NONBLOCK: a FIFO planted there must not hang the open */
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int fd = nk_openat2(rootfs_fd, path, &how, sizeof(how));
        if (fd < 0 && errno == ENOENT) {
                *out = NULL;
                return 0;
        }
        if (fd < 0)
                return nk_error_set(err, errno, "open %s in the rootfs", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "stat %s in the rootfs", path);
        if (!S_ISREG(st.st_mode))
                return nk_error_set(err, 0, "%s in the rootfs is not a regular file", path);
        if (st.st_size > ID_FILE_MAX)
                return nk_error_set(err, 0, "%s in the rootfs is larger than %d bytes", path,
                                    ID_FILE_MAX);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return nk_error_set(err, ENOMEM, "read %s", path);
        size_t n = 0;
        while (n < (size_t)st.st_size) {
                ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return nk_error_set(err, errno, "read %s in the rootfs", path);
                if (r == 0)
                        break; /* shrank meanwhile: what is there */
                n += (size_t)r;
        }
        buf[n] = '\0';
        *out = TAKE_PTR(buf);
        return 0;
}

/* Split one line at ':' into at most max fields (the last keeps the
 * rest). Returns the number of fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
        size_t n = 0;
        f[n++] = line;
        for (char *p = line; *p && n < max; p++)
                if (*p == ':') {
                        *p = '\0';
                        f[n++] = p + 1;
                }
        return n;
}

struct pw_entry {
        char name[256];
        uint32_t uid, gid;
};

/* The first passwd line whose name is `name` (when not NULL) or whose
 * uid is `uid`. Lines with fewer than four fields or ids that are not
 * numbers nook accepts are skipped (a truncated file ends in one). */
static bool passwd_find(const char *text, const char *name, uint32_t uid, struct pw_entry *out)
{
        _cleanup_free_ char *copy = text ? strdup(text) : NULL;
        char *save = NULL;
        if (!copy)
                return false;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[5];
                uint32_t u, g;
                if (split_fields(l, f, 5) < 4 || nk_parse_id(f[2], &u) < 0 ||
                    nk_parse_id(f[3], &g) < 0 || strlen(f[0]) >= sizeof(out->name))
                        continue;
                if (name ? streq(f[0], name) : u == uid) {
                        snprintf(out->name, sizeof(out->name), "%s", f[0]);
                        out->uid = u;
                        out->gid = g;
                        return true;
                }
        }
        return false;
}

static bool member_of(char *list, const char *user)
{
        char *save = NULL;
        for (char *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (streq(m, user))
                        return true;
        return false;
}

/* With `group`: the gid of the first line named so (*gid), or false.
 * Without: every gid whose member list names `user` into `sgids`. */
static int group_scan(const char *text, const char *group, const char *user, uint32_t *gid,
                      json_t *sgids)
{
        _cleanup_free_ char *copy = text ? strdup(text) : NULL;
        char *save = NULL;
        if (!copy)
                return 0;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *f[4];
                uint32_t g;
                size_t n = split_fields(l, f, 4);
                if (n < 3 || nk_parse_id(f[2], &g) < 0)
                        continue;
                if (group && streq(f[0], group)) {
                        *gid = g;
                        return 1;
                }
                if (!group && user && n == 4 && member_of(f[3], user))
                        json_array_append_new(sgids, json_integer(g));
        }
        return 0;
}

struct user_ids {
        uint32_t uid, gid;
        json_t *sgids; /* array, owned */
};

/* Docker's user spec "user[:group]" (each a name or a number) to ids,
 * the way libcontainer's GetExecUser does: a name must be in the rootfs'
 * /etc/passwd, a number need not; the primary gid is the passwd entry's
 * unless a group is given; supplementary groups are the /etc/group
 * entries naming the user, only when no group is given. */
static int resolve_user(const char *spec, int rootfs_fd, struct user_ids *ids, nk_error **err)
{
        _cleanup_free_ char *passwd = NULL, *group = NULL, *copy = strdup(spec ? spec : "");
        if (!copy)
                return nk_error_set(err, ENOMEM, "user");
        char *gname = strchr(copy, ':');
        if (gname)
                *gname++ = '\0';
        const char *uname = *copy ? copy : "0";
        struct pw_entry pw = {.name = ""};
        uint32_t num;
        if (read_in_root(rootfs_fd, "/etc/passwd", &passwd, err) < 0 ||
            read_in_root(rootfs_fd, "/etc/group", &group, err) < 0)
                return nk_error_wrap(err, "user `%s`", spec);
        if (passwd_find(passwd, uname, 0, &pw)) {
                /* a name (or a number that is some user's name) */
        } else if (nk_parse_id(uname, &num) == 0) {
                if (!passwd_find(passwd, NULL, num, &pw))
                        pw = (struct pw_entry){.name = "", .uid = num, .gid = 0};
        } else {
                return nk_error_set(err, 0,
                                    "unable to find user %s: no matching entries in the "
                                    "image's /etc/passwd",
                                    uname);
        }
        ids->uid = pw.uid;
        ids->gid = pw.gid;
        if (!(ids->sgids = json_array()))
                return nk_error_set(err, ENOMEM, "user");
        if (gname && *gname) {
                if (!group_scan(group, gname, NULL, &ids->gid, NULL) &&
                    nk_parse_id(gname, &ids->gid) < 0)
                        return nk_error_set(err, 0,
                                            "unable to find group %s: no matching entries in "
                                            "the image's /etc/group",
                                            gname);
        } else if (*pw.name) {
                group_scan(group, NULL, pw.name, NULL, ids->sgids);
        }
        return 0;
}

int nk_run_user_ids(const char *spec, int rootfs_fd, uint32_t *uid, uint32_t *gid, nk_error **err)
{
        struct user_ids ids = {0};
        int r = resolve_user(spec, rootfs_fd, &ids, err);
        json_decref(ids.sgids);
        if (r == 0) {
                *uid = ids.uid;
                *gid = ids.gid;
        }
        return r;
}

/* ---- process ------------------------------------------------------------ */

static int push_json_strings(char ***v, const json_t *arr, const char *what, nk_error **err)
{
        size_t i;
        json_t *s;
        if (arr && !json_is_array(arr) && !json_is_null(arr))
                return nk_error_set(err, 0, "image config: %s is not an array", what);
        json_array_foreach (arr, i, s) {
                if (!json_is_string(s))
                        return nk_error_set(err, 0, "image config: %s[%zu] is not a string", what,
                                            i);
                if (nk_strv_push(v, json_string_value(s)) < 0)
                        return nk_error_set(err, ENOMEM, "process args");
        }
        return 0;
}

/* Docker's rules: --entrypoint replaces the image's Entrypoint ("" clears
 * it) and drops the image's Cmd; a command replaces Cmd. */
static int build_args(const struct nk_run_opts *o, const json_t *cfg, json_t *process,
                      nk_error **err)
{
        _cleanup_strv_ char **args = NULL;
        if (o->entrypoint_set) {
                if (o->entrypoint && *o->entrypoint && nk_strv_push(&args, o->entrypoint) < 0)
                        return nk_error_set(err, ENOMEM, "process args");
        } else if (push_json_strings(&args, json_object_get(cfg, "Entrypoint"), "Entrypoint", err) <
                   0) {
                return -1;
        }
        if (o->cmd) {
                for (char **c = o->cmd; *c; c++)
                        if (nk_strv_push(&args, *c) < 0)
                                return nk_error_set(err, ENOMEM, "process args");
        } else if (!o->entrypoint_set &&
                   push_json_strings(&args, json_object_get(cfg, "Cmd"), "Cmd", err) < 0) {
                return -1;
        }
        if (!args || !*args)
                return nk_error_set(err, 0, "no command specified (the image has none)");
        json_t *a = json_array();
        for (char **c = args; *c; c++)
                json_array_append_new(a, json_string(*c));
        return json_object_set_new(process, "args", a);
}

/* Docker's ReplaceOrAppendEnvValues: KEY=V replaces KEY in place or is
 * appended; a bare KEY removes it. */
static void env_merge(json_t *env, const char *kv)
{
        size_t klen = strcspn(kv, "="), i;
        json_t *e;
        json_array_foreach (env, i, e) {
                const char *s = json_string_value(e);
                if (strncmp(s, kv, klen) == 0 && s[klen] == '=') {
                        if (kv[klen])
                                json_array_set_new(env, i, json_string(kv));
                        else
                                json_array_remove(env, i);
                        return;
                }
        }
        if (kv[klen])
                json_array_append_new(env, json_string(kv));
}

/* PATH, HOSTNAME and (with a terminal) TERM first, then the image's Env,
 * then -e and --env-file: each later one wins, so the image's PATH stays
 * unless the command line gives one. */
static int build_env(const struct nk_run_opts *o, const json_t *cfg, json_t *process,
                     nk_error **err)
{
        _cleanup_jansson_ json_t *env = json_array();
        _cleanup_free_ char *host = NULL;
        if (asprintf(&host, "HOSTNAME=%s", o->hostname) < 0)
                return nk_error_set(err, ENOMEM, "environment");
        json_array_append_new(env, json_string(DEFAULT_PATH));
        json_array_append_new(env, json_string(host));
        if (o->tty)
                json_array_append_new(env, json_string("TERM=xterm"));
        _cleanup_strv_ char **image_env = NULL;
        if (push_json_strings(&image_env, json_object_get(cfg, "Env"), "Env", err) < 0)
                return -1;
        for (char **e = image_env; e && *e; e++)
                if (strchr(*e, '=') && **e != '=')
                        env_merge(env, *e);
        for (char **e = o->env; e && *e; e++)
                env_merge(env, *e);
        return json_object_set(process, "env", env);
}

/* -w, else the image's WorkingDir (made absolute as Docker does), else /. */
static int build_cwd(const struct nk_run_opts *o, const json_t *cfg, json_t *process,
                     nk_error **err)
{
        const char *wd = o->workdir ?: json_string_value(json_object_get(cfg, "WorkingDir"));
        _cleanup_free_ char *abs = NULL;
        if (asprintf(&abs, "%s%s", wd && *wd == '/' ? "" : "/", wd ?: "") < 0)
                return nk_error_set(err, ENOMEM, "cwd");
        return json_object_set_new(process, "cwd", json_string(abs));
}

static int build_user(const struct nk_run_opts *o, const json_t *cfg, int rootfs_fd,
                      json_t *process, nk_error **err)
{
        const char *spec = o->user ? o->user : json_string_value(json_object_get(cfg, "User"));
        struct user_ids ids = {0};
        if (resolve_user(spec, rootfs_fd, &ids, err) < 0) {
                json_decref(ids.sgids);
                return -1;
        }
        json_t *u = json_pack("{s:I, s:I}", "uid", (json_int_t)ids.uid, "gid", (json_int_t)ids.gid);
        if (json_array_size(ids.sgids))
                json_object_set_new(u, "additionalGids", ids.sgids);
        else
                json_decref(ids.sgids);
        return json_object_set_new(process, "user", u);
}

/* ---- capabilities, privileged, seccomp ------------------------------------ */

static int cap_set(uint64_t *mask, const char *name, bool on, nk_error **err)
{
        if (streq(name, "ALL") || streq(name, "CAP_ALL")) {
                int last = nk_cap_last_cap();
                *mask = on ? (last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1) : 0;
                return 0;
        }
        int c = nk_cap_from_name(name);
        if (c < 0)
                return nk_error_set(err, 0, "unknown capability `%s`", name);
        if (on)
                *mask |= 1ULL << c;
        else
                *mask &= ~(1ULL << c);
        return 0;
}

static json_t *caps_json(uint64_t mask)
{
        json_t *a = json_array();
        for (int c = 0; c < 64; c++) {
                if (!(mask & (1ULL << c)))
                        continue;
                char *n = cap_to_name((cap_value_t)c), buf[64];
                if (n && strncmp(n, "cap_", 4) == 0) {
                        size_t i;
                        for (i = 0; n[i] && i < sizeof(buf) - 1; i++)
                                buf[i] = (char)toupper((unsigned char)n[i]);
                        buf[i] = '\0';
                        json_array_append_new(a, json_string(buf));
                }
                cap_free(n);
        }
        return a;
}

static int build_caps(const struct nk_run_opts *o, json_t *process, uint64_t *out, nk_error **err)
{
        uint64_t mask = 0;
        if (o->privileged)
                cap_set(&mask, "ALL", true, err);
        for (size_t i = 0; !o->privileged && i < ARRAY_SIZE(docker_caps); i++)
                if (cap_set(&mask, docker_caps[i], true, err) < 0)
                        return -1;
        /* Docker: drops first, then adds */
        for (char **c = o->cap_drop; c && *c; c++)
                if (cap_set(&mask, *c, false, err) < 0)
                        return nk_error_wrap(err, "--cap-drop");
        for (char **c = o->cap_add; c && *c; c++)
                if (cap_set(&mask, *c, true, err) < 0)
                        return nk_error_wrap(err, "--cap-add");
        json_t *caps = json_pack("{s:o, s:o, s:o}", "bounding", caps_json(mask), "effective",
                                 caps_json(mask), "permitted", caps_json(mask));
        *out = mask;
        return json_object_set_new(process, "capabilities", caps);
}

static void drop_option(json_t *mounts, const char *dest, const char *opt)
{
        size_t i, j;
        json_t *m, *v;
        json_array_foreach (mounts, i, m) {
                if (!streq(json_string_value(json_object_get(m, "destination")) ?: "", dest))
                        continue;
                json_t *opts = json_object_get(m, "options");
                json_array_foreach (opts, j, v) {
                        if (json_is_string(v) && streq(json_string_value(v), opt)) {
                                json_array_remove(opts, j);
                                j--;
                        }
                }
        }
}

/* Docker's --privileged: every capability, no seccomp, nothing masked or
 * read-only in /proc, /sys writable, every device allowed in the cgroup. */
static void make_privileged(json_t *spec, json_t *linux_)
{
        json_object_del(linux_, "maskedPaths");
        json_object_del(linux_, "readonlyPaths");
        json_object_del(linux_, "seccomp");
        json_t *mounts = json_object_get(spec, "mounts");
        drop_option(mounts, "/sys", "ro");
        drop_option(mounts, "/sys/fs/cgroup", "ro");
        json_t *res = json_object_get(linux_, "resources");
        json_object_set_new(res, "devices", json_pack("[{s:b, s:s}]", "allow", 1, "access", "rwm"));
}

static int build_seccomp(const struct nk_run_opts *o, json_t *linux_, uint64_t caps, nk_error **err)
{
        if (o->privileged || (o->seccomp && streq(o->seccomp, "unconfined")))
                return 0;
        json_t *prof = o->seccomp_profile
                               ? nk_seccomp_profile_resolve(o->seccomp_profile, caps,
                                                            o->seccomp ?: "seccomp profile", err)
                               : nk_seccomp_default_profile(caps, err);
        if (!prof)
                return -1;
        return json_object_set_new(linux_, "seccomp", prof);
}

/* ---- resources ------------------------------------------------------------- */

static void build_resources(const struct nk_run_opts *o, json_t *linux_)
{
        json_t *res = json_object_get(linux_, "resources");
        if (!res) {
                res = json_object();
                json_object_set_new(linux_, "resources", res);
        }
        if (o->memory > 0) {
                /* Docker: no --memory-swap means as much swap as memory */
                int64_t swap = o->memory_swap == NK_RUN_UNLIMITED ? -1
                               : o->memory_swap > 0               ? o->memory_swap
                                                                  : 2 * o->memory;
                json_object_set_new(res, "memory",
                                    json_pack("{s:I, s:I}", "limit", (json_int_t)o->memory, "swap",
                                              (json_int_t)swap));
        }
        json_t *cpu = json_object();
        if (o->cpu_shares > 0)
                json_object_set_new(cpu, "shares", json_integer(o->cpu_shares));
        if (o->cpu_quota > 0) {
                json_object_set_new(cpu, "quota", json_integer(o->cpu_quota));
                json_object_set_new(cpu, "period", json_integer(o->cpu_period));
        }
        if (o->cpuset_cpus)
                json_object_set_new(cpu, "cpus", json_string(o->cpuset_cpus));
        if (json_object_size(cpu))
                json_object_set_new(res, "cpu", cpu);
        else
                json_decref(cpu);
        if (o->pids_limit > 0)
                json_object_set_new(res, "pids",
                                    json_pack("{s:I}", "limit", (json_int_t)o->pids_limit));
}

/* ---- mounts ---------------------------------------------------------------- */

static json_t *mount_json(const struct nk_run_mount *m)
{
        bool tmpfs = m->kind == NK_MOUNT_TMPFS;
        json_t *opts =
                tmpfs ? json_pack("[sss]", "nosuid", "nodev", "noexec") : json_pack("[s]", "rbind");
        json_array_append_new(opts, json_string(m->readonly ? "ro" : "rw"));
        for (char **p = m->options; p && *p; p++)
                json_array_append_new(opts, json_string(*p));
        return json_pack("{s:s, s:s, s:s, s:o}", "destination", m->target, "type",
                         tmpfs ? "tmpfs" : "bind", "source", tmpfs ? "tmpfs" : m->source, "options",
                         opts);
}

/* A mount at a destination the defaults have (a volume on /dev/shm)
 * takes that one's place; others follow the defaults. */
static int build_mounts(json_t *spec, const struct nk_run_mount *mounts, size_t n, nk_error **err)
{
        json_t *list = json_object_get(spec, "mounts");
        for (size_t k = 0; k < n; k++) {
                const struct nk_run_mount *m = &mounts[k];
                if (!m->target || m->target[0] != '/')
                        return nk_error_set(err, 0, "mount target `%s` is not an absolute path",
                                            m->target ?: "");
                if (m->kind != NK_MOUNT_TMPFS && !m->source)
                        return nk_error_set(err, 0, "mount on `%s` has no source", m->target);
                size_t i;
                json_t *d;
                json_array_foreach (list, i, d) {
                        if (streq(json_string_value(json_object_get(d, "destination")) ?: "",
                                  m->target)) {
                                json_array_remove(list, i);
                                break;
                        }
                }
                json_array_append_new(list, mount_json(m));
        }
        return 0;
}

/* --shm-size: the size of the default /dev/shm tmpfs (a volume or tmpfs
 * given there replaced it already: then nothing to do). */
static void build_shm(const struct nk_run_opts *o, json_t *spec)
{
        if (o->shm_size <= 0)
                return;
        size_t i, j;
        json_t *m, *v;
        json_array_foreach (json_object_get(spec, "mounts"), i, m) {
                if (!streq(json_string_value(json_object_get(m, "destination")) ?: "",
                           "/dev/shm") ||
                    !streq(json_string_value(json_object_get(m, "type")) ?: "", "tmpfs"))
                        continue;
                json_t *opts = json_object_get(m, "options");
                json_array_foreach (opts, j, v)
                        if (strncmp(json_string_value(v) ?: "", "size=", 5) == 0) {
                                json_array_remove(opts, j);
                                j--;
                        }
                char buf[40];
                snprintf(buf, sizeof(buf), "size=%" PRId64, o->shm_size);
                json_array_append_new(opts, json_string(buf));
        }
}

/* --device: the node in linux.devices and an allow rule for it in the
 * device cgroup (after the default deny-all, so it wins). */
static void build_devices(const struct nk_run_opts *o, json_t *linux_)
{
        if (!json_array_size(o->device_nodes))
                return;
        json_t *devs = json_object_get(linux_, "devices");
        if (!devs) {
                devs = json_array();
                json_object_set_new(linux_, "devices", devs);
        }
        json_t *res = json_object_get(linux_, "resources");
        json_t *rules = json_object_get(res, "devices");
        if (!rules) {
                rules = json_array();
                json_object_set_new(res, "devices", rules);
        }
        size_t i, j;
        json_t *d, *e;
        json_array_foreach (o->device_nodes, i, d) {
                const char *path = json_string_value(json_object_get(d, "path"));
                json_array_foreach (devs, j, e) /* a default one at the same path */
                        if (streq(json_string_value(json_object_get(e, "path")) ?: "", path)) {
                                json_array_remove(devs, j);
                                break;
                        }
                json_t *node = json_deep_copy(d);
                json_object_del(node, "access");
                json_object_del(node, "host");
                json_array_append_new(devs, node);
                json_array_append_new(rules, json_pack("{s:b, s:O, s:O, s:O, s:O}", "allow", 1,
                                                       "type", json_object_get(d, "type"), "major",
                                                       json_object_get(d, "major"), "minor",
                                                       json_object_get(d, "minor"), "access",
                                                       json_object_get(d, "access")));
        }
}

static int build_linux_extra(const struct nk_run_opts *o, json_t *linux_, nk_error **err)
{
        if (json_object_size(o->sysctls))
                json_object_set_new(linux_, "sysctl", json_deep_copy(o->sysctls));
        bool host = o->userns && streq(o->userns, "host");
        if (!host && json_array_size(o->uid_mappings) && json_array_size(o->gid_mappings)) {
                json_object_set_new(linux_, "uidMappings", json_deep_copy(o->uid_mappings));
                json_object_set_new(linux_, "gidMappings", json_deep_copy(o->gid_mappings));
                json_array_append_new(json_object_get(linux_, "namespaces"),
                                      json_pack("{s:s}", "type", "user"));
        } else if (o->userns && streq(o->userns, "auto")) {
                return nk_error_set(err, 0,
                                    "--userns=auto: no id range (the engine allocates one "
                                    "into uid_mappings/gid_mappings)");
        }
        build_devices(o, linux_);
        return 0;
}

int nk_run_spec_build(const struct nk_run_opts *o, const json_t *image_config, const char *rootfs,
                      int rootfs_fd, const struct nk_run_mount *mounts, size_t n_mounts,
                      json_t **spec_out, nk_error **err)
{
        if (!o->hostname)
                return nk_error_set(err, 0,
                                    "run spec: no hostname (the caller sets the id's "
                                    "first 12 characters)");
        const json_t *cfg = json_object_get(image_config, "config");
        _cleanup_jansson_ json_t *spec = nk_spec_default(false);
        if (!spec)
                return nk_error_set(err, ENOMEM, "run spec");
        json_t *process = json_object_get(spec, "process");
        json_t *linux_ = json_object_get(spec, "linux");
        uint64_t caps = 0;
        json_object_set_new(process, "terminal", json_boolean(o->tty));
        if (build_args(o, cfg, process, err) < 0 || build_env(o, cfg, process, err) < 0 ||
            build_user(o, cfg, rootfs_fd, process, err) < 0 ||
            build_caps(o, process, &caps, err) < 0)
                return -1;
        if (build_cwd(o, cfg, process, err) < 0)
                return -1;
        json_object_set_new(process, "noNewPrivileges", json_boolean(o->no_new_privileges));
        if (json_array_size(o->rlimits))
                json_object_set_new(process, "rlimits", json_deep_copy(o->rlimits));
        json_object_set_new(spec, "root",
                            json_pack("{s:s, s:b}", "path", rootfs, "readonly", o->read_only));
        json_object_set_new(spec, "hostname", json_string(o->hostname));
        if (json_object_size(o->labels))
                json_object_set_new(spec, "annotations", json_deep_copy(o->labels));
        build_resources(o, linux_);
        if (o->privileged)
                make_privileged(spec, linux_);
        if (build_seccomp(o, linux_, caps, err) < 0 ||
            build_mounts(spec, mounts, n_mounts, err) < 0)
                return -1;
        build_shm(o, spec);
        if (build_linux_extra(o, linux_, err) < 0)
                return -1;
        *spec_out = TAKE_PTR(spec);
        return 0;
}

/* ---- --init ------------------------------------------------------------ */

int nk_run_spec_add_init(json_t *spec, const char *init_path, nk_error **err)
{
        struct stat st;
        if (stat(init_path, &st) < 0)
                return nk_error_set(err, errno, "--init: init binary `%s`", init_path);
        if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return nk_error_set(err, 0, "--init: init binary `%s` is not an executable file",
                                    init_path);
        json_t *process = json_object_get(spec, "process");
        json_t *args = json_object_get(process, "args");
        json_t *mounts = json_object_get(spec, "mounts");
        if (!json_is_array(args) || !json_is_array(mounts))
                return nk_error_set(err, 0, "--init: the spec has no process.args or mounts");
        if (json_array_insert_new(args, 0, json_string(NK_RUN_INIT_DEST)) < 0 ||
            json_array_insert_new(args, 1, json_string("--")) < 0)
                return nk_error_set(err, ENOMEM, "--init");
        /* Read-only and bound after /dev (a tmpfs of the container's own):
         * the mount point is a file in that tmpfs, never in the image's
         * layers or the container's upper dir. */
        json_t *m = json_pack("{s:s,s:s,s:s,s:[sss]}", "destination", NK_RUN_INIT_DEST, "type",
                              "bind", "source", init_path, "options", "bind", "ro", "private");
        if (!m || json_array_append_new(mounts, m) < 0)
                return nk_error_set(err, ENOMEM, "--init: `%s`", init_path);
        return 0;
}
