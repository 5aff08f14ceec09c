/* nook — container lifecycle (OCI runtime operations). No printing, no exit. */
#pragma once
#include "spec.h"
#include "state.h"
#include <stdbool.h>
#include <sys/types.h>

/* A bundle as runc's create/run take it: BUNDLE/config.json (or crun's
 * --config FILE, read relative to our cwd) and root.path resolved against
 * the bundle directory. The engine skips this step: it builds its spec in
 * memory (nk_spec_from_json) and has a rootfs of its own. */
struct nk_bundle {
        char *dir;            /* absolute */
        char *rootfs;         /* root.path, absolute (resolved by create) */
        struct nk_spec *spec; /* ->bundle = dir: relative bind sources */
};
/* `dir` NULL = the cwd; `config` NULL = DIR/config.json. *out is written
 * only on success; nk_bundle_clear() frees it. */
int nk_bundle_load(const char *dir, const char *config, struct nk_bundle *out, nk_error **err);
void nk_bundle_clear(struct nk_bundle *b);
/* Only the spec of the bundle in `dir` (->bundle set to it): for a caller
 * with a rootfs of its own (the engine's monitor). */
int nk_spec_load(const char *dir, struct nk_spec **out, nk_error **err);

struct nk_create_opts {
        const char *root; /* --root */
        const char *id;
        /* Recorded in the state as the bundle (hooks and `state` show it):
         * an absolute path, the bundle dir or the engine's container dir. */
        const char *bundle;
        const char *pid_file;
        /* process.terminal: where the pty master goes. A --console-socket
         * path to connect to; else, with console_master, the master comes
         * back to the caller (create: in *console_master, the caller's to
         * close; -1 without a terminal; a detached run too); else a
         * foreground run relays it, and create or a detached run refuse. */
        const char *console_socket;
        int *console_master;
        /* A sealed nook-init from nk_self_exe_guard() for the init to hand
         * over to (the caller keeps it), or -1: then nook's own binary must
         * be protected already (nk_seal_self_exe), else create refuses. */
        int init_fd;
        bool no_pivot;
        bool no_new_keyring;
        int preserve_fds; /* fds 3 .. 3+N-1 pass to the container */
        bool systemd_cgroup;
        bool no_cgroup; /* --cgroup-manager disabled: no cgroup at all */
        /* Where built seccomp programs are kept (nk_seccomp_prepare_cached),
         * or NULL: built each time. */
        const char *seccomp_cache;
        /* > 0: the root filesystem as a detached mount (fsmount or
         * open_tree OPEN_TREE_CLONE, close-on-exec; the caller keeps it):
         * the init attaches it on `rootfs` in its new mount namespace, so
         * the caller's mount table never holds it and it goes with that
         * namespace. Needs a new mount namespace. 0: none (`rootfs` is
         * bound on itself as it is). */
        int rootfs_mount_fd;
        /* for run (create ignores them): */
        bool detach;
        bool keep; /* run: don't delete after exit */
};

/* create: the init waits for `start`. `spec` (borrowed, unchanged) is
 * what runs; `rootfs` its root (root.path is not looked at): a path
 * resolved once, here, so the container's root is what it named now. */
int nk_container_create(const struct nk_spec *spec, const char *rootfs,
                        const struct nk_create_opts *o, nk_error **err);
/* Whether the init may exec nook-init at CREATED instead of nook's own
 * code staying in the container until start (see nk_self_exe_guard()). */
bool nk_container_may_hand_over(const struct nk_spec *spec);
/* start: open a locked handle, release the init to exec (through
 * exec.sock in the handle's state dir), run poststart hooks. */
int nk_container_start(const char *root, const char *id, nk_error **err);
/* run: create + start; in the foreground wait for the process, forward
 * signals, relay the terminal, delete (unless keep), and set *exit_code. */
int nk_container_run(const struct nk_spec *spec, const char *rootfs, const struct nk_create_opts *o,
                     int *exit_code, nk_error **err);
