/* nook engine: the image store, for the engine commands and the runtime.
 *
 * Everything here works on a store directory (--store, default
 * /var/lib/nook); see store.h for its layout. Library code: no printing,
 * errors through nk_error. Long operations report progress through a
 * callback so the command layer decides how to show it. */
#pragma once
#include "engine/jsonutil.h"
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nk_store;

/* What the engine takes from the user's environment, handed in by the
 * command layer (src/cmd/engine/common.c reads the variables); the library
 * never calls getenv(). Strings: NULL or "" when unset. */
struct nk_engine_env {
        const char *insecure_registries; /* "host[:port],...": HTTP or unverified TLS allowed */
        uint64_t max_layer_bytes; /* bound on one uncompressed layer; 0: NK_LAYER_MAX_BYTES */
        bool overlay_no_fd;       /* give overlayfs its dirs by path, not fd (test knob) */
        const char *auth_file;    /* REGISTRY_AUTH_FILE */
        const char *home, *xdg_config_home, *xdg_runtime_dir, *docker_config;
};
/* Set once before the engine is used; *env must outlive it (not copied). */
void nk_engine_set_env(const struct nk_engine_env *env);
/* The settings in force (all unset until nk_engine_set_env). */
const struct nk_engine_env *nk_engine_get_env(void);

/* Open the store (created when absent; a new store gets the embedded
 * busybox image). */
int nk_engine_open(const char *root, struct nk_store **out, nk_error **err);
/* The same without making the default image: in nook itself, which has no
 * libarchive (see nk_engine_image_get). */
int nk_engine_open_local(const char *root, struct nk_store **out, nk_error **err);
void nk_engine_close(struct nk_store *s);
/* For `nook run`/`create` (in nook itself) when the image is not in the
 * store or --pull=always: the engine module's part, looked up with dlsym
 * (nk_engine_image_get_fn). Finds ref (making the default busybox image if
 * that is what is missing) unless always, else pulls it (never: refuses);
 * *key_out is the store name (or manifest digest) to find it by. */
int nk_engine_image_get(struct nk_store *s, const char *ref, bool always, bool never,
                        char **key_out, nk_error **err);
typedef int (*nk_engine_image_get_fn)(struct nk_store *s, const char *ref, bool always, bool never,
                                      char **key_out, nk_error **err);
/* The store's directory. */
const char *nk_engine_root(const struct nk_store *s);
static inline void nk_engine_closep(struct nk_store **s)
{
        if (*s)
                nk_engine_close(*s);
}

/* ---- root filesystems (for the runtime) -------------------------------- */

/* Container `id`'s root filesystem: IMAGE's layers read-only under a
 * fresh upper/ and work/ in <store>/containers/<id>/, the overlay as a
 * detached mount (fsmount; attached nowhere: the runtime attaches it in
 * the container's own mount namespace, nk_create_opts.rootfs_mount_fd) in
 * *mnt_out, and the empty directory merged/ made for root.path,
 * *rootfs_out. *lock_out: the container's rootfs lock
 * (nk_image_rootfs_lock), held; NULL: released. Its record (image.json:
 * the layers it uses) is fsynced if `durable`; a --rm container's need
 * not outlive a crash. idmaps (else NULL): {"uidMappings", "gidMappings"}
 * in OCI's form, for a user-namespaced container: its layers are
 * idmapped and upper/ belongs to its root (kept in image.json, so every
 * later overlay of it is made the same way). */
int nk_image_rootfs_create(const char *store, const char *image, const char *id, json_t *idmaps,
                           bool durable, char **rootfs_out, int *mnt_out, int *lock_out,
                           nk_error **err);
/* `nook image mount`: the overlay attached at target (in our namespace). */
int nk_image_rootfs_create_at(const char *store, const char *image, const char *id,
                              const char *target, char **rootfs_out, nk_error **err);
/* Unmount (a mount point's, or an older nook's merged/) and delete the
 * container's upper layer. Absent is fine. */
int nk_image_rootfs_remove(const char *store, const char *id, nk_error **err);
/* The rootfs lock: flock(LOCK_EX) of <store>/containers/<id> (waiting, or
 * EWOULDBLOCK), the fd returned; closing it releases the lock. Whoever
 * makes an overlay of a container's upper holds it from before it looks
 * whether the container runs until the overlay is attached in the
 * container (or closed): overlayfs with index=off lets a second overlay
 * share an upper in use, with undefined results. */
int nk_image_rootfs_lock(const char *store, const char *id, bool wait, nk_error **err);
/* A container's overlay made again from its image.json's layers and its
 * own upper/ and work/, as a detached mount fd (start and restart hand it
 * to the runtime; cp of a stopped container works in it). The caller holds
 * the rootfs lock and knows the container does not run. An older nook's
 * merged/ still mounted on the host is unmounted first. */
