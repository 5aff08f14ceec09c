/* OCI mount options by name -> mount(2) flags, propagation, mount_setattr(2)
 * attributes and nook's own switches. The names are the ones runc and crun
 * accept; anything else is fs-specific data passed to the filesystem. */
#include "../util/cleanup.h"
#include "../util/syscalls.h"
#include "spec.h"
#include <sys/mount.h>

enum opt_kind {
        OPT_NOOP,       /* "defaults" */
        OPT_SET,        /* MS_* set */
        OPT_CLR,        /* MS_* cleared */
        OPT_PROP,       /* propagation (last one wins) */
        OPT_ATTR_SET,   /* MOUNT_ATTR_* set recursively */
        OPT_ATTR_CLR,   /* MOUNT_ATTR_* cleared recursively */
        OPT_ATTR_ATIME, /* one value of the MOUNT_ATTR__ATIME field */
        OPT_BIND,
        OPT_RBIND,
        OPT_IDMAP,
        OPT_RIDMAP,
        OPT_TMPCOPYUP,
        OPT_COPY_SYMLINK,
};

struct mount_opt {
        const char *name;
        enum opt_kind kind;
        unsigned long value;
};

static const struct mount_opt mount_opts[] = {
        {"defaults", OPT_NOOP, 0},
        {"ro", OPT_SET, MS_RDONLY},
        {"rw", OPT_CLR, MS_RDONLY},
        {"nosuid", OPT_SET, MS_NOSUID},
        {"suid", OPT_CLR, MS_NOSUID},
        {"nodev", OPT_SET, MS_NODEV},
        {"dev", OPT_CLR, MS_NODEV},
        {"noexec", OPT_SET, MS_NOEXEC},
        {"exec", OPT_CLR, MS_NOEXEC},
        {"sync", OPT_SET, MS_SYNCHRONOUS},
        {"async", OPT_CLR, MS_SYNCHRONOUS},
        {"dirsync", OPT_SET, MS_DIRSYNC},
        {"remount", OPT_SET, MS_REMOUNT},
        {"mand", OPT_SET, MS_MANDLOCK},
        {"nomand", OPT_CLR, MS_MANDLOCK},
        {"noatime", OPT_SET, MS_NOATIME},
        {"atime", OPT_CLR, MS_NOATIME},
        {"nodiratime", OPT_SET, MS_NODIRATIME},
        {"diratime", OPT_CLR, MS_NODIRATIME},
        {"relatime", OPT_SET, MS_RELATIME},
        {"norelatime", OPT_CLR, MS_RELATIME},
        {"strictatime", OPT_SET, MS_STRICTATIME},
        {"nostrictatime", OPT_CLR, MS_STRICTATIME},
        {"lazytime", OPT_SET, MS_LAZYTIME},
        {"nolazytime", OPT_CLR, MS_LAZYTIME},
        {"iversion", OPT_SET, MS_I_VERSION},
        {"noiversion", OPT_CLR, MS_I_VERSION},
        {"silent", OPT_SET, MS_SILENT},
        {"loud", OPT_CLR, MS_SILENT},
        {"nosymfollow", OPT_SET, MS_NOSYMFOLLOW},
        {"symfollow", OPT_CLR, MS_NOSYMFOLLOW},
        {"bind", OPT_BIND, 0},
        {"rbind", OPT_RBIND, 0},
        {"shared", OPT_PROP, MS_SHARED},
        {"rshared", OPT_PROP, MS_SHARED | MS_REC},
        {"private", OPT_PROP, MS_PRIVATE},
        {"rprivate", OPT_PROP, MS_PRIVATE | MS_REC},
        {"slave", OPT_PROP, MS_SLAVE},
        {"rslave", OPT_PROP, MS_SLAVE | MS_REC},
        {"unbindable", OPT_PROP, MS_UNBINDABLE},
        {"runbindable", OPT_PROP, MS_UNBINDABLE | MS_REC},
        {"rro", OPT_ATTR_SET, MOUNT_ATTR_RDONLY},
        {"rrw", OPT_ATTR_CLR, MOUNT_ATTR_RDONLY},
        {"rnosuid", OPT_ATTR_SET, MOUNT_ATTR_NOSUID},
        {"rsuid", OPT_ATTR_CLR, MOUNT_ATTR_NOSUID},
        {"rnodev", OPT_ATTR_SET, MOUNT_ATTR_NODEV},
        {"rdev", OPT_ATTR_CLR, MOUNT_ATTR_NODEV},
        {"rnoexec", OPT_ATTR_SET, MOUNT_ATTR_NOEXEC},
        {"rexec", OPT_ATTR_CLR, MOUNT_ATTR_NOEXEC},
        {"rnodiratime", OPT_ATTR_SET, MOUNT_ATTR_NODIRATIME},
        {"rdiratime", OPT_ATTR_CLR, MOUNT_ATTR_NODIRATIME},
        {"rnosymfollow", OPT_ATTR_SET, MOUNT_ATTR_NOSYMFOLLOW},
        {"rsymfollow", OPT_ATTR_CLR, MOUNT_ATTR_NOSYMFOLLOW},
        /* The access-time mode is one 3-valued field: the kernel wants all of
         * MOUNT_ATTR__ATIME in attr_clr and the new value in attr_set.
         * "atime"/"nostrictatime" mean the kernel default (relatime),
         * "norelatime" means update always (strictatime), as in mount(8). */
        {"rnoatime", OPT_ATTR_ATIME, MOUNT_ATTR_NOATIME},
        {"ratime", OPT_ATTR_ATIME, MOUNT_ATTR_RELATIME},
        {"rrelatime", OPT_ATTR_ATIME, MOUNT_ATTR_RELATIME},
        {"rnorelatime", OPT_ATTR_ATIME, MOUNT_ATTR_STRICTATIME},
        {"rstrictatime", OPT_ATTR_ATIME, MOUNT_ATTR_STRICTATIME},
        {"rnostrictatime", OPT_ATTR_ATIME, MOUNT_ATTR_RELATIME},
        {"idmap", OPT_IDMAP, 0},
        {"ridmap", OPT_RIDMAP, 0},
        {"tmpcopyup", OPT_TMPCOPYUP, 0},
        {"copy-symlink", OPT_COPY_SYMLINK, 0},
};

