/* Applying linux.resources to a container cgroup: build the plan for this
 * host, check every file exists before writing any, write in plan order,
 * and on update put back what was there when the kernel rejects a value. */
#include "../../util/cleanup.h"
#include "../../util/log.h"
#include "../../util/strv.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct undo {
        const char *dir;
        char *file;
        char *old;
};
struct undo_log {
        struct undo *u;
        size_t n;
};

static struct nk_cg_hier *hier_of(struct nk_cgroup *cg, const struct nk_cg_write *w)
{
        if (w->v2)
                return nk_cg_hier_v2(cg);
        return nk_cg_hier_for(cg, w->controller);
}

/* Resolve alt files now, so the write loop has one file per step. Returns
 * 1 to write, 0 to skip (optional and absent), -1 on error. */
static int resolve(struct nk_cgroup *cg, struct nk_cg_write *w, nk_error **err)
{
        struct nk_cg_hier *h = hier_of(cg, w);
        if (!h)
                return nk_error_set(err, ENOTSUP,
                                    "linux.resources.%s: no hierarchy holds the %s "
                                    "controller",
                                    w->json_path, w->controller);
        if (nk_cg_file_exists(h->dir, w->file))
                return 1;
        if (w->alt_file && nk_cg_file_exists(h->dir, w->alt_file)) {
                free(w->file);
                free(w->value);
                w->file = TAKE_PTR(w->alt_file);
                w->value = TAKE_PTR(w->alt_value);
                return 1;
        }
        if (w->optional) {
                nk_warn("linux.resources.%s: ignored, `%s/%s` does not exist on this kernel",
                        w->json_path, h->dir, w->file);
                return 0;
        }
        return nk_error_set(err, ENOENT,
                            "linux.resources.%s: `%s/%s` does not exist (controller not "
                            "enabled for this cgroup, or not in this kernel)",
                            w->json_path, h->dir, w->file);
}

static int precheck(struct nk_cgroup *cg, struct nk_cg_plan *p, bool *skip, nk_error **err)
{
        for (size_t i = 0; i < p->n; i++) {
                int r = resolve(cg, &p->w[i], err);
                if (r < 0)
                        return -1;
                skip[i] = r == 0;
        }
        return 0;
}

/* v1 memory.oom_control reads as key/value lines but takes a bare 0/1. */
static char *writable_old(const char *file, char *old)
{
        if (streq(file, "memory.oom_control")) {
                char *s = NULL;
                if (asprintf(&s, "%lld", nk_cg_kv_get(old, "oom_kill_disable")) < 0)
                        s = NULL;
                free(old);
                return s;
        }
        return old;
}

static void remember(struct undo_log *log, const char *dir, const char *file)
{
        char *old = NULL;
        /* devices.allow/deny are write-only; their state is devices.list. */
        if (strncmp(file, "devices.", 8) == 0 || nk_cg_read(dir, file, &old, NULL) < 0)
                return;
        struct undo *nu = realloc(log->u, (log->n + 1) * sizeof(*nu));
        if (!nu) {
                free(old);
                return;
        }
        log->u = nu;
        nu[log->n++] = (struct undo){dir, strdup(file), writable_old(file, old)};
}

/* Multi-line files (io.max, throttle lists, weights) are written back one
 * line per write, as the kernel takes them. */
static int restore_one(const struct undo *u)
{
        if (!u->file || !u->old)
                return 0;
        _cleanup_free_ char *dup = strdup(u->old);
        char *save = NULL;
        int r = 0;
        for (char *l = strtok_r(dup, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (nk_cg_write(u->dir, u->file, l, NULL) < 0)
                        r = -1;
        return r;
}

static void undo_all(struct undo_log *log)
{
        /* Twice: v1 memory and memsw limits may each need the other first. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = log->n; i-- > 0;)
                        if (restore_one(&log->u[i]) == 0 && pass == 0) {
                                free(log->u[i].old);
                                log->u[i].old = NULL;
                        }
}

static void undo_clear(struct undo_log *log)
{
        for (size_t i = 0; i < log->n; i++) {
                free(log->u[i].file);
                free(log->u[i].old);
        }
        free(log->u);
}

static int write_one(struct nk_cgroup *cg, struct nk_cg_plan *p, size_t i, bool *skip,
                     struct undo_log *log, nk_error **err)
{
        struct nk_cg_write *w = &p->w[i];
        const char *dir = hier_of(cg, w)->dir;
        if (log)
                remember(log, dir, w->file);
        nk_error *e = NULL;
        if (nk_cg_write(dir, w->file, w->value, &e) == 0) {
                nk_error_free(e);
                return 0;
        }
        /* Raising the v1 memory limit above the current memsw limit fails
         * with EINVAL: set memsw (the next step) first, then the limit. */
        if (w->swap_pair && e->errno_ == EINVAL && i + 1 < p->n && !skip[i + 1]) {
                nk_error_free(e);
                if (write_one(cg, p, i + 1, skip, log, err) < 0)
                        return -1;
                skip[i + 1] = true;
                if (nk_cg_write(dir, w->file, w->value, err) < 0)
                        return nk_error_wrap(err, "linux.resources.%s", w->json_path);
                return 0;
        }
        nk_error_pass(err, e);
        return nk_error_wrap(err, "linux.resources.%s", w->json_path);
}

static int check_before_update(struct nk_cgroup *cg, json_t *res, nk_error **err)
{
        json_t *m = json_object_get(res, "memory");
        json_t *lim = json_object_get(m, "limit");
        if (!json_is_true(json_object_get(m, "checkBeforeUpdate")) || !json_is_integer(lim) ||
            json_integer_value(lim) <= 0)
                return 0;
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "memory");
        if (!h)
                return 0;
        long long usage = 0;
        if (nk_cg_read_i64(h->dir, h->mnt->v2 ? "memory.current" : "memory.usage_in_bytes", &usage,
                           err) < 0)
                return -1;
        if (usage > json_integer_value(lim))
                return nk_error_set(err, EBUSY,
                                    "linux.resources.memory.limit: %lld is below the current "
                                    "usage %lld (checkBeforeUpdate)",
                                    (long long)json_integer_value(lim), usage);
        return 0;
}

/* Each entry is "allow VALUE" or "deny VALUE", for devices.allow/deny.
 * The kernel takes one rule per write(2), so each file is opened once and
 * written rule by rule. */
static int write_device_rules(const char *dir, char **w, nk_error **err)
{
        static const char *const file[2] = {"devices.deny", "devices.allow"};
        int fd[2] = {-1, -1}, r = 0;
        for (; r == 0 && w && *w; w++) {
                bool allow = strncmp(*w, "allow ", 6) == 0;
                const char *rule = *w + (allow ? 6 : 5);
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, file[allow]) < 0) {
                        r = nk_error_set(err, ENOMEM, "device rules");
                        break;
                }
                if (fd[allow] < 0 && (fd[allow] = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
                        r = nk_error_set(err, errno, "open `%s`", path);
                        break;
                }
                size_t len = strlen(rule);
                ssize_t n = write(fd[allow], rule, len);
                if (n < 0 || (size_t)n != len)
                        r = nk_error_set(err, n < 0 ? errno : EIO, "write \"%s\" to `%s`", rule,
                                         path);
        }
        for (int i = 0; i < 2; i++)
                if (fd[i] >= 0)
                        close(fd[i]);
        return r;
}

