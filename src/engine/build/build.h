/* nook build and nook commit (internal to src/engine): the executor's
 * pieces. The entry points are in engine/engine.h. */
#pragma once
#include "engine/build/containerfile.h"
#include "engine/engine.h"
#include "engine/image.h"
#include <jansson.h>

/* Variables for expansion: the config's Env (KEY=VALUE) first, then the
 * ARGs in scope (an object name -> string or null). */
struct nk_bf_vars {
        json_t *env;  /* array of "K=V" (borrowed), may be NULL */
        json_t *args; /* object (borrowed), may be NULL */
};
const char *nk_bf_vars_lookup(const char *name, void *data);
/* The value of the first n bytes of name in an Env array, or NULL. */
const char *nk_bf_vars_lookup_env(json_t *env, const char *name, size_t n);

/* Apply a config instruction (ENV, WORKDIR, USER, CMD, ENTRYPOINT,
 * EXPOSE, LABEL, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD,
 * MAINTAINER) to an image config document ({"config": {...}, ...}).
 * *cmd_set tracks Docker's rule that ENTRYPOINT clears a CMD not set in
 * the same stage (may be NULL: commit --change). Errors name where. */
int nk_bf_apply_config(json_t *doc, const struct nk_bf_instr *in, char escape,
                       struct nk_bf_vars *vars, bool *cmd_set, nk_error **err);
/* Whether the instruction only changes the config. */
bool nk_bf_is_config(enum nk_bf_kind k);
/* "2026-12-06T10:00:00Z" for a Unix time. */
void nk_bf_time_text(int64_t t, char *buf, size_t size);
/* Make doc's history account for its n_layers layers (one entry without
 * empty_layer per layer, as Docker and buildah expect of a base image);
 * a history that does not is replaced by one entry per layer. */
void nk_bf_history_fit(json_t *doc, size_t n_layers);
/* Append a history entry to doc. */
void nk_bf_history_add(json_t *doc, const char *created, const char *created_by,
                       const char *comment, bool empty_layer);

/* RUN: argv in a container of the layers (top-most last, as in an image
 * config) with the config's env, user and workdir; the changes as a new
 * layer (*got_layer false when it changed nothing). Exit code != 0 is an
 * error naming it. */
/* RUN --mount=type=secret|bind: a file or directory bound read-only at
 * target for one RUN; neither it nor the mount point it needed stays in
 * the layer. */
struct nk_bf_secret {
        char *src;    /* the file on the host */
        char *target; /* absolute, in the container */
        bool exec;    /* a bind of the context (not a secret): no noexec */
};
struct nk_bf_run {
        struct nk_store *s;
        const struct nk_build_opts *o;
        json_t *config;        /* the image config document */
        char **argv;           /* what runs */
        char **extra_env;      /* build args in scope, K=V */
        char *const *diff_ids; /* the rootfs, bottom first */
        size_t n_layers;
        const struct nk_bf_secret *secrets;
        size_t n_secrets;
};
int nk_bf_run_step(const struct nk_bf_run *r, struct nk_new_layer *out, bool *got_layer,
                   nk_error **err);

/* Delete the build containers under root whose build was killed. */
void nk_bf_sweep_containers(struct nk_store *s, const char *root);

/* COPY/ADD: sources (from the context, or another stage's layers) copied
 * into dest within the rootfs of diff_ids; a new layer. */
struct nk_bf_copy {
        struct nk_store *s;
        const struct nk_build_opts *o;
        bool add;            /* ADD: local tars are extracted */
        int src_root;        /* the context dir, or a stage's mounted rootfs */
        bool from_context;   /* .dockerignore applies; owners become 0:0 */
        char **ignore;       /* .dockerignore patterns */
        char **sources;      /* relative to src_root, may hold globs */
        const char *dest;    /* as written (relative: below workdir) */
        const char *workdir; /* the config's WorkingDir, or NULL */
        const char *chown;   /* --chown, or NULL */
        int chmod;           /* --chmod, or -1 */
        char *const *diff_ids;
        size_t n_layers;
        const char *instr; /* for errors: "COPY a b" */
};
/* The content hash of the sources (paths, modes, owners, bytes), for the
 * cache key. */
int nk_bf_copy_hash(const struct nk_bf_copy *c, char out[NK_DIGEST_LEN + 1], nk_error **err);
int nk_bf_copy_step(const struct nk_bf_copy *c, struct nk_new_layer *out, bool *got_layer,
                    nk_error **err);

/* ADD URL: fetch url into dfd/name (mode 0600, the server's mtime);
 * *digest_out is its sha256, which must equal checksum when given. */
int nk_bf_fetch_url(const char *url, int dfd, const char *name, const char *checksum,
                    char digest_out[NK_DIGEST_LEN + 1], nk_error **err);

/* .dockerignore: patterns (comments and blanks dropped, `!` exceptions
 * kept), and whether a relative path is excluded (the last matching
 * pattern decides; a pattern also matches everything below a match). */
int nk_bf_ignore_parse(const char *text, size_t len, char ***out, nk_error **err);
bool nk_bf_ignored(char *const *patterns, const char *path);

/* A staging area in the store's tmp/ with an overlay of the layers on
 * root/ (upper/ and work/ beside it), in the caller's mount namespace. */
struct nk_bf_mount {
        int lock_fd;  /* the staging dir's flock */
        char *dir;    /* absolute path of the staging dir */
        char *root;   /* dir/root, the overlay */
        int root_fd;  /* open on the mounted root */
        int upper_fd; /* dir/upper */
};
int nk_bf_mount(struct nk_store *s, char *const *diff_ids, size_t n, struct nk_bf_mount *m,
                nk_error **err);
/* Unmount and remove the staging dir (safe on a zeroed or failed one). */
void nk_bf_unmount(struct nk_bf_mount *m);
/* Whether the upper dir holds anything. */
bool nk_bf_upper_empty(int upper_fd);
/* The step's layer from m's upper dir (the overlay already unmounted), in
 * a transaction of its own: *got_layer false and nothing made when the
 * step changed no file. */
int nk_bf_step_layer(struct nk_store *s, struct nk_bf_mount *m, int64_t timestamp, bool *got_layer,
                     struct nk_new_layer *out, nk_error **err);
/* The name of an image made without one (build without -t, commit
 * without NAME): "localhost/<12 hex of its id>:latest", so that it can be
 * used (by name or id) and is removed with rmi like any other. */
char *nk_bf_unnamed_key(const char *config_digest);
