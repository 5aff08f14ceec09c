/* nook — runtime state under --root: ROOT/<id>/state.json (atomic write +
 * rename), ROOT/<id>/lock (flock), ROOT/<id>/cgroup (the cgroup path,
 * written before the cgroups are made), ROOT/<id>/exec.sock while
 * `created`. ROOT/<id> is never followed if it is a symlink.
 * The live status is derived, never trusted from the file: the init PID
 * must still be alive with the same start time, the exec socket tells
 * created from running, and a frozen cgroup means paused. */
#pragma once
#include "../util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct nk_state {
        char *id;
        char *bundle;                 /* absolute */
        char *rootfs;                 /* absolute */
        pid_t pid;                    /* container init, host view; 0 when none */
        unsigned long long pid_start; /* /proc/PID/stat starttime, guards PID reuse */
        char *cgroup_path;            /* from nk_cgroup_path_for() */
        char *created;                /* RFC 3339 */
        char *owner;
        json_t *annotations; /* may be NULL */
        json_t *config;      /* copy of config.json as loaded (for delete/hooks/ps) */
        bool systemd_cgroup;
};

enum nk_status {
        NK_STATUS_CREATING,
        NK_STATUS_CREATED,
        NK_STATUS_RUNNING,
        NK_STATUS_PAUSED,
        NK_STATUS_STOPPED
};
const char *nk_status_name(enum nk_status s);

/* ROOT/<id> (caller frees), the id checked by nk_container_id_check. */
int nk_state_dir(const char *root, const char *id, char **out, nk_error **err);
/* ROOT/<id> as an O_PATH directory fd, never through a symlink: ENOENT
 * "does not exist", ELOOP/ENOTDIR when something else stands there. */
int nk_state_dir_open(const char *root, const char *id, nk_error **err);
/* flock(LOCK_EX) ROOT/<id>/lock; returns the fd (close to unlock). The
 * _at forms take ROOT/<id> opened by nk_state_dir_open() (root and id only
 * name it in messages). */
int nk_state_lock_at(int dfd, const char *root, const char *id, nk_error **err);
/* Whether someone (a create, start or delete) holds the lock of the state
 * dir `dfd` right now. */
bool nk_state_lock_busy_at(int dfd);
/* ROOT/<id>/cgroup: the container's cgroup path, written (atomically)
 * before the cgroups are made, so a create killed at any point, or a
 * state.json gone bad, still leaves delete --force the way to them. */
int nk_state_record_cgroup(const char *root, const char *id, const char *cgroup_path,
                           nk_error **err);
/* The path recorded in the state dir `dfd`, or NULL (none, or not usable). */
char *nk_state_recorded_cgroup(int dfd);
int nk_state_save(const char *root, const struct nk_state *s, nk_error **err);
/* ENOENT-style error "container `x` does not exist" when absent. */
int nk_state_load(const char *root, const char *id, struct nk_state **out, nk_error **err);
int nk_state_load_at(int dfd, const char *root, const char *id, struct nk_state **out,
                     nk_error **err);
/* Every container id under root (sorted), whatever stands there: a file
 * or symlink named like an id is listed too. */
int nk_state_list(const char *root, char ***ids, nk_error **err);
/* The live status (see above). */
enum nk_status nk_state_status(const char *root, const struct nk_state *s);
/* Is the init process of this state still the same live process? */
bool nk_state_pid_alive(const struct nk_state *s);
/* A pidfd of that process (checked after opening, so not a reused PID),
 * or -1 with ESRCH "container `x` is not running". */
int nk_state_init_pidfd(const struct nk_state *st, nk_error **err);
/* The OCI state object: ociVersion, id, status, pid, bundle, annotations
 * (+ rootfs, created, owner as runc prints them). */
json_t *nk_state_to_json(const char *root, const struct nk_state *s);
/* The state object for an entry whose state.json can't be used: `status`
 * ("unknown", or "creating" while a create holds the lock), pid 0, and
 * `reason` saying what is wrong. */
json_t *nk_state_unknown_json(const char *id, const char *status, const char *reason);
void nk_state_free(struct nk_state *s);
/* /proc/PID/stat field 22, 0 when the process is gone. */
unsigned long long nk_proc_start_time(pid_t pid);
