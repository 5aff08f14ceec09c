/* Host cgroup layout: which hierarchies are mounted, which controllers each
 * holds, and whether that makes a pure v1, pure v2 or hybrid host. Read from
 * /proc/self/mountinfo (what this mount namespace really has) and confirmed
 * with statfs, never guessed from well-known paths. */
#include "../../util/cleanup.h"
#include "../../util/fs.h"
#include "../../util/mountinfo.h"
#include "../../util/strv.h"
#include "internal.h"
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/* v1 super options that are not controllers. Anything with '=' other than
 * name= is an option too (release_agent=...). */
static const char *const v1_known[] = {
        "cpuset",  "cpu",        "cpuacct",  "io",      "blkio", "memory", "devices", "freezer",
        "net_cls", "perf_event", "net_prio", "hugetlb", "pids",  "rdma",   "misc",    "debug",
};

static bool is_v1_controller(const char *opt)
{
        if (strncmp(opt, "name=", 5) == 0)
                return opt[5] != '\0';
        for (size_t i = 0; i < ARRAY_SIZE(v1_known); i++)
                if (streq(opt, v1_known[i]))
                        return true;
        return false;
}

void nk_cg_mount_clear(struct nk_cg_mount *m)
{
        free(m->mount);
        free(m->root);
        nk_strv_free(m->controllers);
        memset(m, 0, sizeof(*m));
}

static int v1_controllers(const char *superopts, char ***out)
{
        _cleanup_free_ char *dup = strdup(superopts);
        char **v = calloc(1, sizeof(char *)), *save = NULL;
        if (!dup || !v) {
                free(v);
                return -1;
        }
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (is_v1_controller(t) && nk_strv_push(&v, t) < 0) {
                        nk_strv_free(v);
                        return -1;
                }
        *out = v;
        return 0;
}

/* One line of mountinfo (util/mountinfo.c parses it): *is_cgroup when it is
 * a cgroup or cgroup2 mount, then m filled. -1 only when out of memory. */
static int parse_line(char *line, struct nk_cg_mount *m, bool *is_cgroup)
{
        struct nk_mountinfo_entry e;
        *is_cgroup = false;
        memset(m, 0, sizeof(*m));
        if (nk_mountinfo_parse_line(line, &e) < 0)
                return 0;
        bool v2 = streq(e.fstype, "cgroup2");
        if (!v2 && !streq(e.fstype, "cgroup"))
                return 0;
        m->dev_major = e.major;
        m->dev_minor = e.minor;
        m->v2 = v2;
        m->root = strdup(e.root);
        m->mount = strdup(e.mountpoint);
        if (!m->root || !m->mount)
                return -1;
        if (v2)
                m->controllers = calloc(1, sizeof(char *));
        else if (v1_controllers(e.superopts, &m->controllers) < 0)
                return -1;
        if (!m->controllers)
                return -1;
        *is_cgroup = true;
        return 0;
}

/* Index of the entry for the same hierarchy (device) or at the same mount
 * point, or n. */
static size_t same(const struct nk_cg_mount *v, size_t n, const struct nk_cg_mount *m)
{
        for (size_t i = 0; i < n; i++)
                if ((v[i].dev_major == m->dev_major && v[i].dev_minor == m->dev_minor) ||
                    streq(v[i].mount, m->mount))
                        return i;
        return n;
}

int nk_cg_parse_mountinfo(const char *text, struct nk_cg_mount **out, size_t *n, nk_error **err)
{
        _cleanup_free_ char *dup = strdup(text);
        struct nk_cg_mount *v = NULL;
        size_t cnt = 0;
        char *save = NULL;
        if (!dup)
                return nk_error_set(err, ENOMEM, "parse mountinfo");
        for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct nk_cg_mount m;
                bool is_cg;
                if (parse_line(line, &m, &is_cg) < 0) {
                        nk_cg_mount_clear(&m);
                        goto oom;
                }
                if (!is_cg)
                        continue;
                /* A hierarchy bind-mounted again elsewhere (or a subtree of
                 * it) is the same hierarchy: the first mount wins. A mount on
                 * top of an earlier one at the same mount point hides it
                 * (mountinfo lists mounts in the order they were attached):
                 * the later one is what a path under it reaches. */
                size_t k = same(v, cnt, &m);
                if (k < cnt && streq(v[k].mount, m.mount)) {
                        nk_cg_mount_clear(&v[k]);
                        v[k] = m;
                        continue;
                }
                if (k < cnt) {
                        nk_cg_mount_clear(&m);
                        continue;
                }
                struct nk_cg_mount *nv = realloc(v, (cnt + 1) * sizeof(*v));
                if (!nv) {
                        nk_cg_mount_clear(&m);
                        goto oom;
                }
                v = nv;
                v[cnt++] = m;
        }
        *out = v;
        *n = cnt;
        return 0;
