/* `nook pull`: resolve the reference (index -> platform manifest), fetch
 * config and layers (in parallel with curl multi, resuming partial
 * downloads), extract layers on worker threads as they arrive, and commit
 * everything in one store transaction.
 *
 * Downloads go to tmp/<hex>.partial under flock (a second pull of the same
 * blob waits or reuses it), are verified against the digest, and become
 * tmp/<hex>.blob; the transaction moves them into blobs/ at commit. */
#include "engine/pull.h"
#include "engine/auth.h"
#include "engine/layer_blob.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- resolution ------------------------------------------------------- */

static int get_manifest(struct puller *p, const char *ref, struct nk_http_resp *resp,
                        char digest[NK_DIGEST_LEN + 1], nk_error **err)
{
        char path[512];
        snprintf(path, sizeof(path), "/v2/%s/manifests/%s", p->reg.repo, ref);
        if (nk_registry_get(&p->reg, path, NK_MT_ACCEPT, NK_MANIFEST_MAX, resp, err) < 0)
                return -1;
        if (nk_sha256_of(resp->body ? resp->body : "", resp->len, digest, err) < 0)
                return -1;
        if (nk_digest_valid(ref) && !streq(ref, digest))
                return nk_error_set(err, 0, "manifest %s: content hashes to %s", ref, digest);
        return 0;
}

/* An index: pick the platform's manifest and fetch it. */
static int select_platform(struct puller *p, struct nk_http_resp *resp,
                           const struct nk_platform *plat, char digest[NK_DIGEST_LEN + 1],
                           nk_error **err)
{
        struct nk_index ix;
        size_t pick;
        if (nk_index_parse(resp->body, resp->len, resp->content_type, &ix, err) < 0)
                return -1;
        int r = nk_index_select(&ix, plat, &pick, err);
        _cleanup_free_ char *want = r == 0 ? strdup(ix.manifests[pick].digest) : NULL;
        nk_index_clear(&ix);
        if (r < 0)
                return -1;
        nk_http_resp_clear(resp);
        return get_manifest(p, want, resp, digest, err);
}

static int resolve(struct puller *p, const struct nk_ref *ref, const struct nk_platform *plat,
                   nk_error **err)
{
        struct nk_http_resp resp;
        const char *mt;
        int r = get_manifest(p, ref->digest ? ref->digest : ref->tag, &resp, p->mdigest, err);
        _cleanup_jansson_ json_t *doc = r == 0 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        if (r == 0 && !doc)
                r = nk_error_set(err, 0, "manifest: not JSON");
        int kind = r == 0 ? nk_doc_kind(doc, resp.content_type, &mt, err) : -1;
        if (kind == NK_DOC_INDEX)
                kind = select_platform(p, &resp, plat, p->mdigest, err) < 0 ? -1 : NK_DOC_MANIFEST;
        if (kind == NK_DOC_MANIFEST &&
            nk_manifest_parse(resp.body, resp.len, resp.content_type, &p->m, err) == 0 &&
            nk_txn_put_blob(p->t, resp.body, resp.len, p->mdigest, NULL, err) == 0)
                r = 0;
        else
                r = -1;
        nk_http_resp_clear(&resp);
        return r;
}

static int fetch_config(struct puller *p, nk_error **err)
{
        const char *d = p->m.config.digest;
        _cleanup_free_ char *body = NULL;
        size_t len;
        if (!nk_txn_has_blob(p->t, d)) {
                char path[512];
                struct nk_http_resp resp;
                snprintf(path, sizeof(path), "/v2/%s/blobs/%s", p->reg.repo, d);
                if (nk_registry_get(&p->reg, path, NULL, NK_CONFIG_MAX, &resp, err) < 0)
                        return nk_error_wrap(err, "config");
                int r = nk_txn_put_blob(p->t, resp.body ? resp.body : "", resp.len, d, NULL, err);
                nk_http_resp_clear(&resp);
                if (r < 0)
                        return nk_error_wrap(err, "config %s", d);
        }
        if (nk_txn_blob_read(p->t, d, NK_CONFIG_MAX, &body, &len, err) < 0 ||
            nk_config_parse(body, len, &p->c, err) < 0)
                return nk_error_wrap(err, "config %s", d);
        if (p->c.n_diff_ids != p->m.n_layers)
                return nk_error_set(err, 0,
                                    "image has %zu layers but its config lists %zu "
                                    "diff_ids",
                                    p->m.n_layers, p->c.n_diff_ids);
        return 0;
}

static int check_platform(struct puller *p, const struct nk_platform *want, nk_error **err)
{
        const struct nk_platform *have = &p->c.platform;
        if (!p->o->platform || (streq(have->os, want->os) && streq(have->arch, want->arch)))
                return 0;
        return nk_error_set(err, 0, "image is for %s/%s, not the requested %s", have->os,
                            have->arch, p->o->platform);
}

