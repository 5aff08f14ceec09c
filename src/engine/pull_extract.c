/* `nook pull`: the extraction workers (layers are unpacked on up to four
 * threads as their blobs arrive) and the progress callback, which both
 * the resolution and commit (pull.c) and the downloads (pull_fetch.c)
 * drive. */
#include "engine/pull.h"
#include "util/cleanup.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void nk_pull_progress(struct puller *p, enum nk_progress_kind k, const char *id, uint64_t done,
                      uint64_t total, const char *msg)
{
        struct nk_progress ev = {k, id, done, total, msg};
        if (!p->o->progress)
                return;
        pthread_mutex_lock(&p->progress_mu);
        p->o->progress(&ev, p->o->progress_data);
        pthread_mutex_unlock(&p->progress_mu);
}

static void *worker(void *data)
{
        struct workq *q = data;
        pthread_mutex_lock(&q->mu);
        for (;;) {
                while (q->next == q->n && !q->closed)
                        pthread_cond_wait(&q->cv, &q->mu);
                if (q->next == q->n)
                        break;
                struct job j = q->jobs[q->next++];
                bool skip = q->err != NULL;
                pthread_mutex_unlock(&q->mu);
                nk_error *e = NULL;
                if (!skip && nk_txn_layer(q->t, j.digest, j.diff_id, &e) < 0) {
                        nk_txn_note_error(q->t, e);
                        pthread_mutex_lock(&q->mu);
                        if (!q->err)
                                q->err = TAKE_PTR(e);
                        pthread_mutex_unlock(&q->mu);
                } else if (!skip && j.report) {
                        char id[16];
                        snprintf(id, sizeof(id), "%.12s", nk_digest_hex(j.digest));
                        nk_pull_progress(q->p, NK_PROGRESS_EXTRACTED, id, 0, 0, NULL);
                }
                nk_error_free(e);
                pthread_mutex_lock(&q->mu);
        }
        pthread_mutex_unlock(&q->mu);
        return NULL;
}

int nk_pull_workq_start(struct workq *q, struct nk_txn *t, size_t cap, nk_error **err)
{
        q->t = t;
        q->cap = cap;
        q->jobs = calloc(cap + 1, sizeof(*q->jobs));
        if (!q->jobs)
                return nk_error_set(err, ENOMEM, "pull");
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cv, NULL);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int want = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
        for (int i = 0; i < want; i++)
                if (pthread_create(&q->th[q->n_th], NULL, worker, q) == 0)
                        q->n_th++;
        return q->n_th > 0 ? 0 : nk_error_set(err, 0, "start extraction threads");
}

static void workq_push(struct workq *q, const char *digest, const char *diff_id, bool report)
{
        pthread_mutex_lock(&q->mu);
        if (q->n < q->cap)
                q->jobs[q->n++] = (struct job){digest, diff_id, report};
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
}

bool nk_pull_failed(struct puller *p)
{
        pthread_mutex_lock(&p->q.mu);
        bool r = p->q.err != NULL;
        pthread_mutex_unlock(&p->q.mu);
        return r;
}

int nk_pull_workq_finish(struct workq *q, nk_error **err)
{
        if (!q->jobs)
                return 0;
        pthread_mutex_lock(&q->mu);
        q->closed = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        for (int i = 0; i < q->n_th; i++)
                pthread_join(q->th[i], NULL);
        q->n_th = 0;
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q->jobs);
        q->jobs = NULL;
        if (q->err) {
                if (err && !*err)
                        *err = TAKE_PTR(q->err);
                nk_error_free(q->err);
                q->err = NULL;
                return -1;
        }
        return 0;
}

void nk_pull_queue_layer(struct puller *p, size_t i)
{
        char id[16];
        snprintf(id, sizeof(id), "%.12s", nk_digest_hex(p->m.layers[i].digest));
        bool extract = !nk_store_layer_exists(p->s, p->c.diff_ids[i]);
        if (extract)
                nk_pull_progress(p, NK_PROGRESS_EXTRACT, id, 0, 0, NULL);
        workq_push(&p->q, p->m.layers[i].digest, p->c.diff_ids[i], extract);
}