oom:
        for (size_t i = 0; i < cnt; i++)
                nk_cg_mount_clear(&v[i]);
        free(v);
        return nk_error_set(err, ENOMEM, "parse mountinfo");
}

char *nk_cg_dir_of(const struct nk_cg_mount *m, const char *path)
{
        size_t rl = strlen(m->root);
        if (!streq(m->root, "/") && strncmp(path, m->root, rl) == 0 &&
            (path[rl] == '/' || !path[rl]))
                path += rl;
        char *dir = NULL;
        if (asprintf(&dir, "%s%s%s", m->mount, path[0] == '/' ? "" : "/",
                     streq(path, "/") || !*path ? "" : path) < 0)
                return NULL;
        return dir;
}

enum nk_cgroup_layout nk_cg_layout_of(const struct nk_cg_mount *m, size_t n)
{
        bool v1_ctl = false, v2 = false;
        for (size_t i = 0; i < n; i++) {
                if (m[i].v2) {
                        v2 = true;
                        continue;
                }
                for (char **c = m[i].controllers; c && *c; c++)
                        if (strncmp(*c, "name=", 5) != 0)
                                v1_ctl = true;
        }
        if (v2 && v1_ctl)
                return NK_CGROUP_HYBRID;
        return v2 ? NK_CGROUP_V2 : NK_CGROUP_V1;
}

const char *nk_cg_layout_name(enum nk_cgroup_layout l)
{
        switch (l) {
        case NK_CGROUP_V1:
                return "v1";
        case NK_CGROUP_V2:
                return "v2";
        case NK_CGROUP_HYBRID:
                return "hybrid";
        }
        return "?";
}

