/* nook — the rootfs plan as data: appending operations, freeing the list,
 * and the MS_* -> MOUNT_ATTR_* translation every planner uses. Pure code,
 * below rootfs.c, mounts.c and devices.c. */
#include "../util/cleanup.h"
#include "../util/syscalls.h"
#include "rootfs_internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

void nk_rplan_clear(struct nk_rplan *plan)
{
        for (size_t i = 0; i < plan->n; i++) {
                struct nk_rop *op = &plan->ops[i];
                free(op->dest);
                free(op->source);
                free(op->fstype);
                free(op->data);
                free(op->fallback);
        }
        free(plan->ops);
        *plan = (struct nk_rplan){0};
}

int nk_rop_strdup(const char *s, char **out)
{
        *out = NULL;
        if (s && !(*out = strdup(s)))
                return -1;
        return 0;
}

struct nk_rop *nk_rplan_add(struct nk_rplan *plan, enum nk_rop_kind kind, const char *dest,
                            const char *source, nk_error **err)
{
        if (plan->n == plan->cap) {
                size_t cap = plan->cap ? plan->cap * 2 : 32;
                struct nk_rop *ops = realloc(plan->ops, cap * sizeof(*ops));
                if (!ops) {
                        nk_error_set(err, ENOMEM, "rootfs plan");
                        return NULL;
                }
                plan->ops = ops;
                plan->cap = cap;
        }
        struct nk_rop *op = &plan->ops[plan->n];
        *op = (struct nk_rop){.kind = kind, .tree = -1};
        if (nk_rop_strdup(dest, &op->dest) < 0 || nk_rop_strdup(source, &op->source) < 0) {
                free(op->dest);
                nk_error_set(err, ENOMEM, "rootfs plan");
                return NULL;
        }
        plan->n++;
        return op;
}

void nk_ms_to_attr(unsigned long set, unsigned long clear, uint64_t *attr_set, uint64_t *attr_clr)
{
        static const struct {
                unsigned long ms;
                uint64_t attr;
        } map[] = {
                {MS_RDONLY, MOUNT_ATTR_RDONLY},         {MS_NOSUID, MOUNT_ATTR_NOSUID},
                {MS_NODEV, MOUNT_ATTR_NODEV},           {MS_NOEXEC, MOUNT_ATTR_NOEXEC},
                {MS_NODIRATIME, MOUNT_ATTR_NODIRATIME}, {MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW},
        };
        uint64_t s = 0, c = 0;
        for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
                if (set & map[i].ms)
                        s |= map[i].attr;
                else if (clear & map[i].ms)
                        c |= map[i].attr;
        }
        /* The atime mode is one value inside MOUNT_ATTR__ATIME: changing it
         * means clearing the whole field (mount_setattr(2)). */
        if (set & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
                c |= MOUNT_ATTR__ATIME;
                s |= (set & MS_NOATIME)       ? MOUNT_ATTR_NOATIME
                     : (set & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME
                                              : MOUNT_ATTR_RELATIME;
        } else if (clear & (MS_NOATIME | MS_RELATIME)) {
                c |= MOUNT_ATTR__ATIME;
                s |= (clear & MS_RELATIME) ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
        }
        *attr_set = s;
        *attr_clr = c;
}
