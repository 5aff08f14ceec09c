/* nook — /proc/PID/mountinfo lines (proc(5)), the one parser every module
 * uses: the cgroup layout (cgroup/layout.c) and the rootfs code (mounts.c).
 *
 * "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
#pragma once
#include <stdbool.h>

struct nk_mountinfo_entry {
        unsigned id, parent, major, minor;
        char *root, *mountpoint; /* unescaped (\040 -> ' ') */
        char *opts;              /* per-mount options */
        char *fstype, *source, *superopts;
};

/* Parse one line in place. 0, or -1 for a malformed line (any field
 * missing, a number that is not one). */
int nk_mountinfo_parse_line(char *line, struct nk_mountinfo_entry *e);

/* Call fn on every well-formed line of text, in order (the order mounts
 * were attached in the namespace: a later mount at the same point hides an
 * earlier one). Stops at the first non-zero return of fn and returns it;
 * -1 when out of memory; 0 after the last line. */
int nk_mountinfo_foreach(const char *text,
                         int (*fn)(const struct nk_mountinfo_entry *e, void *data), void *data);