int nk_image_rootfs_open(const char *store, const char *id, nk_error **err);
/* `nook image mount/umount`: a rootfs at dir, its id derived from the path. */
int nk_image_mount(const char *store, const char *image, const char *dir, nk_error **err);
int nk_image_umount(const char *store, const char *dir, nk_error **err);

/* ---- listing and metadata ----------------------------------------------- */

struct nk_image_summary {
        char *key;        /* store name: docker.io/library/busybox:latest */
        char *repository; /* familiar: busybox */
        char *tag;        /* "latest", or NULL for a digest reference */
        char *manifest;   /* sha256:... */
        char *id;         /* config digest */
        char *created;    /* RFC 3339 from the config, or NULL */
        int64_t size;     /* bytes of extracted content */
        size_t n_layers;
        size_t containers; /* root filesystems using it */
};
int nk_image_list(struct nk_store *s, struct nk_image_summary **out, size_t *n, nk_error **err);
void nk_image_list_free(struct nk_image_summary *v, size_t n);
/* docker-inspect-like JSON array entry for one image. */
int nk_image_inspect(struct nk_store *s, const char *ref, json_t **out, nk_error **err);
/* `image history`: rows newest first, {ID (newest row only), Created,
 * CreatedBy, Comment, Author, Size (bytes of its extracted layer, 0 for
 * an empty_layer step), EmptyLayer, DiffID}. */
int nk_image_history(struct nk_store *s, const char *ref, json_t **out, nk_error **err);
int nk_image_tag(struct nk_store *s, const char *src, const char *dst, nk_error **err);
/* Remove a name (or, given an id, every name of that image). Refuses while
 * a container uses the image unless NK_RMI_FORCE, and an id with several
 * names unless NK_RMI_FORCE or NK_RMI_ALL_NAMES (Docker's and podman's
 * rule). Frees what nothing uses. */
enum { NK_RMI_FORCE = 1, NK_RMI_ALL_NAMES = 2 };
int nk_image_remove(struct nk_store *s, const char *ref, unsigned flags, char ***removed,
                    nk_error **err);
/* The names nk_image_remove(ref) would remove. */
int nk_image_remove_names(struct nk_store *s, const char *ref, char ***keys, nk_error **err);

struct nk_gc_stats {
        uint64_t blobs, layers, bytes; /* removed */
};
/* Remove unreferenced blobs, layers and staging leftovers; with all, also
 * every image no container uses (but the embedded default image). */
int nk_image_prune(struct nk_store *s, bool all, struct nk_gc_stats *st, char ***removed,
                   nk_error **err);

struct nk_df_row {
        uint64_t total, active, size, reclaimable;
};
struct nk_store_df {
        struct nk_df_row images, containers, layers, blobs;
};
int nk_store_df(struct nk_store *s, struct nk_store_df *df, nk_error **err);

/* ---- getting images ------------------------------------------------------ */

enum nk_progress_kind {
        NK_PROGRESS_RESOLVED,    /* msg: manifest digest */
        NK_PROGRESS_LAYER_START, /* id, total */
        NK_PROGRESS_LAYER_BYTES, /* id, done, total */
        NK_PROGRESS_LAYER_DONE,  /* id (msg "exists" when skipped) */
        NK_PROGRESS_EXTRACT,     /* id */
        NK_PROGRESS_EXTRACTED,   /* id: the layer is ready (from a worker thread,
                                    never while another callback runs) */
        NK_PROGRESS_MESSAGE,     /* msg */
};
struct nk_progress {
        enum nk_progress_kind kind;
        const char *id; /* short digest of a layer */
        uint64_t done, total;
        const char *msg;
};
typedef void (*nk_progress_fn)(const struct nk_progress *p, void *data);

struct nk_pull_opts {
        const char *platform;  /* "os/arch[/variant]", NULL: this machine */
        const char *auth_file; /* NULL: $REGISTRY_AUTH_FILE, nook's, docker's */
        bool insecure;         /* allow HTTP / unverified TLS for this registry */
        int max_parallel;      /* layer downloads at once, 0: default */
        nk_progress_fn progress;
        void *progress_data;
};
/* Pull REF; *key_out (may be NULL) is the store name it was saved under. */
int nk_image_pull(struct nk_store *s, const char *ref, const struct nk_pull_opts *o, char **key_out,
                  nk_error **err);

struct nk_push_opts {
        const char *auth_file; /* as for pull */
        bool insecure;
        uint64_t chunk_size; /* bytes per PATCH, 0: 16 MiB */
        nk_progress_fn progress;
        void *progress_data;
};
/* Push IMAGE (a name, id or digest reference of the store) to dest
 * ("registry/repo[:tag]"; NULL: the name IMAGE was found by). *digest_out
 * (may be NULL) is the manifest digest the registry now holds. */
