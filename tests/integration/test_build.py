"""nook build and nook commit against the real kernel: images made from a
Containerfile (every instruction, several stages) and from a container's
changes, run and checked from inside; the build cache; failing steps that
must leave nothing behind. The `engine` fixture (engine_util.py) gives a
store, runtime root and cgroup parent of the test's own and fails a test
that leaks mounts, cgroups, processes or containers."""
import gzip
import io
import json
import os
import re
import subprocess
import tarfile
import time

import pytest

from engine_util import engine  # noqa: F401 (the fixture)

MULTI = r"""# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS builder
ARG VERSION=1.0
RUN mkdir -p /out && echo "built $VERSION" > /out/version \
    && echo data > /out/data
# a comment inside the file
FROM $BASE
LABEL org.example.name="demo app" version=2
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
WORKDIR $APP_HOME
COPY --from=builder /out/version ./
COPY --chown=nobody:nobody --chmod=640 src/*.txt data/
COPY . /ctx/
ADD files.tar.gz /opt/
RUN echo "appuser:x:1234:1234::/srv/app:/bin/sh" >> /etc/passwd && chown 1234 /srv/app \
 && rm /etc/group
USER appuser
EXPOSE 8080 9090/udp
VOLUME ["/srv/data"]
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-c"]
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD test -f /srv/app/version
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/app/version"]
"""


def make_context(path):
    os.makedirs(path / "src")
    os.makedirs(path / "ignored")
    (path / "src" / "one.txt").write_text("one\n")
    (path / "src" / "two.txt").write_text("two\n")
    (path / "src" / "skip.log").write_text("skip\n")
    (path / "ignored" / "secret").write_text("secret\n")
    (path / ".dockerignore").write_text("# not this\nignored\n**/*.log\n!keep.log\n")
    (path / "keep.log").write_text("kept\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"intar\n"
        info = tarfile.TarInfo("inner/f")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (path / "files.tar.gz").write_bytes(buf.getvalue())
    (path / "Containerfile").write_text(MULTI)


def layer_dirs(engine):
    d = os.path.join(engine.store, "layers")
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def build(engine, *args, check=True):
    return engine.run("build", *args, check=check, timeout=120)


def run_in(engine, image, script):
    return engine.run("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script).stdout


def config_of(engine, image):
    return json.loads(engine.run("image", "inspect", image).stdout)[0]["Config"]


def test_multistage_build_with_every_instruction(engine, tmp_path):
    ctx = tmp_path / "ctx"
    make_context(ctx)
    p = build(engine, "-t", "demo:1", "-t", "demo:latest", "--build-arg", "VERSION=2.5",
              "--label", "from.cli=yes", str(ctx))
    assert "STEP 1/22: ARG BASE=busybox" in p.stderr
    assert "STEP 4/22: RUN mkdir -p /out" in p.stderr
    image_id = p.stdout.strip()
    # the entrypoint and cmd as the image says
    assert engine.run("run", "--rm", "demo:1").stdout == "built 2.5\n"
    out = run_in(engine, "demo:latest",
                 "id -u; pwd; echo $PATH; echo $APP_HOME; stat -c '%u:%g %a' data/one.txt;"
                 "stat -c %s data/two.txt; cat /opt/inner/f; ls -a /ctx | tr '\\n' ' '; echo;"
                 "ls /etc/group 2>&1; stat -c %u /srv/app")
    lines = out.splitlines()
    assert lines[0] == "1234"
    assert lines[1] == "/srv/app"
    assert lines[2].startswith("/srv/app/bin:/usr/local/sbin:")
    assert lines[3] == "/srv/app"
    assert lines[4] == "65534:65534 640"
    assert lines[5] == "4"
    assert lines[6] == "intar"
    # .dockerignore: ignored/ and *.log gone, the exception kept
    ctx_files = lines[7].split()
    assert "ignored" not in ctx_files and "keep.log" in ctx_files and "src" in ctx_files
    assert "skip.log" not in run_in(engine, "demo:1", "ls /ctx/src")
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY ignored/secret /s\n")
    p = build(engine, str(ctx), check=False)
    assert p.returncode != 0 and "`ignored/secret` is excluded by .dockerignore" in p.stderr
    assert "No such file" in lines[8]
    assert lines[9] == "1234"
    cfg = config_of(engine, "demo:1")
    assert cfg["User"] == "appuser" and cfg["WorkingDir"] == "/srv/app"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat /srv/app/version"]
    assert cfg["Labels"] == {"org.example.name": "demo app", "version": "2", "from.cli": "yes"}
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "9090/udp"}
    assert list(cfg["Volumes"]) == ["/srv/data"]
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /srv/app/version"],
                                  "Interval": 30_000_000_000, "Timeout": 5_000_000_000,
                                  "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo child"]
    assert cfg["Shell"] == ["/bin/sh", "-c"]
    assert image_id.startswith(engine.run("images", "-q", "demo:1").stdout.strip())
    # one history entry per layer (buildah refuses a base image without),
    # the config-only steps marked empty
    info = json.loads(engine.run("image", "inspect", "demo:1").stdout)[0]
    made = [h for h in info["History"] if not h.get("empty_layer")]
    assert len(made) == len(info["RootFS"]["Layers"]) == 6
    assert made[0]["created_by"] == "nook: embedded busybox"
    assert [h["created_by"] for h in info["History"]][-1] == 'CMD ["cat /srv/app/version"]'


