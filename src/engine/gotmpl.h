#pragma once
/* The part of Go's text/template that docker and podman users put in
 * --format, over JSON data (what nook's inspect and ps rows are):
 *   {{.A.B}} {{.}} {{$}} {{$v.A}} "str" `raw` 42 true nil
 *   {{if P}}..{{else if P}}..{{else}}..{{end}}  {{with P}}..{{end}}
 *   {{range P}}..{{else}}..{{end}}  {{range $i, $e := P}}  {{$x := P}}
 *   pipelines (P | f), parentheses, {{- trim -}}, {{/ * comments * /}}
 * and the functions docker adds or scripts use: json, join, split, index,
 * len, upper, lower, title, truncate, print, println, printf, eq, ne, lt,
 * le, gt, ge, not, and, or. Values print as Go's %v prints them: maps as
 * map[k:v] in key order, lists as [a b], a missing key as <no value>. */
#include "util/error.h"
#include <jansson.h>

struct nk_tmpl;

/* NULL and a one-line error ("template: ...: unexpected {{end}}") when the
 * text is not a template this subset reads. */
struct nk_tmpl *nk_tmpl_parse(const char *text, nk_error **err);
/* The template run over dot; NULL and an error (index out of range, a
 * function given the wrong values) when it fails. */
char *nk_tmpl_exec(const struct nk_tmpl *t, json_t *dot, nk_error **err);
void nk_tmpl_free(struct nk_tmpl *t);
