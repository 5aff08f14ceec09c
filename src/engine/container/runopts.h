/* nook engine — the options of `nook run` / `nook create` (Docker's flags)
 * and the OCI spec they make with an image's config.
 *
 * Two steps, both without side effects, so both are unit tested:
 *   nk_run_opts_parse()  argv -> struct nk_run_opts (every flag checked:
 *                        a bad value is one line naming the flag and value);
 *   nk_run_spec_build()  opts + image config (+ the rootfs, read through a
 *                        directory fd for /etc/passwd and /etc/group) ->
 *                        the OCI spec (config.json) the runtime library takes.
 * The engine (store, names, monitor) sits on top; it never shells out. */
#pragma once
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum nk_restart {
        NK_RESTART_NO,
        NK_RESTART_ON_FAILURE,
        NK_RESTART_ALWAYS,
        NK_RESTART_UNLESS_STOPPED
};
enum nk_pull_policy { NK_PULL_MISSING, NK_PULL_ALWAYS, NK_PULL_NEVER };

/* -v / --mount / --tmpfs, as given (volumes are resolved by the engine). */
enum nk_mount_kind { NK_MOUNT_BIND, NK_MOUNT_VOLUME, NK_MOUNT_TMPFS };
struct nk_run_mount {
        enum nk_mount_kind kind;
        char *source; /* host path (bind), volume name (NULL: anonymous), NULL (tmpfs) */
        char *target; /* absolute path in the container */
        bool readonly;
        char **options; /* NULL-terminated extra mount options (tmpfs size=, mode=, ...) */
        bool nocopy;    /* volume: no copy-up of the image's content (-v NAME:/p:nocopy) */
};

struct nk_run_opts {
        /* what the engine does */
        char *name; /* --name, NULL = generated */
        bool detach, interactive, tty, rm, init;
        enum nk_restart restart;
        int restart_max; /* on-failure:N, 0 = unlimited */
        enum nk_pull_policy pull;
        char *cidfile;
        char *init_path;      /* --init-path (podman's): the --init binary, NULL = nook's */
        char *stop_signal;    /* NULL = the image's, else SIGTERM */
        int stop_timeout;     /* seconds, -1 = default (10) */
        int64_t log_max_size; /* --log-opt max-size, bytes, 0 = unlimited */
        int log_max_file;     /* --log-opt max-file, default 1 */
        json_t *labels;       /* object, --label k=v */
        /* what the container is */
        char *image;
        char **cmd;       /* NULL-terminated; NULL = the image's Cmd */
        char *entrypoint; /* --entrypoint, NULL = the image's; "" clears it */
        bool entrypoint_set;
        char **env; /* NULL-terminated KEY=VALUE: --env-file's, then -e's */
        char *workdir, *user, *hostname;
        bool read_only, privileged, no_new_privileges;
        struct nk_run_mount *mounts;
        size_t n_mounts;
        char **cap_add, **cap_drop; /* NULL-terminated, "CAP_" prefixed, upper case */
        char *seccomp;              /* --security-opt seccomp=FILE; "unconfined"; NULL = default */
        char **devices;             /* --device HOST[:CONTAINER[:PERMS]] */
        json_t *sysctls;            /* object */
        json_t *rlimits;            /* array of OCI process.rlimits */
        /* resources, -1 = not given; memory_swap may also be NK_RUN_UNLIMITED
         * (--memory-swap -1: no swap limit) */
        int64_t memory, memory_swap, shm_size, cpu_shares, pids_limit;
        int64_t cpu_quota, cpu_period; /* from --cpus */
        char *cpuset_cpus;
        /* user namespace: --userns=host|auto, --uidmap/--gidmap C:H:N */
        char *userns;
        json_t *uid_mappings, *gid_mappings; /* arrays of OCI LinuxIDMapping */
        /* --security-opt seccomp=FILE: the profile document (Docker's or
         * OCI's format), loaded and checked when parsed; resolved for the
         * container's capabilities by nk_run_spec_build. NULL otherwise. */
        json_t *seccomp_profile;
        /* --device, the host node stat'ed when parsed: array of objects
         * {path, type, major, minor, fileMode, uid, gid (OCI linux.devices),
         *  access ("rwm" subset), host (the host path)}. */
        json_t *device_nodes;
        /* networking (the net module, src/net/ctrnet.h, makes it real):
         * --network NAME|bridge|none|host|container:REF (NULL: the default
         * network), --ip/--ip6, --network-alias, --mac-address, -p as
         * given (checked by the net module before anything is made), -P,
         * --add-host HOST:IP, --dns, --dns-search, --dns-option */
        char *network;
        char **ips, **aliases, **publish, **add_hosts, **dns, **dns_search, **dns_options;
        char *mac;
        bool publish_all;
        /* --egress-rate, --ingress-rate (util/rate.h): bits per second the
         * container may send and receive on its networks; 0: no limit */
        uint64_t egress_rate, ingress_rate;
};

