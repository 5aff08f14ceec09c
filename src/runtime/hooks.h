/* nook — OCI hooks: each is run with the container state on stdin, its
 * timeout honoured, and its failure reported with the hook's path. */
#pragma once
#include "spec.h"

/* Run every hook of `kind` in order; stop at the first failure. */
int nk_hooks_run(const struct nk_spec *spec, enum nk_hook_kind kind, const char *state_json,
                 nk_error **err);
/* Run them all, logging failures as warnings (poststart, poststop). */
void nk_hooks_run_warn(const struct nk_spec *spec, enum nk_hook_kind kind, const char *state_json);
