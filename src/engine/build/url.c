/* ADD of a URL: the file fetched with libcurl (http and https only, the
 * build's own network: the caller allows it only with --network host),
 * its sha256 computed while it is written and checked against
 * --checksum when one is given. */
#include "engine/build/build.h"
#include "engine/digest.h"
#include "util/cleanup.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sink {
        int fd;
        struct nk_sha256 h;
        int err; /* errno of a failed write */
};

static size_t write_cb(char *p, size_t size, size_t n, void *data)
{
        struct sink *s = data;
        size_t len = size * n;
        for (size_t done = 0; done < len;) {
                ssize_t w = write(s->fd, p + done, len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        s->err = errno;
                        return 0;
                }
                done += (size_t)w;
        }
        nk_sha256_update(&s->h, p, len);
        return len;
}

int nk_bf_fetch_url(const char *url, int dfd, const char *name, const char *checksum,
                    char digest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        struct sink s = {.fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
        if (s.fd < 0)
                return nk_error_set(err, errno, "ADD %s: create `%s`", url, name);
        _cleanup_close_ int fd = s.fd;
        if (nk_sha256_init(&s.h, err) < 0)
                return -1;
        CURL *c = curl_easy_init();
        if (!c)
                return nk_error_set(err, ENOMEM, "ADD %s", url);
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "nook/" NOOK_VERSION);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        CURLcode rc = curl_easy_perform(c);
        curl_off_t mtime = -1;
        curl_easy_getinfo(c, CURLINFO_FILETIME_T, &mtime);
        curl_easy_cleanup(c);
        if (s.err)
                return nk_error_set(err, s.err, "ADD %s: write `%s`", url, name);
        if (rc != CURLE_OK)
                return nk_error_set(err, 0, "ADD %s: %s", url,
                                    *ebuf ? ebuf : curl_easy_strerror(rc));
        nk_sha256_final(&s.h, digest_out);
        if (checksum && strcmp(checksum, digest_out) != 0)
                return nk_error_set(err, 0, "ADD %s: --checksum=%s, but the file has %s", url,
                                    checksum, digest_out);
        /* Last-Modified when the server says, as Docker does */
        if (mtime >= 0) {
                struct timespec ts[2] = {{.tv_sec = (time_t)mtime}, {.tv_sec = (time_t)mtime}};
                (void)futimens(fd, ts);
        }
        return 0;
}
