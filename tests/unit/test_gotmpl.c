/* --format templates (engine/gotmpl.c): what Go's text/template prints for
 * the same template over the same data, and the errors it refuses with. */
#include "engine/gotmpl.h"
#include "unit.h"
#include "util/cleanup.h"

static const char *data =
        "{\"Name\":\"/web\",\"Id\":\"abc\",\"State\":{\"Pid\":42,\"Status\":\"running\","
        "\"Running\":true,\"ExitCode\":0,\"Health\":null},"
        "\"Config\":{\"Cmd\":[\"sleep\",\"100\"],\"Labels\":{\"b\":\"2\",\"a\":\"1\"},"
        "\"Env\":[]},"
        "\"Mounts\":[{\"Type\":\"volume\",\"Destination\":\"/data\"},"
        "{\"Type\":\"bind\",\"Destination\":\"/x\"}],"
        "\"NetworkSettings\":{\"Networks\":{\"net2\":{\"IPAddress\":\"10.0.2.5\"},"
        "\"bridge\":{\"IPAddress\":\"10.88.0.5\"}}},"
        "\"Ratio\":0.5,\"Big\":1e21,\"Seven\":1234567.0,\"Five\":123456.0,\"Tiny\":0.00001,"
        "\"Million\":1000000.0,\"Count\":3}";

static char *run(const char *tmpl, char **errtext)
{
        nk_error *e = NULL;
        json_error_t je;
        json_t *d = json_loads(data, 0, &je);
        struct nk_tmpl *t = nk_tmpl_parse(tmpl, &e);
        char *out = t ? nk_tmpl_exec(t, d, &e) : NULL;
        nk_tmpl_free(t);
        json_decref(d);
        *errtext = e ? nk_error_text(e) : NULL;
        nk_error_free(e);
        return out;
}

