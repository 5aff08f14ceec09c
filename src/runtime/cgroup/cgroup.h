/* nook — container cgroups on pure v1, pure v2 and hybrid hosts.
 *
 * The host layout is detected once per command from /proc/self/mountinfo and
 * statfs. One backend per layout sits behind `struct nk_cgroup_ops` (v1.c,
 * v2.c; hybrid uses v1 for the controllers mounted there and v2 for the
 * unified hierarchy and the controllers it holds).
 *
 * Library code: no printing, no exit; errors through nk_error. */
#pragma once
#include "../../util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

enum nk_cgroup_layout { NK_CGROUP_V1, NK_CGROUP_V2, NK_CGROUP_HYBRID };

struct nk_cgroup;

/* The container's cgroup path relative to every hierarchy root: an absolute
 * linux.cgroupsPath as is, a relative one under nook's own cgroup, or
 * "/nook/<id>" when none is given. Caller frees. */
char *nk_cgroup_path_for(const char *cgroups_path, const char *id);

/* Pure check of linux.resources (no file access): types, ranges, and keys
 * that cannot work on any layout. `where` is the JSON path prefix for error
 * messages ("linux.resources"). NULL resources is valid. */
int nk_cgroup_validate_resources(json_t *resources, const char *where, nk_error **err);

/* Detect the layout and describe the cgroup at `path` (from
 * nk_cgroup_path_for). Touches nothing. */
int nk_cgroup_open(const char *path, struct nk_cgroup **out, nk_error **err);

/* Create the cgroup (and parents) on every hierarchy, refuse if it already
 * holds processes, and apply `resources` (may be NULL). On failure nothing
 * this call created is left behind. */
int nk_cgroup_create(struct nk_cgroup *cg, json_t *resources, nk_error **err);

/* Move `pid` into the cgroup on every hierarchy. */
int nk_cgroup_enter(struct nk_cgroup *cg, pid_t pid, nk_error **err);

/* O_PATH|O_DIRECTORY fd of the cgroup on the unified hierarchy for
 * clone3(CLONE_INTO_CGROUP) when the host is pure v2; -1 otherwise. Owned by
 * cg (do not close). */
int nk_cgroup_v2_fd(struct nk_cgroup *cg);

/* Kill whatever is left (SIGKILL, waiting until empty, bounded) and remove
 * the cgroup directories on every hierarchy. Absent directories are fine. */
int nk_cgroup_destroy(struct nk_cgroup *cg, nk_error **err);

/* The path nk_cgroup_open() was given, cleaned. */
const char *nk_cgroup_path(const struct nk_cgroup *cg);
/* The lines of /proc/self/mountinfo nk_cgroup_open() read the layout from
 * (cgroup and cgroup2 mounts only). */
const char *nk_cgroup_mountinfo(const struct nk_cgroup *cg);

/* For kill --all and ps: the PIDs in the cgroup (host view). */
int nk_cgroup_pids(struct nk_cgroup *cg, pid_t **pids, size_t *n, nk_error **err);

/* Freeze / thaw, waiting until the kernel reports the state reached. */
int nk_cgroup_freeze(struct nk_cgroup *cg, bool frozen, nk_error **err);
/* Is it frozen now? (state "paused") */
bool nk_cgroup_is_frozen(struct nk_cgroup *cg);

/* Apply a LinuxResources object to an existing cgroup (update). A value the
 * kernel rejects leaves the previous limits in place where it can. */
int nk_cgroup_update(struct nk_cgroup *cg, json_t *resources, nk_error **err);

/* runc-style stats object (cpu, memory, pids, blkio, hugetlb, ...). */
json_t *nk_cgroup_stats(struct nk_cgroup *cg, nk_error **err);

/* OOM kills so far (v1 memory.oom_control / v2 memory.events "oom_kill"),
 * -1 when unknown. */
long long nk_cgroup_oom_kills(struct nk_cgroup *cg);
/* A non-blocking fd that polls readable when the memory controller reports
 * an event for the cgroup (v1 eventfd, v2 inotify on memory.events). */
int nk_cgroup_oom_fd(struct nk_cgroup *cg, nk_error **err);
/* After oom_fd polled readable: empty it and return how many OOM events
 * happened since *seen (an oom_kills() value, updated); -1 when the cgroup
 * is gone. May wait up to a second for the kernel's counter. */
int nk_cgroup_oom_events(struct nk_cgroup *cg, int fd, long long *seen);

/* The host as nook sees it: layout and every hierarchy with its version and
 * controllers (for `nook info`). */
json_t *nk_cgroup_host_info(nk_error **err);

void nk_cgroup_free(struct nk_cgroup *cg);

/* ---- the host's hierarchies (layout.c), one parser for every user ---- */
/* One mounted hierarchy as read from mountinfo (also what the rootfs
 * planner mounts in the container: src/runtime/mounts.c). */
struct nk_cg_mount {
        char *mount; /* mount point, e.g. /sys/fs/cgroup/memory */
        char *root;  /* mountinfo root field ("/" normally) */
        bool v2;
        char **controllers; /* v1: from super options, "name=x" kept; v2:
                             * cgroup.controllers of the mount root */
        unsigned dev_major, dev_minor;
};

/* Parse /proc/self/mountinfo text into the cgroup mounts it lists (pure: v2
 * controllers are left empty). One entry per hierarchy: a hierarchy mounted
 * twice is listed once (the first); of mounts stacked on one mount point the
 * last, visible one. */
int nk_cg_parse_mountinfo(const char *text, struct nk_cg_mount **out, size_t *n, nk_error **err);
void nk_cg_mount_clear(struct nk_cg_mount *m);
/* The directory of cgroup `path` (as /proc/self/cgroup names it, relative
 * to the hierarchy's root) through mount m, which shows the subtree at
 * m->root. Caller frees; NULL on ENOMEM. */
char *nk_cg_dir_of(const struct nk_cg_mount *m, const char *path);
/* The hierarchies nk_cgroup_open() found (statfs-checked), for mounting
 * them in the container exactly as the container's cgroup was made. */
const struct nk_cg_mount *nk_cgroup_mounts(const struct nk_cgroup *cg, size_t *n);

/* Fast entry for a new container init (selfenter.c): clone it into the
 * unified hierarchy with clone3(CLONE_INTO_CGROUP) using nk_cgroup_clone_fd()
 * (v2 and hybrid; -1 when there is none, owned by cg), and let it move
 * itself into every v1 hierarchy by calling nk_cgroup_self_enter() on the
 * fds nk_cgroup_self_enter_open() gave the parent. */
int nk_cgroup_clone_fd(struct nk_cgroup *cg);
int nk_cgroup_self_enter_open(struct nk_cgroup *cg, int **fds, size_t *n, nk_error **err);
int nk_cgroup_self_enter(const int *fds, size_t n, nk_error **err);
void nk_cgroup_self_enter_close(int *fds, size_t n);
