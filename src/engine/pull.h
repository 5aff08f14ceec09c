/* Pull internals shared by pull.c (resolution, commit), pull_fetch.c
 * (parallel blob downloads) and pull_extract.c (extraction workers,
 * progress), the last below the other two. */
#pragma once
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/registry.h"
#include <pthread.h>

struct job {
        const char *digest, *diff_id;
        bool report; /* announce NK_PROGRESS_EXTRACTED */
};

/* Layers to extract, consumed by worker threads. */
struct workq {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *jobs;
        size_t n, next, cap;
        bool closed;
        nk_error *err; /* the first failure */
        struct nk_txn *t;
        struct puller *p;
        pthread_t th[4];
        int n_th;
};

struct puller {
        struct nk_store *s;
        struct nk_txn *t;
        struct nk_registry reg;
        const struct nk_pull_opts *o;
        struct workq q;
        struct nk_manifest m;
        struct nk_config c;
        char mdigest[NK_DIGEST_LEN + 1];
        pthread_mutex_t progress_mu; /* callbacks come from several threads */
};

void nk_pull_progress(struct puller *p, enum nk_progress_kind k, const char *id, uint64_t done,
                      uint64_t total, const char *msg);
/* Start the extraction workers for at most cap layers of transaction t. */
int nk_pull_workq_start(struct workq *q, struct nk_txn *t, size_t cap, nk_error **err);
/* Wait for the workers; returns their first error (into err unless NULL
 * or already set). */
int nk_pull_workq_finish(struct workq *q, nk_error **err);
/* Hand layer i to the extraction workers. */
void nk_pull_queue_layer(struct puller *p, size_t i);
bool nk_pull_failed(struct puller *p);
/* Download the layers listed in idx (n of them) into the transaction,
 * queueing each for extraction when it is verified. */
int nk_pull_fetch_layers(struct puller *p, const size_t *idx, size_t n, nk_error **err);
/* Make layer i's blob available: in the store, staged, or a verified
 * download left by an earlier pull. false: it must be downloaded. */
bool nk_pull_blob_ready(struct puller *p, const struct nk_descriptor *d);