/* o->memory_swap for `--memory-swap -1` (unlimited swap); -1 stays "not
 * given" (then Docker's default: as much swap as memory). */
#define NK_RUN_UNLIMITED INT64_MAX

/* Parse run/create's argv (argv[0] is the command name): options, then
 * IMAGE, then the command. Returns 0, or -1 with err naming the flag and
 * value (*o untouched). Reads the --env-file files, nothing else; their
 * entries come before -e's, as in Docker. A bare `-e KEY` stays "KEY"
 * until nk_run_opts_env_from_host() resolves it. */
int nk_run_opts_parse(int argc, char **argv, struct nk_run_opts *o, nk_error **err);
/* Free what o holds and reset it to the defaults (safe to call twice). */
void nk_run_opts_clear(struct nk_run_opts *o);
/* Bare KEY entries of o->env take their value from host_env (the client's
 * environment, passed in: the library reads no environment); a KEY unset
 * there is dropped, as Docker does. */
int nk_run_opts_env_from_host(struct nk_run_opts *o, char *const *host_env, nk_error **err);
/* Docker's container name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most
 * NK_CONTAINER_ID_MAX bytes. */
bool nk_run_name_valid(const char *name);
/* Docker's local volume name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+, at most
 * 255 bytes (so never "/", "." or ".."). */
bool nk_volume_name_valid(const char *name);
/* Docker's size syntax (RAMInBytes): "512m", "1.5g", "100k", "42b", "7":
 * binary units b, k, m, g, t, p, any case. 0 or -1. */
int nk_run_parse_bytes(const char *s, int64_t *out);

/* The OCI spec for a container of image config `image_config` (the image's
 * whole config document, {"config": {Entrypoint, Cmd, Env, WorkingDir,
 * User, StopSignal, Volumes, Labels, ...}}) with root.path = rootfs.
 * rootfs_fd: the container's rootfs (users and groups are looked up in its
 * /etc/passwd and /etc/group, beneath it). Volumes/binds arrive resolved
 * in `mounts` (source = host path). *spec_out: a new reference.
 * o->hostname must be set (Docker's default, the id's first 12
 * characters, is the caller's: this code does not know the id).
 * Left to the caller too: linux.cgroupsPath, the --init binary (prepended
 * to process.args), /etc/hosts, /etc/hostname and /etc/resolv.conf. */
/* What nk_run_spec_build adds for the flags of this file besides the
 * above: --shm-size (the /dev/shm tmpfs size), --ulimit (process.rlimits;
 * -1 = RLIM_INFINITY, written as -1), --cap-add/--cap-drop, --security-opt
 * (seccomp profile, noNewPrivileges), --device (linux.devices plus an
 * allow rule in linux.resources.devices), --sysctl (linux.sysctl),
 * --userns/--uidmap/--gidmap (a user namespace with those mappings; with
 * --userns=auto and no --uidmap the caller must fill o->uid_mappings and
 * o->gid_mappings with a range it allocated, else the build fails).
 *
 * Volumes (engine/container/volume.h): before nk_run_spec_build the
 * engine turns o->mounts (and the image's config Volumes) into host
 * paths with
 *     nk_volume_resolve_mounts(store_root, o->mounts, o->n_mounts,
 *                              image_config, rootfs_fd,
 *                              &mounts, &n, &created, &err);
 * (rootfs_fd: the container's rootfs, for the copy-up of the image's
 * content into empty volumes) and passes `mounts, n` here, then frees
 * them with nk_run_mounts_free(); `created` names the volumes made for
 * this container (record them: `rm -v` and --rm remove the anonymous
 * ones, nk_volume_remove). `nook volume rm/prune` ask the container store
 * which volumes are in use through a nk_volume_in_use_fn: the stub in
 * src/cmd/engine/volume.c (volume_in_use) is where it plugs in. */
/* Docker's user spec ("user[:group]", names or numbers) to ids, names
 * looked up in the rootfs' /etc/passwd and /etc/group (beneath it). */
int nk_run_user_ids(const char *spec, int rootfs_fd, uint32_t *uid, uint32_t *gid, nk_error **err);
int nk_run_spec_build(const struct nk_run_opts *o, const json_t *image_config, const char *rootfs,
                      int rootfs_fd, const struct nk_run_mount *mounts, size_t n_mounts,
                      json_t **spec_out, nk_error **err);

/* Where --init's binary is bound in the container (Docker's place for its
 * own is /sbin/docker-init; /dev is a tmpfs of the container's, so this
 * leaves nothing in the image or the upper dir). */
#define NK_RUN_INIT_DEST "/dev/init"
/* --init: the binary at init_path (host, absolute) bound read-only at
 * NK_RUN_INIT_DEST and prepended to process.args with "--" (the init then
 * runs the command as its child). A missing or non-executable binary is
 * an error naming it; the spec is unchanged then. */
int nk_run_spec_add_init(json_t *spec, const char *init_path, nk_error **err);
