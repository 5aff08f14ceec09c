/* nook — the OCI runtime config (config.json, runtime-spec 1.2) as typed
 * structs. nk_spec_parse() (nk_bundle_load() reads the file of a bundle)
 * parses and validates the whole config before anything touches the
 * system; every error names the JSON path and the bad value:
 *   config.json: linux.namespaces[2].type: unknown namespace "foo"
 * Unknown fields are ignored, as the spec requires.
 *
 * linux.resources and linux.seccomp are kept as JSON (owned references) and
 * also validated at load time by their own modules (cgroup, seccomp). */
#pragma once
#include "../util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum nk_ns_type {
        NK_NS_MOUNT,
        NK_NS_PID,
        NK_NS_NET,
        NK_NS_IPC,
        NK_NS_UTS,
        NK_NS_USER,
        NK_NS_CGROUP,
        NK_NS_TIME,
        NK_NS__COUNT,
};
/* OCI name ("mount", "network", ...), /proc/PID/ns name ("mnt", "net"), clone flag. */
const char *nk_ns_oci_name(enum nk_ns_type t);
const char *nk_ns_proc_name(enum nk_ns_type t);
int nk_ns_clone_flag(enum nk_ns_type t);
/* OCI name -> enum nk_ns_type, -1 if unknown. */
int nk_ns_from_oci_name(const char *name);

struct nk_namespace {
        bool present; /* listed in linux.namespaces */
        char *path;   /* join this one (setns) instead of creating; NULL = new */
};

struct nk_idmap {
        uint32_t container_id, host_id, size;
};

struct nk_rlimit {
        int resource; /* RLIMIT_* */
        char *name;   /* "RLIMIT_NOFILE" as written */
        uint64_t soft, hard;
};

enum nk_cap_set {
        NK_CAP_BOUNDING,
        NK_CAP_EFFECTIVE,
        NK_CAP_INHERITABLE,
        NK_CAP_PERMITTED,
        NK_CAP_AMBIENT,
        NK_CAP__COUNT
};

struct nk_user {
        uid_t uid;
        gid_t gid;
        bool has_umask;
        mode_t umask;
        gid_t *additional_gids;
        size_t n_additional_gids;
        char *username;
};

struct nk_process {
        bool terminal;
        unsigned console_height, console_width; /* 0 = not given */
        char *cwd;
        char **env;  /* NULL-terminated */
        char **args; /* NULL-terminated, at least one */
        struct nk_rlimit *rlimits;
        size_t n_rlimits;
        char *apparmor_profile;
        char *selinux_label;
        bool has_caps;                /* process.capabilities given at all */
        uint64_t caps[NK_CAP__COUNT]; /* bit N = capability N */
        bool no_new_privileges;
        bool has_oom_score_adj;
        int oom_score_adj;
        bool has_io_priority;
        int io_priority_class; /* IOPRIO_CLASS_* */
        int io_priority;
        bool has_scheduler;
        int sched_policy; /* SCHED_* */
        int sched_nice, sched_priority;
        uint64_t sched_flags; /* SCHED_FLAG_* */
        uint64_t sched_runtime, sched_deadline, sched_period;
        struct nk_user user;
        char *exec_cpu_affinity_initial, *exec_cpu_affinity_final;
};

/* One OCI mount, with its options already turned into kernel terms. */
struct nk_mount {
        char *destination;
        char *source;                /* may be NULL (e.g. tmpfs with no source) */
        char *type;                  /* may be NULL for bind mounts */
        char **options;              /* as written, NULL-terminated */
        bool bind, rbind;            /* "bind" / "rbind" option or type "bind"; rbind sets both */
        unsigned long flags;         /* MS_* to set (MS_BIND, MS_BIND|MS_REC for bind/rbind) */
        unsigned long clear;         /* MS_* the options clear explicitly (rw, suid, ...) */
        unsigned long propagation;   /* MS_SHARED|MS_PRIVATE|... (| MS_REC), 0 = none */
        uint64_t attr_set, attr_clr; /* MOUNT_ATTR_* for r* options (rro, rnosuid...) */
        bool recursive_attrs;        /* apply attr_set/attr_clr with AT_RECURSIVE */
        bool idmap, ridmap;          /* id-mapped (ridmap: recursively; sets both). Also set
                                      * when uid/gidMappings are given without either option */
        bool copy_symlink;           /* "copy-symlink" (crun) */
        bool tmpcopyup;              /* "tmpcopyup" */
        char *data;                  /* fs-specific options joined with ',' (or NULL) */
        struct nk_idmap *uid_mappings, *gid_mappings;
        size_t n_uid_mappings, n_gid_mappings;
};

