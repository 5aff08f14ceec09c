/* `nook load`: docker-archive (manifest.json), OCI archive or OCI layout
 * directory (index.json). An archive is read once; its files are kept in
 * a staging directory under <store>/tmp, hashed on the way, and moved into
 * blobs/ only for what the images reference. */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/layer.h"
#include "engine/layer_pipe.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct load_src {
        struct nk_store *s;
        struct nk_txn *t;
        int root; /* layout directory, or the staging directory */
        bool from_dir;
        char tmp_rel[32]; /* staging directory name in tmp/ */
        json_t *files;    /* archive: path -> {n,digest} | {link} */
        uint64_t n_files;
};

/* dir + "/" + rel with `.` and `..` resolved, never above the top. */
static char *join_clean(const char *dir, const char *rel)
{
        _cleanup_free_ char *in = NULL;
        if (asprintf(&in, "%s/%s", rel[0] == '/' ? "" : dir, rel) < 0)
                return NULL;
        char *out = calloc(1, strlen(in) + 1);
        if (!out)
                return NULL;
        size_t len = 0;
        for (char *tok, *save = NULL, *p = in; (tok = strtok_r(p, "/", &save)); p = NULL) {
                if (streq(tok, "."))
                        continue;
                if (streq(tok, "..")) {
                        if (len == 0) {
                                free(out);
                                return NULL;
                        }
                        while (len > 0 && out[len - 1] != '/')
                                len--;
                        len = len > 0 ? len - 1 : 0;
                        out[len] = '\0';
                        continue;
                }
                len += (size_t)sprintf(out + len, "%s%s", len ? "/" : "", tok);
        }
        return out;
}

static int copy_entry(struct load_src *ls, struct archive *a, const char *path, nk_error **err)
{
        char name[32], digest[NK_DIGEST_LEN + 1];
        snprintf(name, sizeof(name), "%llu", (unsigned long long)ls->n_files++);
        _cleanup_close_ int fd =
                openat(ls->root, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        struct nk_sha256 h;
        if (fd < 0)
                return nk_error_set(err, errno, "stage `%s`", path);
        if (nk_sha256_init(&h, err) < 0)
                return -1;
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;
        while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
                nk_sha256_update(&h, buf, size);
                /* A short write (the disk filling up) is retried so the
                 * next call reports why. */
                for (size_t done = 0; done < size;) {
                        ssize_t w = pwrite(fd, (const char *)buf + done, size - done,
                                           off + (off_t)done);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0) {
                                int e = w < 0 ? errno : EIO;
                                nk_sha256_free(&h);
                                return nk_error_set(err, e, "stage `%s`", path);
                        }
                        done += (size_t)w;
                }
        }
        nk_sha256_final(&h, digest);
        if (r != ARCHIVE_EOF)
                return nk_error_set(err, 0, "read `%s`: %s", path, archive_error_string(a));
        json_object_set_new(ls->files, path, json_pack("{s:s,s:s}", "n", name, "digest", digest));
        return 0;
}

static int record_entry(struct load_src *ls, struct archive *a, struct archive_entry *e,
                        nk_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (nk_tar_clean_path(archive_entry_pathname(e), &path, err) < 0)
                return -1;
        const char *hl = archive_entry_hardlink(e), *sl = archive_entry_symlink(e);
        if (hl) {
                _cleanup_free_ char *t = join_clean("", hl);
                return t ? json_object_set_new(ls->files, path, json_pack("{s:s}", "link", t))
                         : nk_error_set(err, 0, "entry `%s`: bad hardlink", path);
        }
        if (archive_entry_filetype(e) == AE_IFLNK && sl) {
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (dir)
                        *(slash ? slash : dir) = '\0';
                _cleanup_free_ char *t = dir ? join_clean(dir, sl) : NULL;
                return t ? json_object_set_new(ls->files, path, json_pack("{s:s}", "link", t))
                         : nk_error_set(err, 0, "entry `%s`: symlink leaves the archive", path);
        }
        if (archive_entry_filetype(e) != AE_IFREG)
                return 0;
        return copy_entry(ls, a, path, err);
}

