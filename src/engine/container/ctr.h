/* nook engine — the container store: STORE/containers/<id>/ (id: 64 hex)
 * holds, besides the rootfs (image.json, upper/, work/, merged/ made by
 * nk_image_rootfs_create; merged/ is empty on the host, the overlay is
 * attached on it only in the container's mount namespace):
 *   config.json     the OCI spec (root.path absolute: the dir is the bundle)
 *   container.json  the engine record (id, name, image, created, command,
 *                   restart policy, labels, log options, ...)
 *   ctr.log         the log, k8s-file format (see docs/engine.md)
 *   monitor         "PID STARTTIME\n" of the monitor while it lives
 *   started         "PID STARTED_NS RESTARTS STARTTIME\n", at each start
 *   paused          present while `nook pause` has it frozen
 *   exit            "CODE FINISHED_NS\n", written atomically at each exit
 *   stopped         present when the user stopped it (no restart)
 *   attach          the monitor's unix socket
 *   restart-policy  "POLICY MAX\n" written by `update --restart` (0 no,
 *                   1 on-failure, 2 always, 3 unless-stopped): the
 *                   monitor's policy from then on, over its argv's
 * Names: STORE/container-names/<name>, a symlink to the id, made and
 * removed under STORE/container-names/.lock. Library code: no printing. */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NK_CTR_ID_LEN 64

/* A fresh random id (64 hex digits + NUL). */
int nk_ctr_new_id(char id[NK_CTR_ID_LEN + 1], nk_error **err);
bool nk_ctr_id_valid(const char *id);
/* STORE/containers/<id> (caller frees), NULL on ENOMEM. */
char *nk_ctr_dir(const char *store, const char *id);
/* Open STORE/containers/<id> as a directory fd (no symlink followed). */
int nk_ctr_dir_open(const char *store, const char *id, nk_error **err);

/* The names lock: flock(LOCK_EX) of STORE/container-names/.lock; close the
 * fd to release it. Creation holds it from the name check until the
 * container's record is written, so a name link whose container has no
 * directory is stale (its creator died) once the lock is ours. */
int nk_ctr_names_lock(const char *store, nk_error **err);
/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 bytes. */
int nk_ctr_name_check(const char *name, nk_error **err);
/* Under the lock: name -> id, or EEXIST "the container name `x` is already
 * in use by container <id>". */
int nk_ctr_name_reserve(const char *store, const char *name, const char *id, nk_error **err);
/* 0 if name is valid and free (under the lock), else the error reserve
 * would give. */
int nk_ctr_name_free(const char *store, const char *name, nk_error **err);
/* Remove the name if it (still) names id; name NULL: every name of id. */
void nk_ctr_name_release(const char *store, const char *name, const char *id);
/* A name made of two words, free right now (under the lock). */
int nk_ctr_name_generate(const char *store, char *out, size_t size, nk_error **err);

/* Full id, name, or unique id prefix -> the full id. ENOENT "no such
 * container: REF"; a prefix matching several is an error naming them. */
int nk_ctr_resolve(const char *store, const char *ref, char id[NK_CTR_ID_LEN + 1], nk_error **err);
/* Every container id (sorted by creation: the directory's mtime order is
 * not kept, so callers sort by the record). Caller frees (strv). */
int nk_ctr_list(const char *store, char ***ids, nk_error **err);

/* The monitor's small text files (no JSON). */
/* sync: fsync before the rename (it must survive a crash). */
int nk_ctr_write_exit(int dfd, int code, int64_t finished_ns, bool sync, nk_error **err);
/* 0 and the values, or -1 (absent or unreadable). */
int nk_ctr_read_exit(int dfd, int *code, int64_t *finished_ns);
/* restart-policy: see above; read -1 when absent or malformed. */
int nk_ctr_write_restart(int dfd, int policy, int max, nk_error **err);
int nk_ctr_read_restart(int dfd, int *policy, int *max);
int nk_ctr_write_started(int dfd, pid_t pid, int64_t started_ns, int restarts, nk_error **err);
/* *pid: the init while that very process lives, else 0. */
int nk_ctr_read_started(int dfd, pid_t *pid, int64_t *started_ns, int *restarts);
int nk_ctr_write_monitor(int dfd, pid_t pid, nk_error **err);
/* The monitor's pid while that very process lives, else 0. */
pid_t nk_ctr_monitor_pid(int dfd);
int64_t nk_ctr_now_ns(void);
/* RFC 3339 with nanoseconds, UTC ("" for 0: Docker's 0001-01-01T00:00:00Z). */
void nk_ctr_time_text(int64_t ns, char *buf, size_t size);

/* The truth about one container, from its files and /proc: the init of
 * its last start and its monitor, each alive with the start time
 * recorded (`root`, the engine's runtime state dir, is not read). */
enum nk_ctr_status {
        NK_CTR_CREATED,
        NK_CTR_RUNNING,
        NK_CTR_PAUSED,
        NK_CTR_RESTARTING,
        NK_CTR_EXITED,
        NK_CTR_REMOVING, /* half-made or half-removed: no record */
};
struct nk_ctr_state {
        enum nk_ctr_status status;
        pid_t pid;     /* the init, 0 when not running */
        pid_t monitor; /* 0 when none lives */
        int exit_code; /* -1: unknown (its monitor died before recording it) */
        int64_t started_ns, finished_ns;
        int restarts;
};
const char *nk_ctr_status_name(enum nk_ctr_status s);
int nk_ctr_state(const char *store, const char *root, const char *id, struct nk_ctr_state *st,
                 nk_error **err);
enum {
        /* the caller read container.json already: not removing */
        NK_CTR_STATE_HAVE_RECORD = 1 << 0,
        /* what ps shows: for a running init, no monitor lookup (st->monitor
         * stays 0) and no exit record read */
        NK_CTR_STATE_BRIEF = 1 << 1,
};
/* The same on the container's directory fd. */
void nk_ctr_state_at(int dfd, unsigned flags, struct nk_ctr_state *st);

/* Drop the record, move the directory aside to STORE/containers/
 * .trash-<id> (no longer a container for anyone) and release its names;
 * *trash_out: what nk_ctr_bury() is left to do. The monitor of a --rm
 * container tells its clients the container is gone in between: the
 * unmount waits on the kernel (an RCU grace period, tens of ms here). */
int nk_ctr_retire(const char *store, const char *id, const char *name, char **trash_out,
                  nk_error **err);
/* Unmount TRASH/merged (an older nook's overlay, if still mounted) and
 * rm -rf TRASH. */
int nk_ctr_bury(const char *trash, nk_error **err);
/* Leftovers of retired containers whose remover died: their runtime
 * state under `root` (NULL: not looked at) deleted, then buried (a live
 * remover doing the same meanwhile is harmless). ps, rm and prune call it. */
void nk_ctr_sweep_trash(const char *store, const char *root);
/* The anonymous volumes made for the container (the text of its
 * `anon-volumes`, one name a line; NULL when none), and their removal
 * (names is cut up; absent ones are fine). */
char *nk_ctr_anon_volumes(int dfd);
void nk_ctr_remove_volumes(const char *store, char *names);
/* nk_ctr_retire and nk_ctr_bury. */
int nk_ctr_remove_dir(const char *store, const char *id, const char *name, nk_error **err);
/* Unmount STORE/containers/<id>/merged (detached); absent or not mounted
 * is fine. */
int nk_ctr_unmount_rootfs(const char *store, const char *id, nk_error **err);
