/* Shared helpers of the engine commands (src/cmd/engine). */
#pragma once
#include "cmd/commands.h"
#include "engine/engine.h"
#include <stdint.h>

int nk_cmd_images(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image(const struct nk_global *g, int argc, char **argv);
int nk_cmd_tag(const struct nk_global *g, int argc, char **argv);
int nk_cmd_rmi(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image_inspect(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image_mount(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image_umount(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image_history(const struct nk_global *g, int argc, char **argv);
int nk_cmd_push(const struct nk_global *g, int argc, char **argv);
int nk_cmd_image_prune(const struct nk_global *g, int argc, char **argv);
int nk_cmd_system(const struct nk_global *g, int argc, char **argv);
int nk_cmd_engine_info(const struct nk_global *g, int argc, char **argv);
int nk_cmd_engine_version(const struct nk_global *g, int argc, char **argv);
int nk_cmd_pull(const struct nk_global *g, int argc, char **argv);
int nk_cmd_login(const struct nk_global *g, int argc, char **argv);
int nk_cmd_logout(const struct nk_global *g, int argc, char **argv);
int nk_cmd_load(const struct nk_global *g, int argc, char **argv);
int nk_cmd_save(const struct nk_global *g, int argc, char **argv);
int nk_cmd_import(const struct nk_global *g, int argc, char **argv);
int nk_cmd_export(const struct nk_global *g, int argc, char **argv);
int nk_cmd_volume(const struct nk_global *g, int argc, char **argv);
int nk_cmd_network(const struct nk_global *g, int argc, char **argv);
int nk_cmd_build(const struct nk_global *g, int argc, char **argv);
int nk_cmd_commit(const struct nk_global *g, int argc, char **argv);

/* Open the --store, reporting failure; NULL on error (already printed). */
struct nk_store *nk_cmd_store(const struct nk_global *g);
/* Report a failed change to the store (pull, load, import, tag); when the
 * disk was full, say so and that the store was left as it was. */
int nk_cmd_store_fail(const struct nk_store *s, nk_error *err);
/* "2.1MB" (decimal units, like docker). */
void nk_cmd_human_size(uint64_t bytes, char *buf, size_t len);
/* "3 days ago" from an RFC 3339 time, "N/A" when unparsable. */
void nk_cmd_human_age(const char *rfc3339, char *buf, size_t len);
/* Ask question on the terminal ("[y/N]" appended): 1 yes, 0 no. When
 * stdin is not a terminal nothing is asked: -1, and the caller refuses
 * with a message naming -f. */
int nk_cmd_confirm(const char *question);
/* Print a JSON value (indented) on stdout. */
int nk_cmd_print_json(json_t *v);