static int materialise(struct load_src *ls, const char *path, nk_error **err)
{
        struct archive *a = archive_read_new();
        if (!a)
                return nk_error_set(err, ENOMEM, "load");
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_filter_xz(a);
        archive_read_support_filter_bzip2(a);
        int r = 0;
        /* libarchive reads stdin for a NULL name. */
        if (archive_read_open_filename(a, streq(path, "-") ? NULL : path, 128 * 1024) != ARCHIVE_OK)
                r = nk_error_set(err, nk_archive_errno(a), "open `%s`: %s", path,
                                 archive_error_string(a));
        struct archive_entry *e;
        while (r == 0) {
                int h = archive_read_next_header(a, &e);
                if (h == ARCHIVE_EOF)
                        break;
                if (h < ARCHIVE_WARN)
                        r = nk_error_set(err, 0, "read `%s`: %s", path, archive_error_string(a));
                else
                        r = record_entry(ls, a, e, err);
        }
        archive_read_free(a);
        return r;
}

static json_t *lookup(struct load_src *ls, const char *path)
{
        json_t *rec = json_object_get(ls->files, path);
        for (int hops = 0; rec && json_object_get(rec, "link") && hops < 16; hops++)
                rec = json_object_get(ls->files, json_string_value(json_object_get(rec, "link")));
        return rec && json_object_get(rec, "n") ? rec : NULL;
}

static int ls_open(struct load_src *ls, const char *path, nk_error **err)
{
        int fd;
        if (ls->from_dir) {
                struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
                fd = nk_openat2(ls->root, path, &how, sizeof(how));
        } else {
                json_t *rec = lookup(ls, path);
                if (!rec)
                        return nk_error_set(err, 0, "`%s` is not in the archive", path);
                fd = openat(ls->root, json_string_value(json_object_get(rec, "n")),
                            O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        return fd;
}

static bool ls_exists(struct load_src *ls, const char *path)
{
        if (!ls->from_dir)
                return lookup(ls, path) != NULL;
        _cleanup_close_ int fd = ls_open(ls, path, NULL);
        return fd >= 0;
}

static int ls_read(struct load_src *ls, const char *path, size_t max, char **out, size_t *len,
                   nk_error **err)
{
        _cleanup_close_ int fd = ls_open(ls, path, err);
        struct stat st;
        if (fd < 0)
                return -1;
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max)
                return nk_error_set(err, 0, "`%s`: larger than %zu bytes", path, max);
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        return nk_read_file(proc, out, len, err);
}

/* Stage the file at path as a blob; with expected set it must hash to it. */
static int ls_stage(struct load_src *ls, const char *path, const char *expected,
                    char digest[NK_DIGEST_LEN + 1], int64_t *size, nk_error **err)
{
        int fd = ls_open(ls, path, err);
        struct stat st;
        if (fd < 0)
                return -1;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return nk_error_set(err, errno, "stat `%s`", path);
        }
        *size = st.st_size;
        if (ls->from_dir) {
                struct nk_blob_writer w;
                char buf[65536];
                ssize_t n = 0;
                int r = nk_blob_writer_open(ls->t, &w, err);
                while (r == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
                        r = nk_blob_writer_write(&w, buf, (size_t)n, err);
                close(fd);
                if (r < 0 || n < 0) {
                        nk_blob_writer_abort(&w);
                        return nk_error_set(err, errno, "read `%s`", path);
                }
                r = nk_blob_writer_finish(ls->t, &w, expected, digest, err);
                return r < 0 ? nk_error_wrap(err, "`%s`", path) : 0;
        }
        json_t *rec = lookup(ls, path);
        snprintf(digest, NK_DIGEST_LEN + 1, "%s",
                 json_string_value(json_object_get(rec, "digest")));
        if (expected && !streq(expected, digest)) {
                close(fd);
                return nk_error_set(err, 0, "`%s` hashes to %s, expected %s", path, digest,
                                    expected);
        }
        if (nk_txn_has_blob(ls->t, digest)) {
                close(fd);
                return 0;
        }
        char *rel = NULL;
        if (asprintf(&rel, "%s/%s", ls->tmp_rel, json_string_value(json_object_get(rec, "n"))) <
            0) {
                close(fd);
                return nk_error_set(err, ENOMEM, "load");
        }
        return nk_txn_stage_file(ls->t, digest, fd, rel, false, err);
}

static const char *layer_media_type(struct load_src *ls, const char *path)
{
        unsigned char magic[4] = {0};
        _cleanup_close_ int fd = ls_open(ls, path, NULL);
        if (fd >= 0 && read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic)) {
                if (magic[0] == 0x1f && magic[1] == 0x8b)
                        return NK_MT_OCI_LAYER_GZIP;
                if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
                        return NK_MT_OCI_LAYER_ZSTD;
        }
        return NK_MT_OCI_LAYER;
}

