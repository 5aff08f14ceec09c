/* nook cgroups — shared between the files of src/runtime/cgroup only.
 *
 * A host is a list of mounted hierarchies. Each hierarchy is v1 (one or more
 * controllers, or a named one such as name=systemd) or the unified v2 one.
 * A container cgroup is the same relative path on every hierarchy. */
#pragma once
#include "cgroup.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define NK_CG_XATTR_PARENT "trusted.nook.parent"

struct nk_cg_host {
        enum nk_cgroup_layout layout;
        struct nk_cg_mount *m;
        size_t n;
        char *mountinfo; /* the cgroup mounts' lines of /proc/self/mountinfo */
};

/* One hierarchy of one container cgroup. */
struct nk_cg_hier {
        const struct nk_cg_mount *mnt; /* borrowed from cg->host */
        char *dir;                     /* mount + path */
        bool created;                  /* this process made the leaf */
        char *top_created;             /* topmost parent made by create(), for rollback */
};

struct nk_cgroup {
        struct nk_cg_host host;
        char *path;
        struct nk_cg_hier *h;
        size_t n;
        int v2_fd;
};

/* ---- layout.c ---- */
/* The layout a set of mounts makes (pure). */
enum nk_cgroup_layout nk_cg_layout_of(const struct nk_cg_mount *m, size_t n);
/* Read mountinfo, check each mount with statfs, read v2 controllers. */
int nk_cg_host_detect(struct nk_cg_host *h, nk_error **err);
void nk_cg_host_clear(struct nk_cg_host *h);
const char *nk_cg_layout_name(enum nk_cgroup_layout l);
/* The mount holding `controller` ("memory", "name=systemd", ...) or NULL. */
const struct nk_cg_mount *nk_cg_host_find(const struct nk_cg_host *h, const char *controller);
const struct nk_cg_mount *nk_cg_host_v2(const struct nk_cg_host *h);

/* ---- path.c ---- */
/* Pure path rule: `own` is nook's own cgroup (for relative paths). Returns
 * NULL with errno EINVAL for a path with "." or ".." components or a bad
 * systemd form. */
char *nk_cg_path_join(const char *own, const char *cgroups_path, const char *id);
/* runc's systemd form "slice:prefix:name" as a path, or NULL (EINVAL). */
char *nk_cg_systemd_path(const char *spec);
bool nk_cg_is_systemd_form(const char *p);
/* From /proc/self/cgroup text: the name=systemd path, else the unified
 * "0::" one when a cgroup2 hierarchy is mounted, else the first v1 line's.
 * Caller frees. */
char *nk_cg_own_path_from(const char *proc_self_cgroup, bool v2_mounted);

/* ---- rt.c ---- */
/* Before linux.resources.cpu.realtimeRuntime is written on v1: raise the
 * cpu.rt_runtime_us of every parent nook made to what the container needs
 * beside its siblings; an error naming the parent when one nook did not
 * make has too little. *lock_fd: a lock the caller holds (and closes) until
 * the container's own values are written, or -1. */
int nk_cg_rt_budget(struct nk_cgroup *cg, json_t *res, int *lock_fd, nk_error **err);

/* ---- files.c ---- */
int nk_cg_write(const char *dir, const char *file, const char *value, nk_error **err);
int nk_cg_read(const char *dir, const char *file, char **out, nk_error **err);
/* Read a file expected to hold one integer ("max" -> -1). */
int nk_cg_read_i64(const char *dir, const char *file, long long *out, nk_error **err);
/* "key value" lines: value of key or -1 when absent. */
long long nk_cg_kv_get(const char *text, const char *key);
bool nk_cg_file_exists(const char *dir, const char *file);
/* PIDs in dir/cgroup.procs and in every descendant, appended. */
int nk_cg_collect_pids(const char *dir, pid_t **pids, size_t *n, nk_error **err);

/* ---- validate.c / plan.c: linux.resources ---- */
struct nk_cg_write {
        bool v2;          /* on the unified hierarchy */
        char *controller; /* where the file lives: "memory", "io", ...;
                           * "" for v2 core files */
        char *file;       /* "memory.max" */
        char *value;
        char *alt_file; /* used when `file` is absent (may be NULL) */
        char *alt_value;
        const char *json_path; /* for messages: "memory.limit" */
        bool optional;         /* absent file: a warning, not an error */
        bool swap_pair;        /* v1 memory limit: if EINVAL, write the next
                                * (memsw) first, then this again */
};
struct nk_cg_plan {
        struct nk_cg_write *w;
        size_t n;
        json_t *devices; /* effective device rules (owned) or NULL */
        bool devices_v2; /* as a BPF program, else a v1 transition
                          * (devices_v1.c) */
        char **warnings; /* NULL-terminated, may be NULL */
};
/* Where each controller lives, for planning. */
enum nk_cg_where { NK_CG_ABSENT = 0, NK_CG_ON_V1, NK_CG_ON_V2 };
typedef enum nk_cg_where (*nk_cg_where_fn)(const char *controller, const void *ctx);
/* Turn linux.resources into ordered file writes for the hierarchies given by
 * `where` (pure). Fails naming the JSON path when a setting needs a
 * controller the host does not have. */