/* kill: open a handle, nk_container_signal(), close it. */
int nk_container_kill(const char *root, const char *id, int sig, bool all, nk_error **err);
int nk_container_delete(const char *root, const char *id, bool force, nk_error **err);
/* Parse "KILL", "SIGKILL", "9" -> 9; -1 if unknown. */
int nk_signal_parse(const char *s);

/* A handle on an existing container: ROOT/<id> opened as a directory fd,
 * its lock held when opened with NK_CONTAINER_LOCK (verbs that change the
 * container take it), state.json loaded through that fd, and the cgroup
 * opened by the first verb needing it.
 * A container made with --cgroup-manager disabled has no cgroup: pause,
 * resume, update, pids, stats and watch fail on it with ENOTSUP, saying so. */
struct nk_container;
enum {
        NK_CONTAINER_LOCK = 1 << 0,
        /* Open an entry whose state.json is missing or unusable too (a
         * create or delete cut short, a corrupt file): then
         * nk_container_state() is NULL and nk_container_load_error() says
         * why. list and delete take such a handle. */
        NK_CONTAINER_ANY_STATE = 1 << 1,
};
int nk_container_open(const char *root, const char *id, unsigned flags, struct nk_container **out,
                      nk_error **err);
void nk_container_close(struct nk_container *c);
const struct nk_state *nk_container_state(const struct nk_container *c);
const nk_error *nk_container_load_error(const struct nk_container *c);
/* The OCI state object; for a handle without a usable state.json the
 * object nk_state_unknown_json() makes: status "creating" while a create
 * holds the lock and has not written it yet, else "unknown", and why. */
json_t *nk_container_state_json(const struct nk_container *c);
/* `list`: the state object of every entry under root, sorted by id; an
 * entry without a usable state (or not a directory) as unknown. */
json_t *nk_container_list(const char *root, nk_error **err);
const char *nk_container_root(const struct nk_container *c);
/* ROOT/<id> (O_PATH; owned by the handle). */
int nk_container_dir_fd(const struct nk_container *c);
/* Signal the init (refused when it is gone), or with `all` every process
 * in the cgroup, frozen meanwhile so none escapes the list. */
int nk_container_signal(struct nk_container *c, int sig, bool all, nk_error **err);
/* Freeze / thaw every process; refused unless running / paused. */
int nk_container_pause(struct nk_container *c, nk_error **err);
int nk_container_resume(struct nk_container *c, nk_error **err);
/* Apply a LinuxResources fragment (not modified): merged into the saved
 * resources and checked whole; only the given keys (and the partners the
 * kernel wants written with them) are written; on success the merged
 * resources are saved in the state. Needs a locked handle. */
int nk_container_update(struct nk_container *c, json_t *resources, nk_error **err);
/* The PIDs in the container's cgroup (host view), ascending. Caller frees. */
int nk_container_pids(struct nk_container *c, pid_t **pids, size_t *n, nk_error **err);
/* runc-style stats object (cpu, memory, pids, blkio, hugetlb, ...). */
json_t *nk_container_stats(struct nk_container *c, nk_error **err);
/* Events: a stats object (borrowed) every interval, an OOM kill (data NULL)
 * as it happens. Returns 0 when the container ends (its init exits or its
 * cgroup is removed), -1 with err when the watch cannot run. */
enum nk_event_kind { NK_EVENT_STATS, NK_EVENT_OOM };
typedef void (*nk_event_fn)(enum nk_event_kind kind, json_t *data, void *arg);
int nk_container_watch(struct nk_container *c, long long interval_ms, nk_event_fn fn, void *arg,
                       nk_error **err);
/* dst.section.key = src.section.key for every key of src: objects merge one
 * level deep, anything else is replaced (update's rule, as runc's). */
void nk_resources_merge(json_t *dst, json_t *src);

/* Internal, shared by container.c and child.c. */
struct nk_child_ctx;