static int read_device_state(const char *dir, struct nk_cg_dev_state *st, nk_error **err)
{
        _cleanup_free_ char *list = NULL;
        if (nk_cg_read(dir, "devices.list", &list, err) < 0)
                return -1;
        if (nk_cg_dev_state_parse(list, st) < 0)
                return nk_error_set(err, ENOMEM, "parse `%s/devices.list`", dir);
        return 0;
}

/* v1: write only what differs from devices.list (devices_v1.c), so an
 * update never denies a device that stays allowed. If the kernel refuses a
 * rule, the state read before is put back the same way. */
static int devices_v1(struct nk_cgroup *cg, json_t *rules, nk_error **err)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "devices");
        if (!h)
                return nk_error_set(err, ENOTSUP, "no devices hierarchy");
        struct nk_cg_dev_state before = {0}, now = {0};
        char **w = NULL, **back = NULL;
        int r = read_device_state(h->dir, &before, err);
        if (r == 0 && nk_cg_dev_v1_writes(&before, rules, &w) < 0)
                r = nk_error_set(err, ENOMEM, "device rules");
        /* Not from allow-all: its deny exceptions cannot be read back, and
         * putting back allow-all alone would widen. */
        if (r == 0 && (r = write_device_rules(h->dir, w, err)) < 0 && !before.allow_all &&
            read_device_state(h->dir, &now, NULL) == 0 &&
            nk_cg_dev_transition(&now, &before, &back) == 0)
                write_device_rules(h->dir, back, NULL);
        nk_strv_free(w);
        nk_strv_free(back);
        nk_cg_dev_state_clear(&before);
        nk_cg_dev_state_clear(&now);
        return r;
}

static int run_plan(struct nk_cgroup *cg, struct nk_cg_plan *p, bool *skip, struct undo_log *log,
                    nk_error **err)
{
        for (size_t i = 0; i < p->n; i++) {
                if (skip[i])
                        continue;
                if (write_one(cg, p, i, skip, log, err) < 0)
                        return -1;
        }
        if (p->devices_v2) {
                struct nk_cg_hier *h = nk_cg_hier_v2(cg);
                if (!h)
                        return nk_error_set(err, ENOTSUP, "linux.resources.devices: no cgroup v2");
                if (nk_cg_bpf_devices_attach(h->dir, p->devices, err) < 0)
                        return nk_error_wrap(err, "linux.resources.devices");
        } else if (p->devices && devices_v1(cg, p->devices, err) < 0) {
                return nk_error_wrap(err, "linux.resources.devices");
        }
        return 0;
}

int nk_cg_apply(struct nk_cgroup *cg, json_t *res, bool update, nk_error **err)
{
        struct nk_cg_plan p = {0};
        if (nk_cg_plan_build(res, nk_cg_host_where, &cg->host, &p, err) < 0)
                return -1;
        for (char **w = p.warnings; w && *w; w++)
                nk_warn("%s", *w);
        _cleanup_free_ bool *skip = calloc(p.n + 1, sizeof(bool));
        struct undo_log log = {0};
        _cleanup_close_ int rt_lock = -1;
        int r = -1;
        if (!skip) {
                nk_error_set(err, ENOMEM, "apply resources");
                goto out;
        }
        if (precheck(cg, &p, skip, err) < 0 || (update && check_before_update(cg, res, err) < 0) ||
            nk_cg_rt_budget(cg, res, &rt_lock, err) < 0)
                goto out;
        r = run_plan(cg, &p, skip, update ? &log : NULL, err);
        if (r < 0 && update)
                undo_all(&log);
out:
        undo_clear(&log);
        nk_cg_plan_clear(&p);
        return r;
}

int nk_cgroup_update(struct nk_cgroup *cg, json_t *resources, nk_error **err)
{
        if (nk_cg_apply(cg, resources, true, err) < 0)
                return nk_error_wrap(err, "update cgroup %s", cg->path);
        return 0;
}