struct nk_hook {
        char *path;
        char **args; /* may be NULL */
        char **env;  /* may be NULL */
        int timeout; /* seconds, 0 = none */
};

enum nk_hook_kind {
        NK_HOOK_PRESTART,
        NK_HOOK_CREATE_RUNTIME,
        NK_HOOK_CREATE_CONTAINER,
        NK_HOOK_START_CONTAINER,
        NK_HOOK_POSTSTART,
        NK_HOOK_POSTSTOP,
        NK_HOOK__COUNT
};
const char *nk_hook_kind_name(enum nk_hook_kind k);

struct nk_device {
        char type; /* 'c', 'b', 'u', 'p' */
        char *path;
        int64_t major, minor;
        bool has_mode;
        mode_t file_mode;
        bool has_uid, has_gid;
        uid_t uid;
        gid_t gid;
};

struct nk_sysctl {
        char *key, *value;
};

struct nk_spec {
        json_t *json; /* the whole document (owned) */
        char *oci_version;
        char *bundle;    /* absolute bundle dir (set by the caller), or NULL */
        char *source;    /* where the spec came from, for messages */
        char *root_path; /* root.path as written */
        bool root_readonly;
        char *hostname, *domainname;
        bool has_process;
        struct nk_process process;
        struct nk_mount *mounts;
        size_t n_mounts;
        struct nk_hook *hooks[NK_HOOK__COUNT];
        size_t n_hooks[NK_HOOK__COUNT];
        json_t *annotations; /* borrowed from json, may be NULL */

        /* linux */
        struct nk_namespace ns[NK_NS__COUNT];
        struct nk_idmap *uid_mappings, *gid_mappings;
        size_t n_uid_mappings, n_gid_mappings;
        bool has_time_offsets;
        int64_t monotonic_secs, boottime_secs;
        uint32_t monotonic_nsecs, boottime_nsecs;
        struct nk_device *devices;
        size_t n_devices;
        char *cgroups_path;
        json_t *resources; /* borrowed from json, may be NULL */
        json_t *seccomp;   /* borrowed from json, may be NULL */
        struct nk_sysctl *sysctl;
        size_t n_sysctl;
        unsigned long rootfs_propagation;      /* MS_* or 0 */
        char **masked_paths, **readonly_paths; /* NULL-terminated, may be NULL */
        char *mount_label;
        bool has_personality;
        unsigned long personality;
};

/* Parse and validate. `path` is used in error messages. Integers above
 * INT64_MAX (uint64 fields: rlimits, seccomp args) are kept in ->json as their
 * two's complement int64: read them with (uint64_t)json_integer_value(). */
int nk_spec_parse(const char *text, size_t len, const char *path, struct nk_spec **out,
                  nk_error **err);
/* Parse and validate a spec built in memory (the engine's): the spec
 * holds a reference to `doc` (not copied: leave it unchanged afterwards).
 * `source` names it in messages ("spec" when NULL). */
int nk_spec_from_json(json_t *doc, const char *source, struct nk_spec **out, nk_error **err);
/* Parse a bare OCI "process" object (exec --process FILE). `where` is the JSON
 * path prefix for messages ("process" when NULL, "" for a top-level object).
 * *out is written only on success. */
int nk_process_parse(json_t *obj, const char *where, struct nk_process *out, nk_error **err);
void nk_process_clear(struct nk_process *p);
void nk_spec_free(struct nk_spec *s);

/* Capability and mount option helpers shared with exec and the engine. */
int nk_cap_from_name(const char *name);    /* -1 if unknown */
int nk_rlimit_from_name(const char *name); /* -1 if unknown */
/* Fill ->flags/->clear/->propagation/... of m from m->options. An unknown
 * option becomes part of ->data (it is fs-specific). Returns -1 with err on a
 * malformed option. */
int nk_mount_parse_options(struct nk_mount *m, const char *where, nk_error **err);
/* The i-th option name nk_mount_parse_options() knows (table order), NULL
 * past the end: `features` lists exactly these. */
const char *nk_mount_option_name(size_t i);
/* The default spec `nook spec` writes (runc-compatible), as a JSON object. */
json_t *nk_spec_default(bool rootless);

/* The namespace type a sysctl belongs to; -1 when host-wide, -2 when the
 * name is malformed. */
int nk_spec_sysctl_ns(const char *key);