def test_unchanged_rebuild_is_all_cache_and_one_changed_file_rebuilds_from_there(engine,
                                                                                  tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for i in range(3):
        (ctx / f"f{i}").write_text(f"content {i}\n")
    # a directory of many entries: its content hash must not depend on
    # the order readdir gives them
    (ctx / "d").mkdir()
    for i in range(100):
        (ctx / "d" / f"e{i}").write_text(f"{i}\n")
    (ctx / "Containerfile").write_text(
        "FROM busybox\nRUN echo a > /a\nCOPY d/ /d/\nRUN echo b > /b\nCOPY f1 /f1\n"
        "ENV X=1\nRUN cat /f1 > /c\nCOPY f2 /f2\nWORKDIR /w\nCMD [\"cat\", \"/c\"]\n")
    first = build(engine, "-t", "cached", str(ctx))
    layers = layer_dirs(engine)
    start = time.monotonic()
    again = build(engine, "-t", "cached", str(ctx))
    took = time.monotonic() - start
    assert again.stdout == first.stdout, "same steps, same image id"
    assert layer_dirs(engine) == layers, "no new layer"
    assert again.stderr.count("Using cache") == 6
    assert took < 1.0, f"an all-cache rebuild of 10 steps took {took:.2f}s"
    # f1 changes: the steps before COPY f1 come from the cache, it and
    # every layer after are made again
    (ctx / "f1").write_text("changed\n")
    changed = build(engine, "-t", "cached", str(ctx))
    assert changed.stdout != first.stdout
    steps = changed.stderr.split("STEP ")
    cached = [s.split(":")[0] for s in steps if "Using cache" in s]
    assert cached == ["2/10", "3/10", "4/10"]
    # COPY f1 and RUN cat /f1 make new layers; COPY f2 was run again but
    # made the very same layer as before (same content, same tar)
    assert len(layer_dirs(engine) - layers) == 2
    assert changed.stderr.count("--> ") - changed.stderr.count("--> Using cache") == 3
    assert engine.run("run", "--rm", "cached").stdout == "changed\n"
    # --no-cache runs everything again (RUN steps print no cache line)
    nc = build(engine, "--no-cache", "-t", "cached", str(ctx))
    assert "Using cache" not in nc.stderr


def test_timestamp_makes_the_build_reproducible(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("x\n")
    (ctx / "Containerfile").write_text(
        "FROM busybox\nCOPY f /f\nRUN mkdir /d && echo $RANDOM > /d/r && rm /bin/vi\n")
    a = build(engine, "--no-cache", "--timestamp", "0", "-t", "r", str(ctx)).stdout
    # a different RANDOM: a different layer. Without RANDOM both equal:
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY f /f\nRUN mkdir /d && rm /bin/vi\n")
    b = build(engine, "--no-cache", "--timestamp", "0", "-t", "r", str(ctx)).stdout
    time.sleep(1.1)
    c = build(engine, "--no-cache", "--timestamp", "0", "-t", "r", str(ctx)).stdout
    assert b == c and a != b
    hist = json.loads(engine.run("image", "inspect", "r").stdout)[0]
    assert hist["Created"].startswith("1970-01-01T00:00:00")


def test_failing_run_leaves_nothing(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM busybox\nRUN echo ok > /ok\nRUN echo before-failing; touch /x; exit 7\n"
        "RUN echo never\n")
    build(engine, "-t", "warm", str(tmp_path / "ctx"), check=False)  # busybox made, cache warm
    blobs = set(os.listdir(os.path.join(engine.store, "blobs", "sha256")))
    layers = layer_dirs(engine)
    p = build(engine, "-t", "broken", str(ctx), check=False)
    assert p.returncode != 0
    assert "before-failing" in p.stdout
    assert "Containerfile:3: RUN: the command exited with code 7" in p.stderr
    assert "never" not in p.stdout
    assert "broken" not in engine.run("images").stdout
    assert set(os.listdir(os.path.join(engine.store, "blobs", "sha256"))) == blobs
    assert layer_dirs(engine) == layers
    assert os.listdir(os.path.join(engine.store, "tmp")) == []
    # mounts, cgroups, runtime state, containers: the fixture checks them


def last_layer_names(engine, image, tmp_path):
    """The entry names of IMAGE's top layer as `nook save` gives it (the
    store may keep no compressed blob once a tar-split rebuilds it)."""
    out = tmp_path / "saved.tar"
    engine.run("save", "--format", "docker-archive", "-o", str(out), image)
    with tarfile.open(out) as outer:
        layer = json.load(outer.extractfile("manifest.json"))[0]["Layers"][-1]
        data = outer.extractfile(layer).read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.getnames()


HOSTILE = r"""FROM busybox
RUN mkdir -p /h && cd /h && touch "$(printf 'new\nline')" "$(printf 'bad\377byte')" \
    "with space" -- "-dash" && D=$(printf 'd%.0s' $(seq 1 120)) && E=$(printf 'e%.0s' $(seq 1 120)) \
    && mkdir -p "$D/$E" && touch "$D/$E/f" && ln -s /etc/passwd link && ln /bin/busybox hard \
    && mkfifo fifo && rm /etc/passwd && rm -rf /usr && mkdir /usr && touch /usr/only \
    && setfattr -n user.k -v v /h/with\ space 2>/dev/null; true
"""


def test_layer_from_changes_round_trip_hostile_names_whiteouts_opaque(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(HOSTILE)
    build(engine, "-t", "hostile", str(ctx))
    out = engine.run("run", "--rm", "hostile", "sh", "-c",
                     "cd /h && find . -print0 | od -v -An -c | tr -d ' \\n'; echo;"
                     "ls /usr; ls /etc/passwd 2>&1; readlink /h/link; stat -c '%h %F' /h/hard /h/fifo"
                     ).stdout.splitlines()
    names = out[0]
    for want in ["new\\nline", "bad377byte", "withspace", "-dash", "e" * 120 + "/f"]:
        assert want in names, want
    assert out[1] == "only", "the opaque /usr hides the image's /usr"
    assert "No such file" in out[2], "the whiteout deletes /etc/passwd"
    assert out[3] == "/etc/passwd"
    assert out[4] == "2 regular file" and out[5] == "1 fifo"
    # the layer in the image format: a .wh. entry and an opaque marker, sorted
    info = json.loads(engine.run("image", "inspect", "hostile").stdout)[0]
    diff_ids = info["RootFS"]["Layers"]
    manifest = json.load(open(os.path.join(engine.store, "repositories.json")))
    man = manifest["docker.io/library/hostile:latest"]["manifest"]
    m = json.load(open(os.path.join(engine.store, "blobs", "sha256", man[7:])))
    assert m["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    names = last_layer_names(engine, "hostile", tmp_path)
    assert "etc/.wh.passwd" in names and "usr/.wh..wh..opq" in names
    assert names.index("usr") < names.index("usr/.wh..wh..opq") < names.index("usr/only")
    assert len(diff_ids) == 2


def test_a_file_named_like_a_whiteout_is_refused(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN touch /tmp/.wh.sneaky\n")
    p = build(engine, "-t", "wh", str(ctx), check=False)
    assert p.returncode != 0 and "`tmp/.wh.sneaky`" in p.stderr
    assert os.listdir(os.path.join(engine.store, "tmp")) == []


def test_commit_a_container_change_and_delete(engine, tmp_path):
    cid = engine.run("run", "-d", "busybox", "sh", "-c",
                     "echo new > /newfile; rm /etc/group; mkdir -p /d/e; sleep 60").stdout.strip()
    for _ in range(100):
        if engine.run("exec", cid, "ls", "/d/e", check=False).returncode == 0:
            break
        time.sleep(0.05)
    image = engine.run("commit", "-m", "my change", "-c", 'CMD ["cat", "/newfile"]',
                       "-c", "ENV FOO=bar", "-c", "WORKDIR /d", cid, "committed:v1").stdout.strip()
    # frozen during the commit, running again after it
    assert engine.state(cid)["Status"] == "running"
    assert engine.run("exec", cid, "true", check=False).returncode == 0
    engine.run("rm", "-f", cid)
    assert engine.run("run", "--rm", "committed:v1").stdout == "new\n"
    out = engine.run("run", "--rm", "committed:v1", "sh", "-c",
                     "echo $FOO; pwd; ls /etc/group 2>&1; ls -d /d/e").stdout.splitlines()
    assert out[0] == "bar" and out[1] == "/d" and "No such file" in out[2] and out[3] == "/d/e"
    info = json.loads(engine.run("image", "inspect", "committed:v1").stdout)[0]
    assert info["Id"].endswith(image) or image in info["Id"]
    assert {"comment": "my change", "created_by": "nook commit"}.items() <= \
        info["History"][-1].items()
    # the engine's own mount points (/etc/hosts, ...) are not in the layer
    names = last_layer_names(engine, "committed:v1", tmp_path)
    assert "newfile" in names and "etc/.wh.group" in names
    assert not [n for n in names if n in ("etc/hosts", "etc/hostname", "etc/resolv.conf")]


def test_bad_input_is_one_line_naming_the_cause(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    cases = [
        ("FROM busybox\nFROB x\n", "Containerfile:2: unknown instruction `FROB`"),
        ("RUN true\n", "Containerfile:1: RUN before the first FROM"),
        ("# only a comment\n", "Containerfile: no FROM instruction"),
        ("FROM busybox\nCOPY ../etc/passwd /x\n", "`../etc/passwd` is outside the build context"),
        ("FROM busybox\nADD http://127.0.0.1:1/x /x\n", "ADD of a URL"),
        ("FROM busybox\nCOPY nothing-here /x\n", "nothing-here"),
        ("FROM busybox\nENV A=\"unterminated\n", "unterminated double quote"),
        ("FROM busybox\nSHELL sh -c\n", "Containerfile:2: SHELL takes a JSON array"),
        ("FROM busybox\nRUN --mount=type=cache,target=/x true\n",
         "Containerfile:2: RUN: --mount=type=cache,target=/x: type=cache is not supported"),
        ("FROM busybox\nRUN --network=none true\n",
         "Containerfile:2: RUN: option `--network` is not supported"),
    ]
    # a link in the context resolves inside the context, never to the host
    os.symlink("/etc/passwd", ctx / "escape")
    os.symlink("../../../../../../etc", ctx / "up")
    cases += [("FROM busybox\nCOPY escape /x\n", "source `escape`: No such file"),
              ("FROM busybox\nCOPY up/passwd /x\n", "source `up/passwd`: No such file")]
    for text, want in cases:
        (ctx / "Containerfile").write_text(text)
        p = build(engine, "-t", "bad", str(ctx), check=False)
        assert p.returncode != 0, text
        assert want in p.stderr, (text, p.stderr)
    assert "bad" not in engine.run("images").stdout
    p = build(engine, "--build-arg", "=x", str(ctx), check=False)
    assert p.returncode != 0 and "--build-arg `=x`" in p.stderr
    p = build(engine, "--target", "nope", str(ctx), check=False)
    (ctx / "Containerfile").write_text("FROM busybox AS a\n")
    p = build(engine, "--target", "nope", str(ctx), check=False)
    assert p.returncode != 0 and "--target nope" in p.stderr
    assert os.listdir(os.path.join(engine.store, "tmp")) == []


def test_containerfile_on_stdin_and_target_stage(engine, tmp_path):
    text = "FROM busybox AS one\nRUN echo one > /which\nFROM busybox\nRUN echo two > /which\n"
    p = engine.run("build", "-t", "st", "--target", "one", "-", input=text)
    assert "STEP 3/" not in p.stderr.replace("STEP 3/2", "")
    assert engine.run("run", "--rm", "st", "cat", "/which").stdout == "one\n"


def test_kill_9_mid_run_is_cleaned_up_by_the_next_build(engine, tmp_path):
    import subprocess
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo started; sleep 60\n")
    p = engine.popen("build", "-t", "killed", str(ctx), stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
    assert p.stdout.readline() == b"started\n"
    p.kill()
    p.wait()
    p.stdout.close()
    assert [d for d in os.listdir(engine.root) if d.startswith("nook-build-")]
    assert engine.cgroup_dirs(), "the orphaned RUN container is still there"
    engine.run("build", "-q", "-", input="FROM busybox\nRUN true\n")
    assert os.listdir(engine.root) == []
    assert engine.cgroup_dirs() == []
    assert os.listdir(os.path.join(engine.store, "tmp")) == []


def test_stage_from_stage_scratch_and_copy_from_an_image(engine, tmp_path):
    text = ("FROM busybox AS one\nRUN echo one > /which\n"
            "FROM one AS derived\nRUN cat /which /which > /copy\n"
            "FROM scratch\nCOPY --from=derived /copy /copy\n"
            "COPY --from=busybox /bin/busybox /bin/busybox\n"
            "CMD [\"/bin/busybox\", \"cat\", \"/copy\"]\n")
    engine.run("build", "-t", "fromscratch", "-", input=text)
    assert engine.run("run", "--rm", "fromscratch").stdout == "one\none\n"
    info = json.loads(engine.run("image", "inspect", "fromscratch").stdout)[0]
    assert len(info["RootFS"]["Layers"]) == 2
    assert not info["Config"].get("Env"), "scratch stages have no environment"


def test_cache_outlives_rmi_and_goes_with_prune(engine, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo x > /x\n")
    first = build(engine, "-t", "c1", str(ctx)).stdout
    made = layer_dirs(engine)
    engine.run("rmi", "c1")
    assert layer_dirs(engine) == made, "the cache keeps its layers"
    again = build(engine, "-t", "c1", str(ctx))
    assert again.stdout == first and "Using cache" in again.stderr
    engine.run("rmi", "c1")
    engine.run("image", "prune", "-a", "-f", check=False)
    assert not os.path.exists(os.path.join(engine.store, "build-cache.json"))
    assert len(layer_dirs(engine)) < len(made)
    assert "Using cache" not in build(engine, "-t", "c1", str(ctx)).stderr


def test_run_has_no_network_unless_host_is_asked(engine, tmp_path):
    text = "FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /nets\n"
    engine.run("build", "-t", "net:none", "-", input=text)
    assert engine.run("run", "--rm", "net:none", "cat", "/nets").stdout.split() == ["lo"]
    engine.run("build", "--network", "host", "-t", "net:host", "-", input=text)
    host = sorted(os.listdir("/sys/class/net"))
    assert sorted(engine.run("run", "--rm", "net:host", "cat", "/nets").stdout.split()) == host
    p = engine.run("build", "--network", "bridge", "-", input=text, check=False)
    assert p.returncode != 0 and "--network `bridge`: none or host" in p.stderr


def test_onbuild_triggers_run_after_from_and_are_not_inherited(engine, tmp_path):
    engine.run("build", "-t", "ob:base", "-", input="FROM busybox\n"
               "ONBUILD RUN echo triggered > /trig\nONBUILD ENV FROM_TRIGGER=1\n")
    p = engine.run("build", "-t", "ob:child", "-",
                   input="FROM ob:base\nRUN cat /trig > /seen && echo $FROM_TRIGGER >> /seen\n")
    assert "ONBUILD RUN echo triggered" in p.stderr
    assert run_in(engine, "ob:child", "cat /seen") == "triggered\n1\n"
    assert config_of(engine, "ob:child").get("OnBuild") in (None, [])
    # a grandchild: the child has no triggers left
    engine.run("build", "-t", "ob:grand", "-", input="FROM ob:child\nRUN rm /trig\n")
    assert "No such file" in engine.run("run", "--rm", "ob:grand", "cat", "/trig",
                                        check=False).stderr
    engine.run("build", "-t", "ob:bad", "-", input="FROM busybox\nONBUILD RUN exit 3\n")
    p = engine.run("build", "-", input="FROM ob:bad\n", check=False)
    assert p.returncode != 0 and "the base's ONBUILD: <stdin>:1: RUN" in p.stderr \
        and "code 3" in p.stderr


def all_layer_bytes(engine, image, tmp_path):
    """Every file name and byte of every layer of `nook save`."""
    out = tmp_path / "save.tar"
    engine.run("save", "-o", str(out), image)
    names, data = [], b""
    with tarfile.open(out) as outer:
        for m in outer.getmembers():
            if not m.isfile():
                continue
            blob = outer.extractfile(m).read()
            try:
                inner = tarfile.open(fileobj=io.BytesIO(blob))
                for im in inner.getmembers():
                    names.append(im.name)
                    if im.isfile():
                        data += inner.extractfile(im).read()
            except tarfile.TarError:
                data += blob
    return names, data


def test_secret_is_seen_by_its_run_only_and_never_in_a_layer(engine, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value-42\n")
    text = ("FROM busybox\n"
            "RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len\n"
            "RUN --mount=type=secret,id=tok,target=/etc/tok.conf wc -l < /etc/tok.conf"
            " > /count\n"
            "RUN ls /run/secrets /etc/tok.conf > /after 2>&1 || true\n")
    engine.run("build", "-t", "sec:1", "--secret", f"id=tok,src={secret}", "-", input=text)
    # readable during its RUN (the RUN wrote what it read), gone afterwards
    assert run_in(engine, "sec:1", "cat /len /count").split() == ["16", "1"]
    assert "No such file" in run_in(engine, "sec:1", "cat /after")
    names, data = all_layer_bytes(engine, "sec:1", tmp_path)
    assert b"s3cr3t" not in data and data.count(b"16\n") == 1
    # ... nor the secret's mount point
    assert not [n for n in names if "run/secrets" in n or n.endswith("tok.conf")], names
    # a changed secret does not change the cache key: the rebuild is all cache
    secret.write_text("other\n")
    p = engine.run("build", "-t", "sec:2", "--secret", f"id=tok,src={secret}", "-", input=text)
    assert p.stdout == engine.run("build", "-q", "--secret", f"id=tok,src={secret}", "-",
                                  input=text).stdout
    assert run_in(engine, "sec:2", "cat /len").strip() == "16"
    # without --secret: an optional secret is absent, a required one an error
    p = engine.run("build", "-", input="FROM busybox\nRUN --mount=type=secret,id=tok,required"
                   " cat /run/secrets/tok\n", check=False)
    assert p.returncode != 0 and "<stdin>:2: RUN" in p.stderr and "no --secret id=tok" in p.stderr
    p = engine.run("build", "-", input="FROM busybox\nRUN --mount=type=tmpfs,target=/x true\n",
                   check=False)
    assert p.returncode != 0 and "<stdin>:2: RUN" in p.stderr and "type=tmpfs" in p.stderr
    p = engine.run("build", "--secret", f"id=x,src={tmp_path}/nope", "-", input="FROM busybox\n",
                   check=False)
    assert p.returncode != 0 and "--secret" in p.stderr and "nope" in p.stderr


@pytest.fixture
def reg(tmp_path):
    from images_util import Registry
    r = Registry(str(tmp_path / "reg"))
    yield r
    r.close()


def push_base(reg, tmp_path, tag, plats):
    """An index of one image per (arch, content of /plat) pushed as base:TAG."""
    from images_util import Layer, OCILayout
    lay = OCILayout(str(tmp_path / f"layout-{tag}"))
    entries = [(lay.image([Layer([("file", "plat", text)])], arch=arch), ("linux", arch))
               for arch, text in plats]
    lay.tag(lay.index(entries), tag)
    reg.push(lay.path, tag, f"base:{tag}", all_=True)
    return f"{reg.host}/base:{tag}"


def test_pull_and_platform_choose_the_from_image(engine, reg, tmp_path):
    ref = push_base(reg, tmp_path, "v1", [("amd64", "amd64-v1"), ("arm64", "arm64-v1")])
    copy = f"FROM {ref} AS base\nFROM scratch\nCOPY --from=base /plat /plat\n"

    def plat(image):
        data = all_layer_bytes(engine, image, tmp_path)[1]
        return set(re.findall(rb"a[a-z]*64-v[0-9]", data))

    engine.run("build", "-t", "p:1", "-", input=copy)
    assert plat("p:1") == {b"amd64-v1"}
    # a new v1 in the registry: the store's copy serves until --pull
    push_base(reg, tmp_path, "v1", [("amd64", "amd64-v2")])
    engine.run("build", "-t", "p:2", "-", input=copy)
    assert plat("p:2") == {b"amd64-v1"}
    p = engine.run("build", "--pull", "-t", "p:3", "-", input=copy)
    assert "pulling " + ref in p.stderr
    assert plat("p:3") == {b"amd64-v2"}
    # another platform of the index: recorded in the result's config
    ref = push_base(reg, tmp_path, "multi", [("amd64", "amd64"), ("arm64", "arm64")])
    engine.run("build", "--platform", "linux/arm64", "-t", "p:arm", "-",
               input=f"FROM {ref}\nLABEL a=b\n")
    info = json.loads(engine.run("image", "inspect", "p:arm").stdout)[0]
    assert info["Architecture"] == "arm64" and info["Os"] == "linux"
    names, data = all_layer_bytes(engine, "p:arm", tmp_path)
    assert b"arm64" in data and b"amd64" not in data.replace(b'"amd64"', b"")
    # which this machine cannot RUN: one line, file:line
    p = engine.run("build", "--platform", "linux/arm64", "-", check=False,
                   input=f"FROM {ref}\nRUN true\n")
    assert p.returncode != 0
    err = [l for l in p.stderr.splitlines() if not l.startswith(("STEP", "pulling"))]
    assert len(err) == 1 and "<stdin>:2: RUN" in err[0] and "linux/arm64" in err[0], p.stderr
    engine.run("build", "--platform", "linux/arm64", "-t", "p:scratch", "-",
               input="FROM scratch\nLABEL a=b\n")
    assert json.loads(engine.run("image", "inspect", "p:scratch").stdout)[0]["Architecture"] \
        == "arm64"
    p = engine.run("build", "--platform", "arm64", "-", input="FROM scratch\n", check=False)
    assert p.returncode != 0 and "--platform" in p.stderr and "os/arch" in p.stderr


def test_progress_on_a_tty_is_one_redrawn_line_per_step(engine, tmp_path):
    import pty
    import select
    text = b"FROM busybox\nRUN sleep 0.4; echo out-of-run\nENV A=1\n"
    master, slave = pty.openpty()
    p = engine.popen("build", "-t", "tty:1", "-", stdin=subprocess.PIPE, stdout=slave,
                     stderr=slave)
    os.close(slave)
    p.stdin.write(text)
    p.stdin.close()
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 30)
        try:
            chunk = os.read(master, 65536) if r else b""
        except OSError:  # EIO: the other side closed
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=30) == 0, out
    text = out.decode(errors="replace")
    # each step's line ends with its time; the RUN's was redrawn while it ran
    done = re.findall(r"\r\x1b\[K(STEP \d/3: [^\r\n]*?) done (\d+\.\d)s\r?\n", text)
    assert [d[0] for d in done] == ["STEP 1/3: FROM busybox",
                                    "STEP 2/3: RUN sleep 0.4; echo out-of-run",
                                    "STEP 3/3: ENV A=1"], text
    assert float(done[1][1]) >= 0.4
    redraws = re.findall(r"\r\x1b\[KSTEP 2/3: RUN sleep 0.4; echo out-of-run \d+\.\ds", text)
    assert len(redraws) >= 3, text
    assert "out-of-run" in text.replace("RUN sleep 0.4; echo out-of-run", "")
    # not a terminal: plain lines
    p = engine.run("build", "-", input=text and "FROM busybox\nENV A=1\n")
    assert "\x1b" not in p.stderr and p.stderr.splitlines()[:2] == ["STEP 1/2: FROM busybox",
                                                                   "STEP 2/2: ENV A=1"]


def test_copy_globs_match_dotfiles_and_keep_hardlinks(engine, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "d").mkdir(parents=True)
    (ctx / ".hidden").write_text("h\n")
    (ctx / "d" / ".dot").write_text("dot\n")
    (ctx / "d" / "plain").write_text("p\n")
    (ctx / "d" / "a").write_text("linked\n")
    os.link(ctx / "d" / "a", ctx / "d" / "b")
    os.link(ctx / "d" / "a", ctx / "d" / ".c")
    (ctx / "Containerfile").write_text(
        "FROM busybox\nCOPY * /all/\nCOPY d/.* /dots/\nCOPY d /links/\n")
    engine.run("build", "-t", "glob:1", str(ctx))
    out = run_in(engine, "glob:1", "ls -A /all | tr '\\n' ' '; echo; ls -A /dots | tr '\\n' ' ';"
                 "echo; stat -c '%i %h %n' /links/a /links/b /links/.c /links/plain")
    lines = out.splitlines()
    # as Docker: a directory matched gives its contents
    assert set(lines[0].split()) == {".hidden", "Containerfile", ".c", ".dot", "a", "b", "plain"}
    assert lines[1].split() == [".c", ".dot"]
    inodes = [l.split() for l in lines[2:]]
    assert inodes[0][0] == inodes[1][0] == inodes[2][0] and inodes[0][1] == "3"
    assert inodes[3][1] == "1" and inodes[3][0] != inodes[0][0]


def test_add_of_a_url_needs_the_host_network_and_checks_the_checksum(engine, tmp_path):
    import hashlib
    import http.server
    import threading
    served = tmp_path / "www"
    served.mkdir()
    body = b"fetched over http\n"
    (served / "file.txt").write_bytes(body)

    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/file.txt"
        good = "sha256:" + hashlib.sha256(body).hexdigest()
        text = f"FROM busybox\nADD --checksum={good} {url} /dl/\nADD {url} /named\n"
        p = engine.run("build", "-", input=text, check=False)
        assert p.returncode != 0 and "<stdin>:2: ADD of a URL" in p.stderr \
            and "--network host" in p.stderr
        engine.run("build", "--network", "host", "-t", "url:1", "-", input=text)
        out = run_in(engine, "url:1", "cat /dl/file.txt /named; stat -c %a /named")
        assert out == body.decode() * 2 + "600\n"
        bad = "sha256:" + "0" * 64
        p = engine.run("build", "--network", "host", "-", check=False,
                       input=f"FROM busybox\nADD --checksum={bad} {url} /x\n")
        assert p.returncode != 0 and "<stdin>:2" in p.stderr and bad in p.stderr \
            and good in p.stderr
        p = engine.run("build", "--network", "host", "-", check=False,
                       input=f"FROM busybox\nADD {url[:-4]}nope /x\n")
        assert p.returncode != 0 and "<stdin>:2" in p.stderr and "404" in p.stderr
        # the cache key is what came: a changed file is fetched and added again
        (served / "file.txt").write_bytes(b"changed\n")
        engine.run("build", "--network", "host", "-t", "url:2", "-",
                   input=f"FROM busybox\nADD {url} /named\n")
        assert run_in(engine, "url:2", "cat /named") == "changed\n"
    finally:
        srv.shutdown()
        srv.server_close()
    assert not [n for n in os.listdir(os.path.join(engine.store, "tmp")) if "addurl" in n]


def test_run_mount_bind_of_the_context(engine, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "run.sh").write_text("cat /m/data; touch /m/new 2>/dev/null || echo ro\n")
    (ctx / "sub" / "data").write_text("v1\n")
    text = ("FROM busybox\n"
            "RUN --mount=type=bind,source=sub,target=/m sh /m/run.sh > /out\n"
            "RUN --mount=type=bind,source=esc,target=/up ls /up > /up.txt\n")
    (ctx / "Containerfile").write_text(text)
    os.symlink("/", ctx / "esc")
    engine.run("build", "-t", "bind:1", str(ctx))
    assert run_in(engine, "bind:1", "cat /out; ls -d /m 2>&1; true") == "v1\nro\n" \
        "ls: /m: No such file or directory\n"
    # a link to / resolves inside the context, not to the host's /
    assert sorted(run_in(engine, "bind:1", "cat /up.txt").split()) == ["Containerfile", "esc",
                                                                       "sub"]
    # the bound content is in the cache key
    (ctx / "sub" / "data").write_text("v2\n")
    engine.run("build", "-t", "bind:2", str(ctx))
    assert run_in(engine, "bind:2", "cat /out") == "v2\nro\n"
    p = engine.run("build", "-", check=False,
                   input="FROM busybox\nRUN --mount=type=bind,target=/m true\n")
    assert p.returncode != 0 and "<stdin>:2: RUN" in p.stderr and "build context" in p.stderr
    (ctx / "Containerfile").write_text("FROM busybox\nRUN --mount=type=bind,source=..,target=/m "
                                       "true\n")
    p = engine.run("build", str(ctx), check=False)
    assert p.returncode != 0 and "Containerfile:2: RUN" in p.stderr and "outside" in p.stderr
