#include "engine/registry.h"
#include "engine/auth.h"
#include "engine/engine.h"
#include "engine/jsonutil.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

void nk_http_resp_clear(struct nk_http_resp *r)
{
        free(r->body);
        free(r->content_type);
        free(r->digest);
        free(r->www_auth);
        free(r->location);
        memset(r, 0, sizeof(*r));
}

static bool is_loopback(const char *domain)
{
        char host[256];
        if (domain[0] == '[') {
                size_t n = strcspn(domain, "]");
                snprintf(host, sizeof(host), "%.*s", (int)(n - 1), domain + 1);
        } else {
                snprintf(host, sizeof(host), "%.*s", (int)strcspn(domain, ":"), domain);
        }
        return streq(host, "localhost") || streq(host, "::1") || strncmp(host, "127.", 4) == 0;
}

/* insecure_registries (NOOK_INSECURE_REGISTRIES): comma-separated
 * registries (host[:port]) that may use HTTP or unverified TLS. */
static bool configured_insecure(const char *domain)
{
        const char *list = nk_engine_get_env()->insecure_registries;
        size_t n = strlen(domain);
        for (const char *p = list; p && *p;) {
                size_t len = strcspn(p, ", ");
                if (len == n && strncmp(p, domain, n) == 0)
                        return true;
                p += len;
                p += strspn(p, ", ");
        }
        return false;
}

int nk_registry_open(struct nk_registry *r, const char *domain, const char *repo, bool insecure,
                     const char *auth_file, const char *basic, nk_error **err)
{
        pthread_once(&curl_once, curl_init_once);
        memset(r, 0, sizeof(*r));
        r->domain = strdup(domain);
        r->host = strdup(nk_ref_registry_host(domain));
        r->repo = repo ? strdup(repo) : NULL;
        r->insecure = insecure || is_loopback(domain) || configured_insecure(domain);
        if (!r->domain || !r->host || (repo && !r->repo)) {
                nk_registry_close(r);
                return nk_error_set(err, ENOMEM, "registry %s", domain);
        }
        if (basic)
                r->basic = strdup(basic);
        else if (nk_auth_lookup(auth_file, domain, &r->basic, err) < 0) {
                nk_registry_close(r);
                return -1;
        }
        return 0;
}

void nk_registry_close(struct nk_registry *r)
{
        free(r->domain);
        free(r->host);
        free(r->repo);
        free(r->base);
        free(r->basic);
        free(r->authz);
        memset(r, 0, sizeof(*r));
}

struct sink {
        struct nk_http_resp *resp;
        size_t max;
        bool too_big;
};

static size_t body_cb(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;
        if (s->resp->len + n > s->max) {
                s->too_big = true;
                return 0;
        }
        char *nb = realloc(s->resp->body, s->resp->len + n + 1);
        if (!nb)
                return 0;
        memcpy(nb + s->resp->len, data, n);
        s->resp->len += n;
        nb[s->resp->len] = '\0';
        s->resp->body = nb;
        return n;
}

static void set_header_field(char **slot, const char *val, size_t n)
{
        while (n > 0 && (val[n - 1] == '\r' || val[n - 1] == '\n' || val[n - 1] == ' '))
                n--;
        free(*slot);
        *slot = strndup(val, n);
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
        struct nk_http_resp *resp = ud;
        size_t n = size * nmemb;
        static const struct {
                const char *name;
                size_t off;
        } fields[] = {
                {"content-type:", offsetof(struct nk_http_resp, content_type)},
                {"docker-content-digest:", offsetof(struct nk_http_resp, digest)},
                {"www-authenticate:", offsetof(struct nk_http_resp, www_auth)},
                {"location:", offsetof(struct nk_http_resp, location)},
        };
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                size_t fl = strlen(fields[i].name);
                if (n > fl && strncasecmp(data, fields[i].name, fl) == 0) {
                        const char *v = data + fl;
                        while (*v == ' ')
                                v++;
                        set_header_field((char **)((char *)resp + fields[i].off), v,
                                         n - (size_t)(v - data));
                }
        }
        return n;
}

static void common_opts(struct nk_registry *r, CURL *c)
{
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        /* A stalled transfer (no byte in 60 s) fails instead of hanging. */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "nook/" NOOK_VERSION);
        if (r->insecure) {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
}