static const struct mount_opt *mount_opt_find(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(mount_opts); i++)
                if (streq(mount_opts[i].name, name))
                        return &mount_opts[i];
        return NULL;
}

const char *nk_mount_option_name(size_t i)
{
        return i < ARRAY_SIZE(mount_opts) ? mount_opts[i].name : NULL;
}

static void mount_opt_apply(struct nk_mount *m, const struct mount_opt *o)
{
        switch (o->kind) {
        case OPT_NOOP:
                break;
        case OPT_SET:
                m->flags |= o->value;
                m->clear &= ~o->value;
                break;
        case OPT_CLR:
                m->clear |= o->value;
                m->flags &= ~o->value;
                break;
        case OPT_PROP:
                m->propagation = o->value;
                break;
        case OPT_ATTR_SET:
                m->attr_set |= o->value;
                m->attr_clr &= ~(uint64_t)o->value;
                m->recursive_attrs = true;
                break;
        case OPT_ATTR_CLR:
                m->attr_clr |= o->value;
                m->attr_set &= ~(uint64_t)o->value;
                m->recursive_attrs = true;
                break;
        case OPT_ATTR_ATIME:
                m->attr_clr |= MOUNT_ATTR__ATIME;
                m->attr_set = (m->attr_set & ~(uint64_t)MOUNT_ATTR__ATIME) | o->value;
                m->recursive_attrs = true;
                break;
        case OPT_BIND:
                m->bind = true;
                m->flags |= MS_BIND;
                break;
        case OPT_RBIND:
                m->bind = m->rbind = true;
                m->flags |= MS_BIND | MS_REC;
                break;
        case OPT_IDMAP:
                m->idmap = true;
                break;
        case OPT_RIDMAP:
                m->idmap = m->ridmap = true;
                break;
        case OPT_TMPCOPYUP:
                m->tmpcopyup = true;
                break;
        case OPT_COPY_SYMLINK:
                m->copy_symlink = true;
                break;
        }
}

static int data_append(char **data, const char *opt)
{
        char *joined = NULL;
        if (asprintf(&joined, "%s%s%s", *data ? *data : "", *data ? "," : "", opt) < 0)
                return -1;
        free(*data);
        *data = joined;
        return 0;
}

int nk_mount_parse_options(struct nk_mount *m, const char *where, nk_error **err)
{
        struct nk_mount r = *m;
        r.bind = r.rbind = r.idmap = r.ridmap = r.copy_symlink = r.tmpcopyup = false;
        r.recursive_attrs = false;
        r.flags = r.clear = r.propagation = 0;
        r.attr_set = r.attr_clr = 0;
        r.data = NULL;
        _cleanup_free_ char *data = NULL;

        if (r.type && streq(r.type, "bind")) {
                r.bind = true;
                r.flags |= MS_BIND;
        }
        for (size_t i = 0; r.options && r.options[i]; i++) {
                const char *name = r.options[i];
                const struct mount_opt *o = mount_opt_find(name);
                if (o)
                        mount_opt_apply(&r, o);
                else if (!name[0])
                        return nk_error_set(err, 0, "%s.options[%zu]: empty mount option \"\"",
                                            where, i);
                else if (data_append(&data, name) < 0)
                        return nk_error_set(err, ENOMEM, "%s.options[%zu]", where, i);
        }
        free(m->data);
        r.data = TAKE_PTR(data);
        *m = r;
        return 0;
}
