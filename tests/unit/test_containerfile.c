/* Containerfile parsing, word splitting and variable expansion, config
 * instructions, .dockerignore matching: pure code of src/engine/build/. */
#include "engine/build/build.h"
#include "engine/build/containerfile.h"
#include "unit.h"
#include "util/strv.h"
#include <stdlib.h>

static struct nk_containerfile parse_ok(const char *text)
{
        struct nk_containerfile cf;
        nk_error *e = NULL;
        memset(&cf, 0, sizeof cf);
        if (nk_containerfile_parse(text, strlen(text), "Containerfile", &cf, &e) < 0) {
                fprintf(stderr, "unexpected error: %s\n", e->msg);
                nk_error_free(e);
                CHECK(0);
        }
        return cf;
}

static void parse_err(const char *text, const char *want)
{
        struct nk_containerfile cf;
        nk_error *e = NULL;
        CHECK(nk_containerfile_parse(text, strlen(text), "Containerfile", &cf, &e) < 0);
        CHECK(e && strstr(e->msg, want));
        if (e && !strstr(e->msg, want))
                fprintf(stderr, "  want `%s` in `%s`\n", want, e->msg);
        nk_error_free(e);
}

static void parsing(void)
{
        struct nk_containerfile cf = parse_ok("# escape=`\n"
                                              "# comment\n"
                                              "ARG A=1\n"
                                              "from busybox AS b\n"
                                              "\n"
                                              "RUN echo a `\n"
                                              "# dropped inside a continuation\n"
                                              "    b\n"
                                              "copy --from=b --chown=1:2 [\"/x y\", \"/z/\"]\n"
                                              "CMD [\"sh\", \"-c\", \"echo hi\"]\r\n"
                                              "ENTRYPOINT not [json\n"
                                              "HEALTHCHECK --interval=5s CMD true\n");
        CHECK(cf.escape == '`');
        CHECK(cf.n == 7);
        if (cf.n == 7) {
                CHECK(cf.v[0].kind == NK_BF_ARG && cf.v[0].line == 3);
                CHECK(cf.v[1].kind == NK_BF_FROM && cf.v[1].line == 4);
                CHECK_STR(cf.v[1].rest, "busybox AS b");
                CHECK(cf.v[2].kind == NK_BF_RUN && cf.v[2].line == 6 && !cf.v[2].exec_form);
                CHECK_STR(cf.v[2].rest, "echo a     b");
                CHECK(cf.v[3].kind == NK_BF_COPY && cf.v[3].exec_form);
                CHECK_STR(nk_bf_flag(cf.v[3].flags, "from"), "b");
                CHECK_STR(nk_bf_flag(cf.v[3].flags, "chown"), "1:2");
                CHECK(nk_bf_flag(cf.v[3].flags, "chmod") == NULL);
                CHECK(nk_strv_len(cf.v[3].argv) == 2);
                CHECK_STR(cf.v[3].argv[0], "/x y");
                CHECK(cf.v[4].kind == NK_BF_CMD && cf.v[4].exec_form);
                CHECK_STR(cf.v[4].argv[2], "echo hi");
                CHECK(cf.v[5].kind == NK_BF_ENTRYPOINT && !cf.v[5].exec_form);
                CHECK(cf.v[6].kind == NK_BF_HEALTHCHECK);
                CHECK_STR(nk_bf_flag(cf.v[6].flags, "interval"), "5s");
        }
        nk_containerfile_clear(&cf);
        /* a backslash continuation with trailing blanks, and an empty
         * line in between */
        cf = parse_ok("FROM a\nRUN one \\  \n\n  two\n");
        CHECK(cf.n == 2);
        if (cf.n == 2)
                CHECK_STR(cf.v[1].rest, "one   two");
        nk_containerfile_clear(&cf);

        parse_err("FROM a\nBOGUS x\n", "Containerfile:2: unknown instruction `BOGUS`");
        parse_err("RUN x\nFROM a\n", "Containerfile:1: RUN before the first FROM");
        parse_err("ARG x\n", "no FROM");
        parse_err("FROM a\nRUN\n", "Containerfile:2: RUN needs an argument");
        parse_err("FROM a\nSHELL sh -c\n", "SHELL takes a JSON array");
        const char nul[] = "FROM a\n\0RUN x\n";
        nk_error *e = NULL;
        CHECK(nk_containerfile_parse(nul, sizeof nul - 1, "F", &cf, &e) < 0);
        CHECK(e && strstr(e->msg, "F: a NUL byte"));
        nk_error_free(e);
        parse_err("", "no FROM");
}

static const char *lookup(const char *name, void *data)
{
        (void)data;
        if (strcmp(name, "A") == 0)
                return "alpha";
        if (strcmp(name, "E") == 0)
                return "";
        if (strcmp(name, "SP") == 0)
                return "a b";
        return NULL;
}

static void check_expand(const char *in, const char *want)
{
        nk_error *e = NULL;
        char *out = nk_bf_expand(in, '\\', lookup, NULL, &e);
        CHECK_STR(out, want);
        free(out);
        nk_error_free(e);
}

static void check_words(const char *in, int n, const char *w0, const char *wlast)
{
        char **w = NULL;
        nk_error *e = NULL;
        CHECK(nk_bf_words(in, '\\', true, false, lookup, NULL, &w, &e) == 0);
        CHECK((int)nk_strv_len(w) == n);
        if (w && n > 0) {
                CHECK_STR(w[0], w0);
                CHECK_STR(w[n - 1], wlast);
        }
        nk_strv_free(w);
        nk_error_free(e);
}

