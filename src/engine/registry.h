/* A client of the OCI distribution API (/v2/) over libcurl: scheme choice
 * (HTTPS; HTTP only for loopback and --tls-verify=false registries),
 * Basic and Bearer-token authentication from WWW-Authenticate challenges,
 * small GETs into memory, and configured handles for blob downloads. */
#pragma once
#include "util/error.h"
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nk_registry {
        char *domain;  /* as in the reference: docker.io, 127.0.0.1:5000 */
        char *host;    /* what to contact: registry-1.docker.io */
        char *repo;    /* library/busybox */
        bool insecure; /* HTTP fallback and unverified TLS allowed */
        char *base;    /* "https://host" once a request worked */
        char *basic;   /* base64 user:pass, or NULL */
        char *authz;   /* "Authorization: ..." header, or NULL */
};

struct nk_http_resp {
        long status;
        char *body;
        size_t len;
        char *content_type;
        char *digest; /* Docker-Content-Digest */
        char *www_auth;
        char *location; /* Location (upload sessions) */
};
void nk_http_resp_clear(struct nk_http_resp *r);

/* repo may be NULL (login). Credentials come from the auth files unless
 * basic is given (base64 user:pass). */
int nk_registry_open(struct nk_registry *r, const char *domain, const char *repo, bool insecure,
                     const char *auth_file, const char *basic, nk_error **err);
void nk_registry_close(struct nk_registry *r);

/* GET path (e.g. "/v2/<repo>/manifests/latest"); authenticates and retries
 * on 401. Success only for 2xx; other statuses are errors naming the URL,
 * the status and the registry's error message. */
int nk_registry_get(struct nk_registry *r, const char *path, const char *accept, size_t max,
                    struct nk_http_resp *resp, nk_error **err);
/* What a PUT, PATCH or POST sends: len bytes of mem, or of fd from off
 * (read with pread, so a request retried after a 401 sends them again). */
struct nk_http_body {
        const char *mem;
        int fd;
        uint64_t off, len;
        const char *content_type;  /* NULL: application/octet-stream */
        const char *content_range; /* "start-end", PATCH only */
        uint64_t pos;              /* internal */
        nk_error *err;             /* internal: a failed read */
};
/* A request (method "HEAD", "PUT", "PATCH", "POST", "DELETE") to target,
 * a path below the registry or an absolute URL (an upload's Location),
 * authenticating and retrying on 401 like nk_registry_get. The
 * Authorization header goes only to the registry's own base URL. Any
 * HTTP status is returned in resp (no error for non-2xx): the caller
 * knows which it expects. body may be NULL. */
int nk_registry_request(struct nk_registry *r, const char *method, const char *target,
                        struct nk_http_body *body, struct nk_http_resp *resp, nk_error **err);
/* "HTTP <status>[: <registry error>]" for messages; caller frees. */
char *nk_registry_status_text(const struct nk_http_resp *resp);
/* Obtain credentials for a 401 challenge (a token, or Basic). */
int nk_registry_auth(struct nk_registry *r, const char *www_auth, nk_error **err);
/* An easy handle for GET base+path with auth, TLS and redirect settings
 * applied; *hdrs must be freed with curl_slist_free_all after the transfer. */
CURL *nk_registry_easy(struct nk_registry *r, const char *path, struct curl_slist **hdrs,
                       nk_error **err);
/* The message of a registry error body {"errors":[{"code","message"}]}. */
char *nk_registry_error_text(const char *body, size_t len);