static void test_output(void)
{
        static const struct {
                const char *tmpl, *want;
        } cases[] = {
                {"plain text", "plain text"},
                {"", ""},
                {"{{.Name}}", "/web"},
                {"{{.State.Pid}}", "42"},
                {"{{ .State.Status }}", "running"},
                {"{{.State.Running}}", "true"},
                {"{{.Nope}}", "<no value>"},
                {"{{.Nope.Deeper}}", "<no value>"},
                {"{{.State.Health}}", "<nil>"},
                {"{{.Name.Sub}}", "<no value>"},
                {"{{.Config.Cmd}}", "[sleep 100]"},
                {"{{.Config.Labels}}", "map[a:1 b:2]"},
                {"{{.Config.Env}}", "[]"},
                {"{{json .Config.Cmd}}", "[\"sleep\",\"100\"]"},
                {"{{json .Nope}}", "null"},
                {"{{json .State.Pid}}", "42"},
                {"{{.Ratio}} {{.Big}} {{.Tiny}} {{.Million}} {{.Seven}} {{.Five}}",
                 "0.5 1e+21 1e-05 1e+06 1.234567e+06 123456"},
                {"{{range .Mounts}}[{{.Type}} {{.Destination}}]{{end}}", "[volume /data][bind /x]"},
                {"{{range $i, $m := .Mounts}}{{$i}}={{$m.Destination}} {{end}}", "0=/data 1=/x "},
                {"{{range $m := .Mounts}}{{$m.Type}},{{end}}", "volume,bind,"},
                {"{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                 "10.88.0.5 10.0.2.5 "}, /* map order: bridge < net2 */
                {"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"},
                {"{{range .Config.Env}}x{{else}}empty{{end}}", "empty"},
                {"{{range .Nope}}x{{else}}none{{end}}", "none"},
                {"{{range .Count}}{{.}}{{end}}", "012"},
                {"{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"},
                {"{{if .State.Running}}up{{else}}down{{end}}", "up"},
                {"{{if .State.ExitCode}}bad{{else if .Nope}}x{{else}}ok{{end}}", "ok"},
                {"{{if eq .State.Status \"exited\" \"running\"}}yes{{end}}", "yes"},
                {"{{if ne .State.Pid 42}}a{{else}}b{{end}}", "b"},
                {"{{if and .State.Running (gt .State.Pid 10)}}both{{end}}", "both"},
                {"{{or .Nope \"dflt\"}}", "dflt"},
                {"{{not .State.Running}}", "false"},
                {"{{if lt .Ratio 1}}small{{end}}", "small"},
                {"{{with .State}}{{.Pid}}{{end}}", "42"},
                {"{{with .Nope}}x{{else}}no{{end}}", "no"},
                {"{{$n := .Name}}{{$n}}{{$n = \"z\"}}{{$n}}", "/webz"},
                {"{{index .Config.Labels \"b\"}}", "2"},
                {"{{index .Config.Cmd 1}}", "100"},
                {"{{index .Mounts 1 \"Type\"}}", "bind"},
                {"{{len .Mounts}} {{len .Name}} {{len .Config.Labels}}", "2 4 2"},
                {"{{join .Config.Cmd \" \"}}", "sleep 100"},
                {"{{split \"a,b,c\" \",\"}}", "[a b c]"},
                {"{{upper .State.Status}} {{lower \"AbC\"}} {{title \"hello big-world\"}}",
                 "RUNNING abc Hello Big-World"},
                {"{{truncate .State.Status 3}}", "run"},
                {"{{.Name | upper}}", "/WEB"},
                {"{{.State.Pid | printf \"%05d\"}}", "00042"},
                {"{{printf \"%s-%d-%v-%q-%5s|%-4s|%.1f\" .Name 7 .Count \"a\" \"r\" \"l\" .Ratio}}",
                 "/web-7-3-\"a\"-    r|l   |0.5"},
                {"{{printf \"%d %d\" 1}}", "1 %!d(MISSING)"},
                {"{{print \"a\" \"b\" 1 2}}", "ab1 2"},
                {"{{println \"a\" 1}}", "a 1\n"},
                {"{{(index .Mounts 0).Type}}", "volume"},
                {"a {{- \" b \" -}} c", "a b c"},
                {"x  {{- /* a comment */ -}}  y", "xy"},
                {"{{/* it's got \"quotes\" */}}z", "z"},
                {"{{\"}}\"}}", "}}"},
                {"{{`raw\\n`}}", "raw\\n"},
                {"{{\"tab\\tnl\"}}", "tab\tnl"},
                {"{{true}} {{false}} {{nil}} {{-3}} {{1.5}}", "true false <nil> -3 1.5"},
                {"{{.}}", NULL}, /* checked below: the whole map */
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                _cleanup_free_ char *err = NULL;
                _cleanup_free_ char *out = run(cases[i].tmpl, &err);
                if (!cases[i].want) {
                        CHECK(out &&
                              strncmp(out, "map[Big:1e+21 Config:map[Cmd:[sleep 100]", 39) == 0);
                        continue;
                }
                if (!out)
                        fprintf(stderr, "template %s: %s\n", cases[i].tmpl, err ? err : "?");
                CHECK_STR(out, cases[i].want);
        }
}

static void test_errors(void)
{
        static const struct {
                const char *tmpl, *want; /* a part of the error */
        } cases[] = {
                {"{{.Name", "unclosed action"},
                {"{{\"open}}", "unclosed action"},
                {"{{end}}", "unexpected {{end}}"},
                {"{{else}}", "unexpected {{else}}"},
                {"{{if .A}}x", "missing {{end}}"},
                {"{{range .A}}{{else}}{{else}}{{end}}", "second {{else}}"},
                {"{{range}}", "missing value"},
                {"{{nofunc .A}}", "function \"nofunc\" not defined"},
                {"{{.A | .B}}", "a value given arguments"},
                {"{{.Name 1}}", "a value given arguments"},
                {"{{index .Config.Cmd 9}}", "index out of range"},
                {"{{index .Name 0}}", "can't index"},
                {"{{len .State.Pid}}", "has no length"},
                {"{{range .Name}}{{end}}", "range can't iterate"},
                {"{{$x}}", "undefined variable $x"},
                {"{{$x = 1}}", "undefined variable $x"},
                {"{{lt .Config.Cmd 1}}", "can't be ordered"},
                {"{{json}}", "json: wants 1 argument, got 0"},
                {"{{join .Name \",\"}}", "not a list"},
                {"{{define \"x\"}}{{end}}", "not supported"},
                {"{{(.Name}}", "unclosed parenthesis"},
                {"{{.Name)}}", "unexpected token"},
                {"{{/* open }}", "unclosed action"},
                {"{{end x}}", "after end"},
                {"{{if 1}}{{else x}}{{end}}", "after else"},
                {"{{@}}", "unexpected token"},
                {"{{range 10000}}{{range 10000}}x{{end}}{{end}}", "runs too long"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                _cleanup_free_ char *err = NULL;
                _cleanup_free_ char *out = run(cases[i].tmpl, &err);
                CHECK(!out);
                if (!err || !strstr(err, cases[i].want))
                        fprintf(stderr, "template %s: want error with \"%s\", got \"%s\"\n",
                                cases[i].tmpl, cases[i].want, err ? err : "(none)");
                CHECK(err && strstr(err, cases[i].want) && strncmp(err, "template: ", 10) == 0 &&
                      !strchr(err, '\n'));
        }
}

/* Hostile: nesting past any sane depth is refused, not a stack overflow. */
static void test_depth(void)
{
        char deep[64 * 1024];
        size_t n = 0;
        for (; n < 20000; n++)
                deep[n] = '(';
        deep[n] = '\0';
        char tmpl[sizeof deep + 8];
        snprintf(tmpl, sizeof tmpl, "{{%s}}", deep);
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *out = run(tmpl, &err);
        CHECK(!out && err && strstr(err, "nested too deep"));
        char *p = deep;
        for (int i = 0; i < 5000; i++)
                p += sprintf(p, "{{if 1}}");
        free(err);
        err = NULL;
        out = run(deep, &err);
        CHECK(!out && err && strstr(err, "nested too deep"));
}

int main(void)
{
        test_output();
        test_errors();
        test_depth();
        return UNIT_END();
}