static int read_v2_controllers(struct nk_cg_mount *m)
{
        _cleanup_free_ char *text = NULL;
        if (nk_cg_read(m->mount, "cgroup.controllers", &text, NULL) < 0)
                return 0; /* an empty cgroup2 mount is still the unified hierarchy */
        char *save = NULL;
        for (char *t = strtok_r(text, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
                if (nk_strv_push(&m->controllers, t) < 0)
                        return -1;
        return 0;
}

/* statfs proves the mount point still is the filesystem mountinfo listed
 * (an over-mount would hide it). */
static bool magic_ok(const struct nk_cg_mount *m)
{
        struct statfs sf;
        if (statfs(m->mount, &sf) < 0)
                return false;
        return m->v2 ? sf.f_type == CGROUP2_SUPER_MAGIC : sf.f_type == CGROUP_SUPER_MAGIC;
}

/* Only the lines of cgroup and cgroup2 mounts (in mountinfo, " - " ends
 * the optional fields and is followed by the filesystem type; a path
 * shows a space as \040). */
static char *cgroup_lines(const char *text)
{
        char *out = malloc(strlen(text) + 1), *o = out;
        for (const char *l = text; out && *l;) {
                const char *end = strchr(l, '\n');
                size_t len = end ? (size_t)(end - l) + 1 : strlen(l);
                const char *sep = memmem(l, len, " - cgroup", 9);
                if (sep && (sep[9] == ' ' || (sep[9] == '2' && sep[10] == ' '))) {
                        memcpy(o, l, len);
                        o += len;
                }
                l += len;
        }
        if (out)
                *o = '\0';
        return out;
}

/* The cgroup mounts of /proc/self/mountinfo, read once per process and
 * mount namespace: mountinfo lists every mount, and with a thousand
 * containers that is a thousand overlays the kernel formats anew at each
 * read (~400 KB, ~100 reads), while rm, kill and create open a cgroup
 * several times each. Whether each mount point still is a cgroup
 * filesystem is checked at every use (magic_ok); a long-lived process
 * that creates again (the monitor's restarts) does it in a fresh image. */
static int cgroup_mountinfo(char **out, nk_error **err)
{
        static char *cached;
        static struct stat cached_ns;
        struct stat ns;
        bool ns_ok = stat("/proc/self/ns/mnt", &ns) == 0;
        if (cached && ns_ok && ns.st_ino == cached_ns.st_ino && ns.st_dev == cached_ns.st_dev) {
                *out = strdup(cached);
                return *out ? 0 : nk_error_set(err, ENOMEM, "detect cgroup layout");
        }
        _cleanup_free_ char *text = NULL;
        if (nk_read_file("/proc/self/mountinfo", &text, NULL, err) < 0)
                return -1;
        char *lines = cgroup_lines(text);
        if (!lines)
                return nk_error_set(err, ENOMEM, "detect cgroup layout");
        if (ns_ok) {
                free(cached);
                cached = strdup(lines);
                cached_ns = ns;
        }
        *out = lines;
        return 0;
}

int nk_cg_host_detect(struct nk_cg_host *h, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        struct nk_cg_mount *m = NULL;
        size_t n = 0, k = 0;
        if (cgroup_mountinfo(&text, err) < 0)
                return nk_error_wrap(err, "detect cgroup layout");
        if (nk_cg_parse_mountinfo(text, &m, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (!magic_ok(&m[i]) || (m[i].v2 && read_v2_controllers(&m[i]) < 0)) {
                        nk_cg_mount_clear(&m[i]);
                        continue;
                }
                m[k++] = m[i];
        }
        if (k == 0) {
                free(m);
                return nk_error_set(err, ENOENT,
                                    "detect cgroup layout: no cgroup filesystem "
                                    "mounted (see /proc/self/mountinfo)");
        }
        h->m = m;
        h->n = k;
        h->layout = nk_cg_layout_of(m, k);
        h->mountinfo = TAKE_PTR(text);
        return 0;
}

void nk_cg_host_clear(struct nk_cg_host *h)
{
        for (size_t i = 0; i < h->n; i++)
                nk_cg_mount_clear(&h->m[i]);
        free(h->m);
        free(h->mountinfo);
        memset(h, 0, sizeof(*h));
}

const struct nk_cg_mount *nk_cg_host_find(const struct nk_cg_host *h, const char *controller)
{
        for (size_t i = 0; i < h->n; i++)
                if (nk_strv_contains(h->m[i].controllers, controller))
                        return &h->m[i];
        return NULL;
}

const struct nk_cg_mount *nk_cg_host_v2(const struct nk_cg_host *h)
{
        for (size_t i = 0; i < h->n; i++)
                if (h->m[i].v2)
                        return &h->m[i];
        return NULL;
}

/* Controllers the kernel has (/proc/cgroups, enabled) that no mounted
 * hierarchy holds: on a hybrid host the v1-only net_cls/net_prio/perf_event
 * typically. */
static json_t *unmounted(const struct nk_cg_host *h)
{
        json_t *a = json_array();
        _cleanup_free_ char *text = NULL;
        if (nk_read_file("/proc/cgroups", &text, NULL, NULL) < 0)
                return a;
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char name[64];
                int hier, num, enabled;
                if (l[0] == '#' || sscanf(l, "%63s %d %d %d", name, &hier, &num, &enabled) != 4)
                        continue;
                if (enabled && !nk_cg_host_find(h, name))
                        json_array_append_new(a, json_string(name));
        }
        return a;
}

json_t *nk_cgroup_host_info(nk_error **err)
{
        struct nk_cg_host h = {0};
        if (nk_cg_host_detect(&h, err) < 0)
                return NULL;
        json_t *hiers = json_array(), *ctl = json_object();
        for (size_t i = 0; i < h.n; i++) {
                json_t *names = json_array();
                for (char **c = h.m[i].controllers; c && *c; c++) {
                        json_array_append_new(names, json_string(*c));
                        json_object_set_new(ctl, *c,
                                            json_pack("{s:i, s:s}", "version", h.m[i].v2 ? 2 : 1,
                                                      "mount", h.m[i].mount));
                }
                json_array_append_new(hiers, json_pack("{s:s, s:i, s:s, s:o}", "mount",
                                                       h.m[i].mount, "version", h.m[i].v2 ? 2 : 1,
                                                       "root", h.m[i].root, "controllers", names));
        }
        json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "layout", nk_cg_layout_name(h.layout),
                              "hierarchies", hiers, "controllers", ctl, "unmounted", unmounted(&h));
        nk_cg_host_clear(&h);
        return o;
}