static void expansion(void)
{
        check_expand("$A", "alpha");
        check_expand("${A}x", "alphax");
        check_expand("$Ax", "");
        check_expand("${U:-def}", "def");
        check_expand("${E:-def}", "def");
        check_expand("${E-def}", "");
        check_expand("${U-def}", "def");
        check_expand("${A:+set}", "set");
        check_expand("${U:+set}", "");
        check_expand("${E+set}", "set");
        check_expand("${U:-${A}}", "alpha");
        check_expand("\\$A", "$A");
        check_expand("'$A'", "$A");
        check_expand("\"$A b\"", "alpha b");
        check_expand("$", "$");
        check_expand("$1", "$1");
        check_expand("a\\ b", "a b");
        check_words("a  b\tc", 3, "a", "c");
        check_words("k=\"v 1\" k2='x y'", 2, "k=v 1", "k2=x y");
        check_words("$SP", 1, "a b", "a b"); /* no splitting of a value */
        check_words("\"\"", 1, "", "");
        check_words("", 0, NULL, NULL);
        const char *bad[] = {"\"open", "'open", "${A", "${", "${A:?x}", "${-}"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                nk_error *e = NULL;
                char *out = nk_bf_expand(bad[i], '\\', lookup, NULL, &e);
                CHECK(out == NULL && e != NULL);
                free(out);
                nk_error_free(e);
        }
}

static json_t *apply(const char *line, json_t *doc, bool *cmd_set)
{
        char text[512];
        snprintf(text, sizeof text, "FROM x\n%s\n", line);
        struct nk_containerfile cf = parse_ok(text);
        nk_error *e = NULL;
        json_t *env = json_deep_copy(json_object_get(json_object_get(doc, "config"), "Env"));
        struct nk_bf_vars vars = {env, NULL};
        if (cf.n != 2 || nk_bf_apply_config(doc, &cf.v[1], cf.escape, &vars, cmd_set, &e) < 0) {
                fprintf(stderr, "apply `%s`: %s\n", line, e ? e->msg : "?");
                CHECK(0);
        }
        nk_error_free(e);
        json_decref(env);
        nk_containerfile_clear(&cf);
        return json_object_get(doc, "config");
}

static void config(void)
{
        json_t *doc = json_pack("{s:{s:[s],s:[s]}}", "config", "Env", "PATH=/bin", "Cmd", "sh");
        bool cmd_set = false;
        json_t *c = apply("ENV A=1 B=\"two words\" PATH=/x:$PATH", doc, &cmd_set);
        CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Env"), 0)), "PATH=/x:/bin");
        CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Env"), 2)), "B=two words");
        apply("ENV LEGACY some value $A", doc, &cmd_set);
        CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Env"), 3)),
                  "LEGACY=some value 1");
        apply("ENTRYPOINT [\"/e\"]", doc, &cmd_set);
        CHECK(json_is_null(json_object_get(c, "Cmd"))); /* the inherited CMD goes */
        apply("CMD run", doc, &cmd_set);
        CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Cmd"), 2)), "run");
        apply("ENTRYPOINT [\"/e2\"]", doc, &cmd_set);
        CHECK(json_array_size(json_object_get(c, "Cmd")) == 3); /* set in this stage: kept */
        apply("WORKDIR /a", doc, &cmd_set);
        apply("WORKDIR b/c", doc, &cmd_set);
        CHECK_STR(json_string_value(json_object_get(c, "WorkingDir")), "/a/b/c");
        apply("EXPOSE 80 53/udp", doc, &cmd_set);
        CHECK(json_object_get(json_object_get(c, "ExposedPorts"), "80/tcp") != NULL);
        CHECK(json_object_get(json_object_get(c, "ExposedPorts"), "53/udp") != NULL);
        apply("HEALTHCHECK --interval=1m30s --retries=2 CMD [\"true\"]", doc, &cmd_set);
        json_t *hc = json_object_get(c, "Healthcheck");
        CHECK(json_integer_value(json_object_get(hc, "Interval")) == 90000000000LL);
        CHECK_STR(json_string_value(json_array_get(json_object_get(hc, "Test"), 0)), "CMD");
        apply("SHELL [\"/bin/bash\", \"-c\"]", doc, &cmd_set);
        apply("CMD echo", doc, &cmd_set);
        CHECK_STR(json_string_value(json_array_get(json_object_get(c, "Cmd"), 0)), "/bin/bash");
        json_decref(doc);
}

static void ignore(void)
{
        char **p = NULL;
        const char text[] = "# c\n\nnode_modules\n**/*.log\n!keep.log\n/abs/x\n../up\nsub/*/z\n";
        CHECK(nk_bf_ignore_parse(text, sizeof text - 1, &p, NULL) == 0);
        CHECK(nk_bf_ignored(p, "node_modules"));
        CHECK(nk_bf_ignored(p, "node_modules/a/b"));
        CHECK(nk_bf_ignored(p, "a.log"));
        CHECK(nk_bf_ignored(p, "deep/er/b.log"));
        CHECK(!nk_bf_ignored(p, "keep.log"));
        CHECK(nk_bf_ignored(p, "abs/x"));
        CHECK(nk_bf_ignored(p, "sub/y/z"));
        CHECK(!nk_bf_ignored(p, "sub/z"));
        CHECK(!nk_bf_ignored(p, "src/main.c"));
        CHECK(!nk_bf_ignored(p, "up"));
        nk_strv_free(p);
}

int main(void)
{
        parsing();
        expansion();
        config();
        ignore();
        return UNIT_END();
}
