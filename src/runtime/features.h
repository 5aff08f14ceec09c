/* nook — the OCI features document (`nook features`): what this build and
 * this kernel really support. */
#pragma once
#include <jansson.h>
json_t *nk_features(void);