/* Queue what is already here, download the rest. */
static int get_layers(struct puller *p, nk_error **err)
{
        size_t n = p->m.n_layers, want = 0;
        _cleanup_free_ size_t *idx = calloc(n + 1, sizeof(size_t));
        p->q.p = p;
        if (!idx || nk_pull_workq_start(&p->q, p->t, n, err) < 0)
                return nk_error_set(err, ENOMEM, "pull");
        for (size_t i = 0; i < n; i++) {
                char id[16];
                snprintf(id, sizeof(id), "%.12s", nk_digest_hex(p->m.layers[i].digest));
                /* An extracted layer with a tar-split needs no blob (the
                 * store does not keep it); one without (a store from
                 * before) still wants this image's blob for save/push. */
                if (nk_layer_rebuildable(p->s, p->c.diff_ids[i]) ||
                    nk_pull_blob_ready(p, &p->m.layers[i])) {
                        nk_pull_progress(p, NK_PROGRESS_LAYER_DONE, id, 0, 0, "already exists");
                        nk_pull_queue_layer(p, i);
                } else {
                        idx[want++] = i;
                }
        }
        int r = nk_pull_fetch_layers(p, idx, want, err);
        if (nk_pull_workq_finish(&p->q, r < 0 ? NULL : err) < 0 || r < 0)
                return -1;
        return 0;
}

static int pull_run(struct puller *p, const struct nk_ref *ref, const char *key, nk_error **err)
{
        struct nk_platform plat;
        if (p->o->platform ? nk_platform_parse(p->o->platform, &plat, err) < 0
                           : (nk_platform_host(&plat), 0))
                return -1;
        if (resolve(p, ref, &plat, err) < 0 || fetch_config(p, err) < 0 ||
            check_platform(p, &plat, err) < 0)
                return -1;
        char msg[128];
        snprintf(msg, sizeof(msg), "Digest: %s", p->mdigest);
        nk_pull_progress(p, NK_PROGRESS_RESOLVED, NULL, 0, 0, msg);
        if (get_layers(p, err) < 0)
                return -1;
        if (nk_txn_set_name(p->t, key, p->mdigest, p->m.config.digest, err) < 0)
                return -1;
        return nk_txn_commit(p->t, err);
}

int nk_image_pull(struct nk_store *s, const char *refstr, const struct nk_pull_opts *o,
                  char **key_out, nk_error **err)
{
        struct nk_ref ref;
        static const struct nk_pull_opts defaults = {0};
        struct puller p = {
                .s = s, .o = o ? o : &defaults, .progress_mu = PTHREAD_MUTEX_INITIALIZER};
        if (nk_ref_parse(refstr, &ref, err) < 0)
                return -1;
        _cleanup_free_ char *key = nk_ref_key(&ref);
        int r = -1;
        if (!key)
                nk_error_set(err, ENOMEM, "pull");
        else if (nk_registry_open(&p.reg, ref.domain, ref.path, p.o->insecure, p.o->auth_file, NULL,
                                  err) == 0) {
                if (nk_txn_begin(s, &p.t, err) == 0)
                        r = pull_run(&p, &ref, key, err);
                nk_pull_workq_finish(&p.q, NULL);
                if (r < 0 && p.t)
                        nk_txn_note_error(p.t, err ? *err : NULL);
                nk_txn_free(p.t);
                nk_registry_close(&p.reg);
        }
        nk_manifest_clear(&p.m);
        nk_config_clear(&p.c);
        nk_ref_clear(&ref);
        if (r < 0)
                return nk_error_wrap(err, "pull %s", refstr);
        if (key_out)
                *key_out = TAKE_PTR(key);
        return 0;
}

/* ---- login ------------------------------------------------------------- */

int nk_registry_login(const char *registry, const char *user, const char *password,
                      const char *auth_file, bool insecure, nk_error **err)
{
        _cleanup_free_ char *up = NULL, *b64 = NULL;
        if (asprintf(&up, "%s:%s", user, password) < 0 || !(b64 = nk_base64(up, strlen(up))))
                return nk_error_set(err, ENOMEM, "login");
        struct nk_registry reg;
        struct nk_http_resp resp;
        if (nk_registry_open(&reg, registry, NULL, insecure, auth_file, b64, err) < 0)
                return -1;
        int r = nk_registry_get(&reg, "/v2/", "application/json", 1 << 20, &resp, err);
        /* A registry that never challenged did not check the password. */
        if (r == 0 && !reg.authz)
                r = nk_error_set(err, 0, "registry %s does not ask for credentials", registry);
        nk_http_resp_clear(&resp);
        nk_registry_close(&reg);
        if (r < 0)
                return nk_error_wrap(err, "login to %s", registry);
        return nk_auth_store(auth_file, registry, user, password, err);
}

int nk_registry_logout(const char *registry, const char *auth_file, nk_error **err)
{
        return nk_auth_remove(auth_file, registry, err);
}