static char *tag_key(const char *name, nk_error **err)
{
        struct nk_ref r;
        if (nk_ref_parse(name, &r, err) < 0)
                return NULL;
        char *key = nk_ref_key(&r);
        nk_ref_clear(&r);
        if (!key)
                nk_error_set(err, ENOMEM, "name %s", name);
        return key;
}

/* Name the image: every RepoTag, or the NAME argument. */
static int name_image(struct load_src *ls, json_t *tags, const char *name, const char *manifest,
                      const char *config, char ***names, nk_error **err)
{
        size_t i, count = 0;
        json_t *tag;
        json_array_foreach (tags, i, tag) {
                _cleanup_free_ char *key =
                        json_is_string(tag) ? tag_key(json_string_value(tag), err) : NULL;
                if (!key || nk_txn_set_name(ls->t, key, manifest, config, err) < 0 ||
                    nk_strv_push(names, key) < 0)
                        return nk_error_set(err, 0, "RepoTags[%zu]: invalid", i);
                count++;
        }
        if (name) {
                _cleanup_free_ char *key = tag_key(name, err);
                if (!key || nk_txn_set_name(ls->t, key, manifest, config, err) < 0 ||
                    nk_strv_push(names, key) < 0)
                        return -1;
                count++;
        }
        if (count == 0)
                return nk_error_set(err, 0,
                                    "image %s has no name in the archive: give one "
                                    "(nook load -i FILE NAME)",
                                    config);
        return 0;
}

static int docker_layers(struct load_src *ls, json_t *paths, const struct nk_config *cfg,
                         struct nk_new_layer *layers, nk_error **err)
{
        for (size_t j = 0; j < cfg->n_diff_ids; j++) {
                const char *lp = json_string_value(json_array_get(paths, j));
                struct nk_new_layer *l = &layers[j];
                if (!lp)
                        return nk_error_set(err, 0, "manifest.json: Layers[%zu]: not a path", j);
                if (ls_stage(ls, lp, NULL, l->digest, &l->size, err) < 0)
                        return -1;
                l->media_type = layer_media_type(ls, lp);
                snprintf(l->diff_id, sizeof(l->diff_id), "%s", cfg->diff_ids[j]);
                if (streq(l->media_type, NK_MT_OCI_LAYER) && !streq(l->digest, l->diff_id))
                        return nk_error_set(err, 0,
                                            "layer `%s` hashes to %s, the config says "
                                            "%s",
                                            lp, l->digest, l->diff_id);
        }
        return 0;
}

static int load_docker_one(struct load_src *ls, json_t *ent, const char *name, char ***names,
                           nk_error **err)
{
        const char *cpath = json_string_value(json_object_get(ent, "Config"));
        json_t *paths = json_object_get(ent, "Layers");
        char cdigest[NK_DIGEST_LEN + 1], manifest[NK_DIGEST_LEN + 1];
        int64_t csize;
        _cleanup_free_ char *body = NULL;
        size_t blen;
        struct nk_config cfg;
        if (!cpath || !json_is_array(paths))
                return nk_error_set(err, 0, "manifest.json: Config or Layers missing");
        if (ls_stage(ls, cpath, NULL, cdigest, &csize, err) < 0 ||
            ls_read(ls, cpath, NK_CONFIG_MAX, &body, &blen, err) < 0 ||
            nk_config_parse(body, blen, &cfg, err) < 0)
                return -1;
        int r = -1;
        struct nk_new_layer *layers = calloc(cfg.n_diff_ids + 1, sizeof(*layers));
        if (!layers)
                nk_error_set(err, ENOMEM, "load");
        else if (json_array_size(paths) != cfg.n_diff_ids)
                nk_error_set(err, 0, "manifest.json: %zu Layers but %zu diff_ids in `%s`",
                             json_array_size(paths), cfg.n_diff_ids, cpath);
        else if (docker_layers(ls, paths, &cfg, layers, err) == 0 &&
                 nk_image_build_from(ls->t, cdigest, csize, layers, cfg.n_diff_ids, NULL, manifest,
                                     err) == 0)
                r = name_image(ls, json_object_get(ent, "RepoTags"), name, manifest, cdigest, names,
                               err);
        free(layers);
        nk_config_clear(&cfg);
        return r;
}