int nk_image_push(struct nk_store *s, const char *image, const char *dest,
                  const struct nk_push_opts *o, char **digest_out, nk_error **err);

/* `nook load -i`: docker-archive, OCI archive or OCI layout directory.
 * *names_out: the store names created. */
int nk_image_load(struct nk_store *s, const char *path, const char *name, char ***names_out,
                  nk_error **err);
enum nk_save_format { NK_SAVE_DOCKER_ARCHIVE, NK_SAVE_OCI_ARCHIVE };
int nk_image_save(struct nk_store *s, char *const *refs, enum nk_save_format fmt,
                  const char *out_path, nk_error **err);
/* `nook import`: a rootfs tarball (optionally compressed) as a one-layer
 * image named name. path "-" reads stdin. */
int nk_image_import(struct nk_store *s, const char *path, const char *name, char **key_out,
                    nk_error **err);
/* `nook export`: the flattened filesystem of a container (by id) or image,
 * as a tar written to out_fd. */
int nk_image_export(struct nk_store *s, const char *what, int out_fd, nk_error **err);
/* `nook cp` with `-`, in the module for libarchive (nook finds them with
 * dlsym). Out: the tree at dir_fd/name as a tar on out_fd (name NULL:
 * dir_fd's entries), walked by fds with O_NOFOLLOW, links as links. In:
 * the (optionally compressed) tar on in_fd extracted below dest_fd the
 * way a layer is (engine/layer.h: `..` refused, no parent followed
 * through a symlink, hard links only inside), but `.wh.` names are plain
 * files and a `./` entry does not change dest_fd's own owner or mode. */
int nk_engine_cp_tar_out(int dir_fd, const char *name, int out_fd, nk_error **err);
int nk_engine_cp_tar_in(int in_fd, int dest_fd, nk_error **err);
typedef int (*nk_engine_cp_tar_out_fn)(int dir_fd, const char *name, int out_fd, nk_error **err);
typedef int (*nk_engine_cp_tar_in_fn)(int in_fd, int dest_fd, nk_error **err);

/* ---- making images (src/engine/build/) ---------------------------------- */

/* `nook build`: a Containerfile executed against a context directory.
 * RUN steps run as containers of the runtime library in a private mount
 * namespace of the calling process (it unshares one), so no mount
 * outlives it. Progress lines go to `say`, RUN's output to out_fd/err_fd. */
struct nk_build_opts {
        const char *context;   /* directory; NULL: none (Containerfile on stdin) */
        const char *file_text; /* the Containerfile */
        size_t file_len;
        const char *file_name; /* for errors */
        char **tags;           /* names for the result (NULL-terminated), may be NULL */
        char **build_args;     /* K=V */
        const char *target;    /* stage to stop at, NULL: the last */
        bool no_cache;
        json_t *labels; /* object, added to the result's config */
        bool network_host;
        bool pull;                 /* pull every FROM image, even one in the store */
        const char *platform;      /* "os/arch[/variant]" of FROM images, NULL: this machine */
        char **secrets;            /* --secret: "ID=FILE" (absolute), RUN --mount=type=secret */
        int64_t timestamp;         /* -1: now; else created times and mtimes clamped to it */
        const char *root;          /* engine runtime state (NOOK_ROOT) */
        const char *cgroup_parent; /* absolute */
        int out_fd, err_fd;        /* RUN's stdout and stderr */
        void (*say)(const char *line, void *data);
        void *say_data;
};
/* *id_out: the image id (config digest). */
int nk_image_build_file(struct nk_store *s, const struct nk_build_opts *o, char id_out[72],
                        nk_error **err);

/* `nook commit`: a container's changes (its upper dir) as a new layer on
 * its image, config changes in Containerfile syntax, a history entry. */
struct nk_commit_opts {
        const char *id;      /* full container id */
        const char *name;    /* NAME[:TAG], NULL: unnamed */
        const char *message; /* -m */
        const char *author;  /* -a */
        char **changes;      /* -c instructions */
        char **exclude;      /* relative paths of the engine's mount points */
};
int nk_image_commit(struct nk_store *s, const struct nk_commit_opts *o, char id_out[72],
                    nk_error **err);
/* Drop the build cache (`image prune`); the layers go with the next gc. */
int nk_build_cache_clear(struct nk_store *s, nk_error **err);

/* ---- registry credentials ------------------------------------------------ */

/* Check the credentials against the registry, then store them. */
int nk_registry_login(const char *registry, const char *user, const char *password,
                      const char *auth_file, bool insecure, nk_error **err);
int nk_registry_logout(const char *registry, const char *auth_file, nk_error **err);