static struct curl_slist *auth_headers(struct nk_registry *r, const char *accept)
{
        struct curl_slist *h = NULL;
        char line[1024];
        if (accept) {
                snprintf(line, sizeof(line), "Accept: %s", accept);
                h = curl_slist_append(h, line);
        }
        if (r->authz)
                h = curl_slist_append(h, r->authz);
        return h;
}

/* One GET of url; curl-level failures return the CURLcode (> 0). */
static int get_once(struct nk_registry *r, const char *url, const char *accept, size_t max,
                    struct nk_http_resp *resp, nk_error **err)
{
        CURL *c = curl_easy_init();
        if (!c)
                return nk_error_set(err, ENOMEM, "curl");
        struct sink s = {resp, max, false};
        struct curl_slist *h = auth_headers(r, accept);
        char ebuf[CURL_ERROR_SIZE] = "";
        common_opts(r, c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        CURLcode cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (s.too_big)
                return nk_error_set(err, 0, "GET %s: response larger than %zu bytes", url, max);
        if (cc != CURLE_OK) {
                nk_error_set(err, 0, "GET %s: %s", url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
                return (int)cc;
        }
        return 0;
}

/* The first request decides the scheme: HTTPS, or HTTP when HTTPS fails
 * at the connection level and the registry may be insecure. */
static int get_url(struct nk_registry *r, const char *path, const char *accept, size_t max,
                   struct nk_http_resp *resp, nk_error **err)
{
        static const char *const schemes[] = {"https", "http"};
        for (size_t i = 0; i < (r->base ? 1 : r->insecure ? 2 : 1); i++) {
                _cleanup_free_ char *base = NULL, *url = NULL;
                if (r->base ? !(base = strdup(r->base))
                            : asprintf(&base, "%s://%s", schemes[i], r->host) < 0)
                        return nk_error_set(err, ENOMEM, "registry");
                if (asprintf(&url, "%s%s", base, path) < 0)
                        return nk_error_set(err, ENOMEM, "registry");
                nk_http_resp_clear(resp);
                nk_error *e = NULL;
                int cc = get_once(r, url, accept, max, resp, &e);
                if (cc == 0) {
                        if (!r->base)
                                r->base = TAKE_PTR(base);
                        return 0;
                }
                bool retry = cc > 0 && !r->base && r->insecure && i == 0;
                if (!retry) {
                        return nk_error_pass(err, e);
                }
                nk_debug("%s: trying plain HTTP", e->msg);
                nk_error_free(e);
        }
        return nk_error_set(err, 0, "registry %s: no usable scheme", r->host);
}

char *nk_registry_error_text(const char *body, size_t len)
{
        _cleanup_jansson_ json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *e0 = json_array_get(json_object_get(doc, "errors"), 0);
        const char *code = json_string_value(json_object_get(e0, "code"));
        const char *msg = json_string_value(json_object_get(e0, "message"));
        char *s = NULL;
        if (code && asprintf(&s, "%s%s%s", code, msg ? ": " : "", msg ? msg : "") < 0)
                return NULL;
        return s;
}

static int status_error(struct nk_registry *r, const char *path, struct nk_http_resp *resp,
                        nk_error **err)
{
        _cleanup_free_ char *text = nk_registry_error_text(resp->body, resp->len);
        return nk_error_set(err, 0, "GET %s%s: HTTP %ld%s%s", r->base ? r->base : r->host, path,
                            resp->status, text ? ": " : "", text ? text : "");
}

int nk_registry_get(struct nk_registry *r, const char *path, const char *accept, size_t max,
                    struct nk_http_resp *resp, nk_error **err)
{
        memset(resp, 0, sizeof(*resp));
        for (int attempt = 0;; attempt++) {
                if (get_url(r, path, accept, max, resp, err) < 0)
                        return -1;
                if (resp->status >= 200 && resp->status < 300)
                        return 0;
                if (resp->status != 401 || attempt > 0 || !resp->www_auth)
                        return status_error(r, path, resp, err);
                if (nk_registry_auth(r, resp->www_auth, err) < 0)
                        return -1;
        }
}

static char *token_url(CURL *c, const struct nk_challenge *ch)
{
        char *svc = ch->service ? curl_easy_escape(c, ch->service, 0) : NULL;
        char *scope = ch->scope ? curl_easy_escape(c, ch->scope, 0) : NULL;
        char *url = NULL;
        const char *sep = strchr(ch->realm, '?') ? "&" : "?";
        int n = asprintf(&url, "%s%s%s%s%s%s", ch->realm, svc || scope ? sep : "",
                         svc ? "service=" : "", svc ? svc : "",
                         scope ? (svc ? "&scope=" : "scope=") : "", scope ? scope : "");
        curl_free(svc);
        curl_free(scope);
        return n < 0 ? NULL : url;
}

/* Credentials go to the token service only over HTTPS unless the registry
 * itself is allowed to be insecure. */
static int fetch_token(struct nk_registry *r, const struct nk_challenge *ch, char **token,
                       nk_error **err)
{
        CURL *c = curl_easy_init();
        _cleanup_free_ char *url = c ? token_url(c, ch) : NULL;
        if (c)
                curl_easy_cleanup(c);
        if (!url)
                return nk_error_set(err, ENOMEM, "token request");
        if (strncmp(url, "https://", 8) != 0 && !r->insecure)
                return nk_error_set(err, 0, "token service `%s` is not HTTPS", ch->realm);
        struct nk_registry tr = *r;
        _cleanup_free_ char *basic_hdr = NULL;
        if (r->basic && asprintf(&basic_hdr, "Authorization: Basic %s", r->basic) < 0)
                return nk_error_set(err, ENOMEM, "token request");
        tr.authz = basic_hdr;
        struct nk_http_resp resp = {0};
        int rc = get_once(&tr, url, "application/json", 1 << 20, &resp, err);
        if (rc == 0 && (resp.status < 200 || resp.status >= 300))
                rc = nk_error_set(err, 0, "token from %s: HTTP %ld%s", ch->realm, resp.status,
                                  resp.status == 401 ? " (wrong credentials?)" : "");
        _cleanup_jansson_ json_t *doc = rc == 0 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        const char *t = json_string_value(json_object_get(doc, "token"));
        if (!t)
                t = json_string_value(json_object_get(doc, "access_token"));
        if (rc == 0 && !t)
                rc = nk_error_set(err, 0, "token from %s: no token in the response", ch->realm);
        if (rc == 0 && !(*token = strdup(t)))
                rc = nk_error_set(err, ENOMEM, "token");
        nk_http_resp_clear(&resp);
        return rc == 0 ? 0 : -1;
}

int nk_registry_auth(struct nk_registry *r, const char *www_auth, nk_error **err)
{
        struct nk_challenge ch;
        if (nk_challenge_parse(www_auth, &ch, err) < 0)
                return -1;
        _cleanup_free_ char *token = NULL;
        char *hdr = NULL;
        int rc = 0;
        if (streq(ch.scheme, "basic")) {
                if (!r->basic)
                        rc = nk_error_set(err, 0, "registry %s wants a login (nook login %s)",
                                          r->domain, r->domain);
                else if (asprintf(&hdr, "Authorization: Basic %s", r->basic) < 0)
                        rc = nk_error_set(err, ENOMEM, "auth");
        } else if (streq(ch.scheme, "bearer")) {
                if (fetch_token(r, &ch, &token, err) < 0 ||
                    asprintf(&hdr, "Authorization: Bearer %s", token) < 0)
                        rc = nk_error_set(err, ENOMEM, "auth");
        } else {
                rc = nk_error_set(err, 0, "registry %s: unsupported auth scheme `%s`", r->domain,
                                  ch.scheme);
        }
        nk_challenge_clear(&ch);
        if (rc < 0)
                return nk_error_wrap(err, "authenticate to %s", r->domain);
        free(r->authz);
        r->authz = hdr;
        return 0;
}

CURL *nk_registry_easy(struct nk_registry *r, const char *path, struct curl_slist **hdrs,
                       nk_error **err)
{
        _cleanup_free_ char *url = NULL;
        CURL *c = curl_easy_init();
        if (!c || asprintf(&url, "%s%s", r->base, path) < 0) {
                if (c)
                        curl_easy_cleanup(c);
                nk_error_set(err, ENOMEM, "curl");
                return NULL;
        }
        *hdrs = auth_headers(r, NULL);
        common_opts(r, c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
        return c;
}

/* ---- requests with a body (push) ---------------------------------------- */

static size_t body_read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
        struct nk_http_body *b = ud;
        size_t want = size * nmemb;
        if ((uint64_t)want > b->len - b->pos)
                want = (size_t)(b->len - b->pos);
        if (want == 0)
                return 0;
        if (b->mem) {
                memcpy(buf, b->mem + b->pos, want);
        } else {
                ssize_t n;
                do
                        n = pread(b->fd, buf, want, (off_t)(b->off + b->pos));
                while (n < 0 && errno == EINTR);
                if (n <= 0) {
                        if (!b->err)
                                nk_error_set(&b->err, n < 0 ? errno : 0,
                                             "read upload data at %llu: %s",
                                             (unsigned long long)(b->off + b->pos),
                                             n < 0 ? "error" : "file shorter than expected");
                        return CURL_READFUNC_ABORT;
                }
                want = (size_t)n;
        }
        b->pos += want;
        return want;
}

static size_t discard_cb(char *data, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;
        /* Keep the start of an error body for the message. */
        if (s->resp->len < 8192)
                body_cb(data, 1, n < 8192 - s->resp->len ? n : 8192 - s->resp->len, ud);
        return n;
}

static int request_once(struct nk_registry *r, const char *method, const char *url,
                        struct nk_http_body *body, struct nk_http_resp *resp, nk_error **err)
{
        CURL *c = curl_easy_init();
        if (!c)
                return nk_error_set(err, ENOMEM, "curl");
        struct sink s = {resp, 8192, false};
        char line[256];
        bool own = r->base && strncmp(url, r->base, strlen(r->base)) == 0 &&
                   (url[strlen(r->base)] == '/' || url[strlen(r->base)] == '\0');
        struct curl_slist *h = own ? auth_headers(r, NULL) : NULL;
        h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
        char ebuf[CURL_ERROR_SIZE] = "";
        common_opts(r, c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
        if (streq(method, "HEAD")) {
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else {
                static struct nk_http_body empty = {.fd = -1};
                struct nk_http_body *b = body ? body : &empty;
                b->pos = 0;
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, body_read_cb);
                curl_easy_setopt(c, CURLOPT_READDATA, b);
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
                snprintf(line, sizeof(line), "Content-Type: %s",
                         b->content_type ? b->content_type : "application/octet-stream");
                h = curl_slist_append(h, line);
                if (b->content_range) {
                        snprintf(line, sizeof(line), "Content-Range: %s", b->content_range);
                        h = curl_slist_append(h, line);
                }
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        CURLcode cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (body && body->err) {
                nk_error_pass(err, body->err);
                body->err = NULL;
                return -1;
        }
        if (cc != CURLE_OK)
                return nk_error_set(err, 0, "%s %s: %s", method, url,
                                    ebuf[0] ? ebuf : curl_easy_strerror(cc));
        return 0;
}

int nk_registry_request(struct nk_registry *r, const char *method, const char *target,
                        struct nk_http_body *body, struct nk_http_resp *resp, nk_error **err)
{
        if (!r->base) {
                /* The first request picks the scheme (and answers a first
                 * challenge): a ping, as docker does. */
                struct nk_http_resp ping;
                if (nk_registry_get(r, "/v2/", "application/json", 1 << 20, &ping, err) < 0)
                        return -1;
                nk_http_resp_clear(&ping);
        }
        _cleanup_free_ char *url = NULL;
        if (strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0)
                url = strdup(target);
        else if (asprintf(&url, "%s%s", r->base, target) < 0)
                url = NULL;
        if (!url)
                return nk_error_set(err, ENOMEM, "registry request");
        memset(resp, 0, sizeof(*resp));
        for (int attempt = 0;; attempt++) {
                nk_http_resp_clear(resp);
                if (request_once(r, method, url, body, resp, err) < 0)
                        return -1;
                if (resp->status != 401 || attempt > 0 || !resp->www_auth)
                        return 0;
                if (nk_registry_auth(r, resp->www_auth, err) < 0)
                        return -1;
        }
}

char *nk_registry_status_text(const struct nk_http_resp *resp)
{
        _cleanup_free_ char *text = nk_registry_error_text(resp->body, resp->len);
        char *s = NULL;
        if (asprintf(&s, "HTTP %ld%s%s", resp->status, text ? ": " : "", text ? text : "") < 0)
                return NULL;
        return s;
}