static int load_docker(struct load_src *ls, const char *name, char ***names, nk_error **err)
{
        _cleanup_free_ char *body = NULL;
        size_t len;
        if (ls_read(ls, "manifest.json", NK_MANIFEST_MAX, &body, &len, err) < 0)
                return -1;
        json_error_t je;
        _cleanup_jansson_ json_t *m = json_loadb(body, len, 0, &je);
        if (!json_is_array(m))
                return nk_error_set(err, 0, "manifest.json: not a JSON array");
        size_t i;
        json_t *ent;
        json_array_foreach (m, i, ent)
                if (load_docker_one(ls, ent, json_array_size(m) == 1 ? name : NULL, names, err) < 0)
                        return nk_error_wrap(err, "manifest.json[%zu]", i);
        return 0;
}

static char *blob_path(const char *digest)
{
        char *p = NULL;
        if (!nk_digest_valid(digest) || asprintf(&p, "blobs/sha256/%s", nk_digest_hex(digest)) < 0)
                return NULL;
        return p;
}

static int stage_desc(struct load_src *ls, const char *digest, nk_error **err)
{
        _cleanup_free_ char *p = blob_path(digest);
        char got[NK_DIGEST_LEN + 1];
        int64_t size;
        if (!p)
                return nk_error_set(err, 0, "invalid digest `%s`", digest);
        return ls_stage(ls, p, digest, got, &size, err);
}

static int read_desc(struct load_src *ls, const char *digest, size_t max, char **out, size_t *len,
                     nk_error **err)
{
        if (stage_desc(ls, digest, err) < 0)
                return -1;
        return nk_txn_blob_read(ls->t, digest, max, out, len, err);
}

/* The key for an index entry: NAME, containerd's full-name annotation, or
 * a ref.name that is a full reference. */
static char *oci_key(json_t *desc, const char *name, nk_error **err)
{
        json_t *ann = json_object_get(desc, "annotations");
        const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
        const char *ref =
                json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
        if (name)
                return tag_key(name, err);
        if (full)
                return tag_key(full, err);
        if (ref && (strchr(ref, ':') || strchr(ref, '/')))
                return tag_key(ref, err);
        nk_error_set(err, 0,
                     "image has no full name in the layout (ref.name `%s`): give "
                     "one (nook load -i FILE NAME)",
                     ref ? ref : "");
        return NULL;
}

static int oci_image(struct load_src *ls, const char *mdigest, const char *key, char ***names,
                     nk_error **err)
{
        _cleanup_free_ char *mbody = NULL, *cbody = NULL;
        size_t mlen, clen;
        struct nk_manifest m = {0};
        struct nk_config c = {0};
        int r = -1;
        if (read_desc(ls, mdigest, NK_MANIFEST_MAX, &mbody, &mlen, err) < 0 ||
            nk_manifest_parse(mbody, mlen, NULL, &m, err) < 0 ||
            read_desc(ls, m.config.digest, NK_CONFIG_MAX, &cbody, &clen, err) < 0 ||
            nk_config_parse(cbody, clen, &c, err) < 0)
                goto out;
        if (c.n_diff_ids != m.n_layers) {
                nk_error_set(err, 0, "manifest %s: %zu layers, %zu diff_ids", mdigest, m.n_layers,
                             c.n_diff_ids);
                goto out;
        }
        for (size_t i = 0; i < m.n_layers; i++)
                if (stage_desc(ls, m.layers[i].digest, err) < 0 ||
                    nk_txn_layer(ls->t, m.layers[i].digest, c.diff_ids[i], err) < 0)
                        goto out;
        if (nk_txn_set_name(ls->t, key, mdigest, m.config.digest, err) == 0 &&
            nk_strv_push(names, key) == 0)
                r = 0;
out:
        nk_manifest_clear(&m);
        nk_config_clear(&c);
        return r;
}

/* A nested index (multi-platform image): take this machine's platform. */
static int oci_select(struct load_src *ls, const char *digest, char out[NK_DIGEST_LEN + 1],
                      nk_error **err)
{
        _cleanup_free_ char *body = NULL;
        size_t len, pick;
        struct nk_index ix;
        struct nk_platform host;
        nk_platform_host(&host);
        if (read_desc(ls, digest, NK_MANIFEST_MAX, &body, &len, err) < 0 ||
            nk_index_parse(body, len, NULL, &ix, err) < 0)
                return -1;
        int r = nk_index_select(&ix, &host, &pick, err);
        if (r == 0)
                snprintf(out, NK_DIGEST_LEN + 1, "%s", ix.manifests[pick].digest);
        nk_index_clear(&ix);
        return r;
}

