/* nook engine — named volumes (Docker's "local" driver) and the mounts of
 * a run resolved to host paths.
 *
 * On disk, under the store root STORE:
 *   STORE/volumes/.lock            flock: LOCK_EX to create, remove, prune
 *                                  or resolve a run's mounts; LOCK_SH to read
 *   STORE/volumes/<name>/_data     what the container sees (a directory)
 *   STORE/volumes/<name>/volume.json  {"name", "created", "labels", "driver"}
 *   STORE/volumes/.tmp-* / .rm-*   a creation or removal under way (or
 *                                  interrupted: swept under the lock)
 * A volume appears whole or not at all: it is built in a .tmp- directory
 * and renamed into place; removal renames it out of the way first. Names
 * follow Docker's rule ([a-zA-Z0-9][a-zA-Z0-9_.-]+), so never "/", "." or
 * "..", and never a staging name. Nothing here follows a symlink planted
 * in a volume directory: a _data that is a symlink is refused when used
 * and unlinked (not followed) when removed.
 *
 * Which volumes a container uses is the container store's knowledge, not
 * this file's: remove and prune take a callback. Uses jansson and
 * src/util only. */
#pragma once
#include "engine/container/runopts.h"
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>

/* Docker's label on the volumes it makes for `-v /path` and the image's
 * Volumes: `volume prune` without --all removes only these. */
#define NK_VOLUME_ANON_LABEL "com.docker.volume.anonymous"

struct nk_volume {
        char *name;
        char *mountpoint; /* STORE/volumes/<name>/_data */
        char *created;    /* RFC 3339, UTC */
        json_t *labels;   /* object */
        bool anonymous;   /* has NK_VOLUME_ANON_LABEL */
};

/* Whether a container uses volume `name` (the engine's container store
 * answers); NULL callback: none is in use. */
typedef bool (*nk_volume_in_use_fn)(const char *name, void *data);

/* Create volume `name` (NULL: a random name of 64 hex digits) with
 * `labels` (object of strings, may be NULL; NK_VOLUME_ANON_LABEL among
 * them makes it anonymous, as the run's -v /path volumes are).
 * An existing volume of that name is not an error (Docker's create is
 * idempotent): *created (may be NULL) tells which. out (may be NULL)
 * receives the volume. */
int nk_volume_create(const char *store, const char *name, const json_t *labels, bool *created,
                     struct nk_volume *out, nk_error **err);
/* One volume; "no such volume: NAME" when absent. */
int nk_volume_inspect(const char *store, const char *name, struct nk_volume *out, nk_error **err);
/* Every volume, sorted by name. */
int nk_volume_list(const char *store, struct nk_volume **out, size_t *n, nk_error **err);
/* Remove a volume and its content; refused while in_use says so. With
 * `missing_ok` an absent volume is not an error. */
int nk_volume_remove(const char *store, const char *name, bool missing_ok,
                     nk_volume_in_use_fn in_use, void *data, nk_error **err);
/* Remove the volumes no container uses that match every filter (see
 * nk_volume_matches); only anonymous ones unless `all` (Docker 23+).
 * *removed (may be NULL): their names. */
int nk_volume_prune(const char *store, bool all, char *const *filters, nk_volume_in_use_fn in_use,
                    void *data, char ***removed, nk_error **err);
/* Docker's volume filters: "name=S" (S a substring of the name; several
 * name filters: any may match), "label=K" or "label=K=V" (all must
 * match), "dangling=true|false" (needs in_use). A filter of another key
 * is an error when checked by nk_volume_filters_check. */
bool nk_volume_matches(const struct nk_volume *v, char *const *filters, nk_volume_in_use_fn in_use,
                       void *data);
int nk_volume_filters_check(char *const *filters, nk_error **err);
void nk_volume_clear(struct nk_volume *v);
void nk_volumes_free(struct nk_volume *v, size_t n);

/* A run's mounts (o->mounts) resolved for nk_run_spec_build, under the
 * volumes lock:
 * - bind: the source must be an absolute path that exists (an error
 *   names it);
 * - volume: a named one is created when missing (Docker's behaviour), an
 *   anonymous one (-v /path) always; the source becomes its _data;
 * - the image's config.Volumes not already a mount target become
 *   anonymous volumes;
 * - an empty volume (a new one, or one `volume create` made) is seeded
 *   with what the image has at the target (Docker's copy-up: files,
 *   directories, symlinks, FIFOs with their modes and owners; no times,
 *   no xattrs; device nodes and sockets skipped), read beneath rootfs_fd
 *   without following its symlinks out, unless the mount says nocopy.
 *   rootfs_fd < 0: no copy-up.
 * *created: the names of the volumes made here (NULL-terminated, may be
 * NULL when none), for the container's record (removed with `rm -v` or
 * --rm when anonymous). On error every volume made here is removed again. */
int nk_volume_resolve_mounts(const char *store, const struct nk_run_mount *in, size_t n_in,
                             const json_t *image_config, int rootfs_fd, struct nk_run_mount **out,
                             size_t *n_out, char ***created, nk_error **err);
void nk_run_mounts_free(struct nk_run_mount *m, size_t n);
