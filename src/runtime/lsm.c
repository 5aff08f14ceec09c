/* nook — AppArmor profile and SELinux labels.
 *
 * Both take effect at execve: the init writes the exec attribute of its own
 * thread (what libapparmor's aa_change_onexec and libselinux's setexeccon
 * do). When the LSM is off, a requested label cannot be honoured and
 * nook refuses to start rather than run the container unconfined: runc
 * does the same (SELinux: "selinux label is specified in config, but
 * selinux is disabled"; AppArmor: the write to attr/exec fails). The one
 * exception is the AppArmor profile "unconfined", which asks for nothing. */
#include "security.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

/* -1 unknown, else 0/1; set in the parent before clone so the child, whose
 * /sys may be absent or fresh, inherits the answer. */
static int apparmor_state = -1, selinux_state = -1;

bool nk_apparmor_enabled(void)
{
        if (apparmor_state < 0) {
                _cleanup_free_ char *s = NULL;
                apparmor_state = nk_read_file("/sys/module/apparmor/parameters/enabled", &s, NULL,
                                              NULL) == 0 &&
                                 s[0] == 'Y';
        }
        return apparmor_state;
}

/* selinuxfs is registered only when SELinux is enabled at boot, and
 * /proc/filesystems is the same inside the container. */
bool nk_selinux_enabled(void)
{
        if (selinux_state < 0) {
                _cleanup_free_ char *s = NULL;
                selinux_state = nk_read_file("/proc/filesystems", &s, NULL, NULL) == 0 &&
                                strstr(s, "\tselinuxfs\n") != NULL;
        }
        return selinux_state;
}

static bool wants_apparmor(const struct nk_process *p)
{
        return p->apparmor_profile && p->apparmor_profile[0];
}

static bool wants_selinux(const struct nk_process *p)
{
        return p->selinux_label && p->selinux_label[0];
}

static int check_process(const struct nk_process *p, nk_error **err)
{
        if (wants_apparmor(p) && !nk_apparmor_enabled() &&
            strcmp(p->apparmor_profile, "unconfined"))
                return nk_error_set(err, EOPNOTSUPP,
                                    "process.apparmorProfile: \"%s\" requested "
                                    "but AppArmor is not enabled on this host",
                                    p->apparmor_profile);
        if (wants_selinux(p) && !nk_selinux_enabled())
                return nk_error_set(err, EOPNOTSUPP,
                                    "process.selinuxLabel: \"%s\" requested but "
                                    "SELinux is not enabled on this host",
                                    p->selinux_label);
        return 0;
}

int nk_lsm_check(const struct nk_spec *s, nk_error **err)
{
        if (s->has_process && check_process(&s->process, err) < 0)
                return -1;
        if (s->mount_label && s->mount_label[0] && !nk_selinux_enabled())
                return nk_error_set(err, EOPNOTSUPP,
                                    "linux.mountLabel: \"%s\" requested but "
                                    "SELinux is not enabled on this host",
                                    s->mount_label);
        return 0;
}

/* Write our own thread's attribute: /proc/thread-self, since the LSMs
 * label threads and the init is single-threaded anyway. The file must be
 * procfs's own (nk_proc_open): an image that makes /proc something else
 * (CVE-2019-16884), or a mount over a file below it, would otherwise take
 * the label and leave the process unconfined. */
static int write_attr(const char *path, const char *value, const char *what, nk_error **err)
{
        _cleanup_close_ int fd = nk_proc_open(path + strlen("/proc/"), O_WRONLY, err);
        if (fd < 0)
                return nk_error_wrap(err, "%s", what);
        ssize_t n = write(fd, value, strlen(value));
        if (n != (ssize_t)strlen(value))
                return nk_error_set(err, n < 0 ? errno : EIO, "%s: write `%s` to `%s`", what, value,
                                    path);
        return 0;
}

static int apparmor_exec_child(const char *profile, nk_error **err)
{
        _cleanup_free_ char *cmd = NULL;
        if (asprintf(&cmd, "exec %s", profile) < 0)
                return nk_error_set(err, ENOMEM, "process.apparmorProfile");
        /* The per-LSM directory exists with LSM stacking (Linux 5.1+). */
        const char *path = access("/proc/thread-self/attr/apparmor/exec", F_OK) == 0
                                   ? "/proc/thread-self/attr/apparmor/exec"
                                   : "/proc/thread-self/attr/exec";
        return write_attr(path, cmd, "process.apparmorProfile", err);
}

int nk_lsm_apply_exec_labels_child(const struct nk_process *p, nk_error **err)
{
        if (check_process(p, err) < 0)
                return -1;
        if (wants_apparmor(p) && nk_apparmor_enabled() &&
            apparmor_exec_child(p->apparmor_profile, err) < 0)
                return -1;
        if (wants_selinux(p) && write_attr("/proc/thread-self/attr/exec", p->selinux_label,
                                           "process.selinuxLabel", err) < 0)
                return -1;
        return 0;
}