static int load_oci(struct load_src *ls, const char *name, char ***names, nk_error **err)
{
        _cleanup_free_ char *body = NULL;
        size_t len, i;
        struct nk_index ix;
        if (ls_read(ls, "index.json", NK_MANIFEST_MAX, &body, &len, err) < 0 ||
            nk_index_parse(body, len, NK_MT_OCI_INDEX, &ix, err) < 0)
                return nk_error_wrap(err, "index.json");
        _cleanup_jansson_ json_t *doc = json_loadb(body, len, 0, NULL);
        json_t *descs = json_object_get(doc, "manifests"), *d;
        int r = 0;
        json_array_foreach (descs, i, d) {
                char mdigest[NK_DIGEST_LEN + 1];
                const char *mt = ix.manifests[i].media_type;
                snprintf(mdigest, sizeof(mdigest), "%s", ix.manifests[i].digest);
                bool nested = streq(mt, NK_MT_OCI_INDEX) || streq(mt, NK_MT_DOCKER_LIST);
                _cleanup_free_ char *key = oci_key(d, ix.n == 1 ? name : NULL, err);
                if (!key || (nested && oci_select(ls, ix.manifests[i].digest, mdigest, err) < 0) ||
                    oci_image(ls, mdigest, key, names, err) < 0) {
                        r = nk_error_wrap(err, "index.json: manifests[%zu]", i);
                        break;
                }
        }
        nk_index_clear(&ix);
        return r;
}

static int load_src_open(struct load_src *ls, const char *path, nk_error **err)
{
        struct stat st;
        bool is_stdin = streq(path, "-");
        if (!is_stdin && stat(path, &st) < 0)
                return nk_error_set(err, errno, "`%s`", path);
        ls->from_dir = !is_stdin && S_ISDIR(st.st_mode);
        if (ls->from_dir) {
                ls->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                return ls->root < 0 ? nk_error_set(err, errno, "open `%s`", path) : 0;
        }
        _cleanup_free_ char *name = NULL;
        ls->root = nk_store_mkstaging(ls->s, "load-", &name, err);
        if (ls->root < 0)
                return -1;
        snprintf(ls->tmp_rel, sizeof(ls->tmp_rel), "%s", name);
        return materialise(ls, path, err);
}

static void load_src_close(struct load_src *ls)
{
        if (ls->tmp_rel[0]) {
                _cleanup_free_ char *dir = NULL;
                nk_error *e = NULL;
                if (asprintf(&dir, "%s/tmp/%s", ls->s->root, ls->tmp_rel) >= 0 &&
                    nk_rm_rf(dir, &e) < 0)
                        nk_error_free(e);
        }
        if (ls->root >= 0)
                close(ls->root); /* after the removal: it holds the staging lock */
        json_decref(ls->files);
}

static int load_run(struct load_src *ls, const char *path, const char *name, char ***names,
                    nk_error **err)
{
        if (load_src_open(ls, path, err) < 0)
                return -1;
        if (ls_exists(ls, "manifest.json"))
                return load_docker(ls, name, names, err);
        if (ls_exists(ls, "index.json"))
                return load_oci(ls, name, names, err);
        return nk_error_set(err, 0,
                            "neither a docker archive (manifest.json) nor an OCI "
                            "layout (index.json)");
}

int nk_image_load(struct nk_store *s, const char *path, const char *name, char ***names_out,
                  nk_error **err)
{
        struct load_src ls = {.s = s, .root = -1, .files = json_object()};
        _cleanup_strv_ char **names = NULL;
        if (!ls.files || nk_txn_begin(s, &ls.t, err) < 0) {
                json_decref(ls.files);
                return nk_error_set(err, ENOMEM, "load");
        }
        int r = load_run(&ls, path, name, &names, err);
        if (r == 0)
                r = nk_txn_commit(ls.t, err);
        nk_txn_free(ls.t);
        load_src_close(&ls);
        if (r < 0)
                return nk_error_wrap(err, "load `%s`", path);
        if (names_out)
                *names_out = TAKE_PTR(names);
        return 0;
}
