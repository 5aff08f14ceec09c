/* libFuzzer target: layer tarball bytes (possibly compressed) ->
 * nk_layer_extract into a fresh directory. Any input must extract or fail
 * with one error, and never create anything beside that directory. The
 * tar-split is recorded on the way: when it says it is usable, replaying
 * it against the extracted files must give the stream's own digest. */
#include "engine/digest.h"
#include "engine/layer.h"
#include "engine/tarsplit.h"
#include "util/fs.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static size_t entries_in(const char *dir)
{
        size_t n = 0;
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                n++;
        if (d)
                closedir(d);
        return n;
}

static int sink_none(const void *buf, size_t len, void *data, nk_error **err)
{
        (void)buf, (void)len, (void)data, (void)err;
        return 0;
}

/* libFuzzer ends a timed run with exit(): the directory goes with it. */
static void remove_base(void)
{
        nk_error *err = NULL;
        if (nk_rm_rf(base, &err) < 0)
                nk_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!base[0]) {
                snprintf(base, sizeof(base), "/tmp/nook-fuzz-tar-XXXXXX");
                if (!mkdtemp(base) || atexit(remove_base) != 0)
                        abort();
        }
        char dest[128], diff[160];
        snprintf(dest, sizeof(dest), "%s/layer", base);
        snprintf(diff, sizeof(diff), "%s/diff", dest);
        if (mkdir(dest, 0755) < 0 || mkdir(diff, 0755) < 0)
                abort();
        int in = memfd_create("layer", MFD_CLOEXEC);
        if (in < 0 || write(in, data, size) != (ssize_t)size || lseek(in, 0, SEEK_SET) < 0)
                abort();
        int lfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int dfd = open(diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct nk_layer_limits lim = {.max_bytes = 64 << 20};
        struct nk_layer_stats st;
        struct nk_split_rec *rec = NULL;
        nk_error *err = NULL;
        if (nk_split_rec_open(lfd, &rec, NULL) < 0)
                abort();
        if (nk_layer_extract_rec(in, dfd, NULL, &lim, rec, &st, &err) < 0) {
                if (!err || !err->msg || strchr(err->msg, '\n'))
                        __builtin_trap();
                nk_error_free(err);
                nk_split_rec_abort(rec, lfd);
        } else {
                bool usable = false;
                if (nk_split_rec_finish(rec, lfd, &usable, NULL) < 0)
                        abort();
                if (usable && nk_split_assemble(lfd, st.diff_id, sink_none, NULL, NULL) < 0)
                        __builtin_trap(); /* the record does not give the tar back */
        }
        close(dfd);
        close(lfd);
        close(in);
        /* base holds only "layer", and layer only diff and the record (plus
         * . and ..): nothing escaped. */
        if (entries_in(base) != 3 || entries_in(dest) > 4)
                __builtin_trap();
        if (nk_rm_rf(dest, &err) < 0)
                abort();
        return 0;
}