int nk_cg_plan_build(json_t *res, nk_cg_where_fn where, const void *ctx, struct nk_cg_plan *plan,
                     nk_error **err);
void nk_cg_plan_clear(struct nk_cg_plan *plan);
enum nk_cg_where nk_cg_host_where(const char *controller, const void *host);

/* Conversions (docs/cgroups.md). */
unsigned long long nk_cg_shares_to_weight(unsigned long long shares);
unsigned long long nk_cg_weight_to_shares(unsigned long long weight);
unsigned long long nk_cg_blkio_to_io_weight(unsigned long long w);
/* v2 memory.swap.max from OCI (v1 memory+swap) values; -1 = "max". Returns
 * -2 when swap < limit (invalid). */
long long nk_cg_swap_v2(long long limit, long long swap);
/* "2MB" / "2M" / "2048KB" -> bytes; -1 if not a size. */
int nk_cg_page_size(const char *s, unsigned long long *bytes);
/* bytes -> the name hugetlb files use ("64KB", "2MB", "1GB"). */
void nk_cg_page_name(unsigned long long bytes, char *buf, size_t len);
/* linux.resources.devices with the default devices every container gets
 * (null, zero, full, random, urandom, tty, ptmx, pts, mknod) inserted after
 * the last rule that denies everything, so a later rule can still take one
 * away. New reference. */
json_t *nk_cg_devices_effective(json_t *devices);

/* ---- devices_v1.c: v1 devices.allow/deny as a transition ---- */
struct nk_cg_dev_ex {
        char type;              /* 'b' or 'c' */
        long long major, minor; /* -1 = any */
        unsigned acc;           /* 1 r, 2 w, 4 m */
};
struct nk_cg_dev_state {
        bool allow_all; /* default; exceptions then deny (and are
                         * not readable from devices.list) */
        struct nk_cg_dev_ex *ex;
        size_t n;
};
/* devices.list text -> state. */
int nk_cg_dev_state_parse(const char *list, struct nk_cg_dev_state *st);
void nk_cg_dev_state_clear(struct nk_cg_dev_state *st);
/* Writes ("allow c 1:5 rw", "deny b 8:* m": file suffix, then the value)
 * taking a cgroup in state `cur` to `want`; a device allowed in both is
 * never denied in between when both are deny-all. */
int nk_cg_dev_transition(const struct nk_cg_dev_state *cur, const struct nk_cg_dev_state *want,
                         char ***out);
/* The same for the state an effective rule list leads to from `cur`. *out
 * may be NULL (nothing to write). */
int nk_cg_dev_v1_writes(const struct nk_cg_dev_state *cur, json_t *rules, char ***out);

/* ---- bpf.c: v2 device control ---- */
int nk_cg_bpf_devices_attach(const char *dir, json_t *devices, nk_error **err);
/* Build the instruction list (pure, for tests). Returns the number of
 * instructions or -1. */
struct bpf_insn;
int nk_cg_bpf_devices_prog(json_t *devices, struct bpf_insn **out, size_t *n, nk_error **err);

/* ---- apply.c ---- */
int nk_cg_apply(struct nk_cgroup *cg, json_t *res, bool update, nk_error **err);
/* Hierarchy of cg holding `controller` (v1 name or v2 controller), NULL if none. */
struct nk_cg_hier *nk_cg_hier_for(struct nk_cgroup *cg, const char *controller);
struct nk_cg_hier *nk_cg_hier_v2(struct nk_cgroup *cg);

/* ---- v1.c / v2.c: what differs between the two kinds of hierarchy ---- */
struct nk_cg_ops {
        /* Before making a child under `parent` (v2: enable the controllers
         * it offers in its subtree_control). */
        int (*before_child)(const char *parent, nk_error **err);
        /* After `dir` exists (v1 cpuset: copy cpus/mems from the parent;
         * made_parent: a parent level this create just made). */
        int (*init_dir)(const struct nk_cg_mount *m, const char *dir, bool made_parent,
                        nk_error **err);
        int (*freeze)(const char *dir, bool frozen, nk_error **err);
        /* 1 frozen, 0 not, -1 unknown */
        int (*is_frozen)(const char *dir);
        /* Kill everything below dir in one go where the kernel can (v2
         * cgroup.kill); 1 when done, 0 when the caller must kill by pid. */
        int (*kill_all)(const char *dir, nk_error **err);
};
extern const struct nk_cg_ops nk_cg_v1_ops, nk_cg_v2_ops;
static inline const struct nk_cg_ops *nk_cg_ops_of(const struct nk_cg_mount *m)
{
        return m->v2 ? &nk_cg_v2_ops : &nk_cg_v1_ops;
}
/* Poll `done(dir)` until it returns > 0, sleeping 1ms..50ms, at most
 * `timeout_ms`. Returns 0 when done, -1 on timeout. */
int nk_cg_wait(const char *dir, int (*done)(const char *dir, const void *arg), const void *arg,
               int timeout_ms);
