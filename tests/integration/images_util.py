"""Helpers for the image tests: layer tarballs, OCI layouts and docker
archives built in Python, a docker-registry (Debian's docker-registry) on
loopback, a small bearer-token server, and a fake registry for the
failure cases a real one will not produce (dropped connections, stalls,
unknown media types)."""
import base64
import contextlib
import datetime
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = MT_LAYER + "+gzip"
MT_LAYER_ZSTD = MT_LAYER + "+zstd"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- tarballs ---------------------------------------------------------------

def _info(name, type_, mode, uid=0, gid=0, mtime=1600000000):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = mtime
    return ti


def make_tar(entries):
    """entries: tuples
         ("dir", name[, mode])            ("file", name, data[, mode])
         ("symlink", name, target)        ("hardlink", name, target)
         ("char", name, major, minor)     ("fifo", name)
       or a ready tarfile.TarInfo (with .data attribute for files).
    Returns the uncompressed tar bytes (PAX)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                data = getattr(e, "data", None)
                t.addfile(e, io.BytesIO(data) if data is not None else None)
                continue
            kind, name = e[0], e[1]
            if kind == "dir":
                t.addfile(_info(name, tarfile.DIRTYPE, e[2] if len(e) > 2 else 0o755))
            elif kind == "file":
                data = e[2] if isinstance(e[2], bytes) else e[2].encode()
                ti = _info(name, tarfile.REGTYPE, e[3] if len(e) > 3 else 0o644)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            elif kind == "symlink":
                ti = _info(name, tarfile.SYMTYPE, 0o777)
                ti.linkname = e[2]
                t.addfile(ti)
            elif kind == "hardlink":
                ti = _info(name, tarfile.LNKTYPE, 0o644)
                ti.linkname = e[2]
                t.addfile(ti)
            elif kind == "char":
                ti = _info(name, tarfile.CHRTYPE, 0o600)
                ti.devmajor, ti.devminor = e[2], e[3]
                t.addfile(ti)
            elif kind == "fifo":
                t.addfile(_info(name, tarfile.FIFOTYPE, 0o644))
            else:
                raise ValueError(kind)
    return buf.getvalue()


def compress(data, how):
    if how is None:
        return data, MT_LAYER
    if how == "gzip":
        return gzip.compress(data, mtime=0), MT_LAYER_GZIP
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True)
        return out.stdout, MT_LAYER_ZSTD
    raise ValueError(how)


class Layer:
    def __init__(self, entries, compression="gzip"):
        self.tar = make_tar(entries) if isinstance(entries, list) else entries
        self.diff_id = sha256(self.tar)
        self.blob, self.media_type = compress(self.tar, compression)
        self.digest = sha256(self.blob)


def image_config(layers, arch="amd64", os_="linux", cmd=("sh",), variant=None):
    cfg = {
        "created": "2024-05-01T12:00:00Z",
        "architecture": arch,
        "os": os_,
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
    }
    if variant:
        cfg["variant"] = variant
    return json.dumps(cfg).encode()


# ---- OCI layouts and docker archives ---------------------------------------

class OCILayout:
    """An OCI image layout directory written by hand."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        self.refs = []

    def blob(self, data, media_type):
        d = sha256(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": d, "size": len(data)}

    def image(self, layers, config=None, **kw):
        cfg = self.blob(config or image_config(layers, **kw), MT_OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": cfg,
                    "layers": [self.blob(l.blob, l.media_type) for l in layers]}
        return self.blob(json.dumps(manifest).encode(), MT_OCI_MANIFEST)

    def index(self, entries):
        """entries: [(manifest descriptor, (os, arch[, variant]))]"""
        manifests = []
        for desc, plat in entries:
            d = dict(desc)
            d["platform"] = {"os": plat[0], "architecture": plat[1]}
            if len(plat) > 2:
                d["platform"]["variant"] = plat[2]
            manifests.append(d)
        body = json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                           "manifests": manifests}).encode()
        return self.blob(body, MT_OCI_INDEX)

    def tag(self, desc, name):
        d = dict(desc)
        d["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(d)
        self.write()

    def write(self):
        with open(os.path.join(self.path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": self.refs}, f)


def docker_archive(path, images):
    """images: [(repo_tags, [Layer...])]; layers are stored uncompressed,
    the way `docker save` writes them."""
    manifest = []
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for tags, layers in images:
            cfg = image_config(layers)
            cname = sha256(cfg)[7:] + ".json"
            add(cname, cfg)
            paths = []
            for l in layers:
                p = l.diff_id[7:] + "/layer.tar"
                if p not in [m for e in manifest for m in e["Layers"]] + paths:
                    add(p, l.tar)
                paths.append(p)
            manifest.append({"Config": cname, "RepoTags": tags, "Layers": paths})
        add("manifest.json", json.dumps(manifest).encode())
    return path


# ---- processes and ports ---------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def stop(proc):
    """End a process we started, by its PID."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- Debian's docker-registry ------------------------------------------------

class Registry:
    """docker-registry on 127.0.0.1:<free port>, storage and config in dir."""

    def __init__(self, dir_, auth=None, accesslog=False):
        self.dir = dir_
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.data = os.path.join(dir_, "data")
        os.makedirs(self.data, exist_ok=True)
        cfg = ["version: 0.1", "log:", "  level: error", "  accesslog:",
               f"    disabled: {'false' if accesslog else 'true'}",
               "storage:", "  filesystem:", f"    rootdirectory: {self.data}",
               "  delete:", "    enabled: true", "http:", f"  addr: {self.host}",
               "  secret: nook-test-secret"]
        if auth:
            cfg += ["auth:", "  token:", f"    realm: {auth.realm}", f"    service: {auth.service}",
                    f"    issuer: {auth.issuer}", f"    rootcertbundle: {auth.cert_path}"]
        self.config = os.path.join(dir_, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(dir_, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def close(self):
        stop(self.proc)
        self.log.close()

    def requests(self):
        """(method, path) of every request so far (needs accesslog=True)."""
        self.log.flush()
        out = []
        with open(os.path.join(self.dir, "registry.log")) as f:
            for line in f:
                q = line.split('"')
                if len(q) > 1 and len(q[1].split()) >= 2:
                    out.append(tuple(q[1].split()[:2]))
        return out

    def blob_path(self, digest):
        hexd = digest[7:]
        return os.path.join(self.data, "docker", "registry", "v2", "blobs", "sha256", hexd[:2],
                            hexd, "data")

    def push(self, layout, tag, dest, creds=None, all_=False):
        args = ["skopeo", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests"]
        if all_:
            args.append("--all")
        if creds:
            args += ["--dest-creds", creds]
        args += [f"oci:{layout}:{tag}", f"docker://{self.host}/{dest}"]
        subprocess.run(args, check=True, capture_output=True, timeout=120)


# ---- bearer tokens -----------------------------------------------------------

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues RS256 JWTs (x5c header) the registry verifies against
    rootcertbundle, to clients presenting user:password as Basic auth."""

    def __init__(self, dir_, user, password, public_prefix=None):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        self.user, self.password = user, password
        # Repositories under this prefix get pull tokens without credentials.
        self.public_prefix = public_prefix
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nook-test-token")])
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(dir_, "token-cert.pem")
        with open(self.cert_path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.service, self.issuer = "nook-test-registry", "nook-test-issuer"
        self.requests = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        access = []
        for scope in " ".join(scopes).split():
            typ, rest = scope.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(self.der).decode()]}
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.service, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64url(sig)

    def _handler(self):
        ts = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                want = "Basic " + base64.b64encode(f"{ts.user}:{ts.password}".encode()).decode()
                ts.requests.append((self.path, auth))
                scopes = " ".join(q.get("scope", [])).split()
                anonymous_ok = (not auth and ts.public_prefix and scopes and all(
                    sc.startswith(f"repository:{ts.public_prefix}") and sc.endswith(":pull")
                    for sc in scopes))
                if auth != want and not anonymous_ok:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"token": ts.token(q.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        return H

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- a fake registry for failure injection -------------------------------

class FakeRegistry:
    """Serves manifests and blobs from dicts. Per-blob behaviour:
       blob_mode[digest] = ("drop", n)   send n bytes, then close the socket
                           ("stall", n)  send n bytes, wait for release, then close
                           ("pause", n)  send n bytes, wait for release, then the rest
       Range requests (resumes) are honoured and recorded."""

    def __init__(self):
        self.manifests = {}   # ref (tag or digest) -> (body, media type)
        self.blobs = {}       # digest -> bytes
        self.blob_mode = {}
        self.ranges = []      # (digest, Range header) of every blob request
        self.release = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_manifest(self, ref, body, media_type=MT_OCI_MANIFEST):
        self.manifests[ref] = (body, media_type)
        self.manifests[sha256(body)] = (body, media_type)

    def add_image(self, tag, layers, config=None):
        cfg = config or image_config(layers)
        self.blobs[sha256(cfg)] = cfg
        for l in layers:
            self.blobs[l.digest] = l.blob
        m = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
             "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
             "layers": [{"mediaType": l.media_type, "digest": l.digest, "size": len(l.blob)}
                        for l in layers]}
        body = json.dumps(m).encode()
        self.add_manifest(tag, body)
        return body

    def _handler(self):
        fr = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, body=b"", ctype="application/json", extra=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = self.path.split("/")
                if self.path in ("/v2/", "/v2"):
                    return self._send(200, b"{}")
                if len(parts) >= 5 and parts[-2] == "manifests":
                    m = fr.manifests.get(parts[-1])
                    if not m:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                    return self._send(200, m[0], m[1], {"Docker-Content-Digest": sha256(m[0])})
                if len(parts) >= 5 and parts[-2] == "blobs":
                    return self._blob(parts[-1])
                self._send(404)

            def _blob(self, digest):
                data = fr.blobs.get(digest)
                rng = self.headers.get("Range")
                fr.ranges.append((digest, rng))
                if data is None:
                    return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                mode = fr.blob_mode.get(digest)
                self.send_response(206 if rng else 200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if mode is None:
                    self.wfile.write(data[start:])
                    return
                self.wfile.write(data[start:start + mode[1]])
                self.wfile.flush()
                if mode[0] in ("stall", "pause"):
                    fr.release.wait(60)
                if mode[0] == "pause":
                    with contextlib.suppress(OSError):
                        self.wfile.write(data[start + mode[1]:])
                    return
                # Drop the connection mid-body.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
        return H

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# ---- store inspection -----------------------------------------------------

class Store:
    def __init__(self, nook, path):
        self.nook, self.path = nook, path

    def run(self, *args, check=True, input=None, env=None, timeout=120):
        e = dict(os.environ)
        e.pop("NOOK_STORE", None)
        e.update(env or {})
        p = subprocess.run([self.nook, "--store", self.path, *args], capture_output=True,
                           input=input, env=e, timeout=timeout)
        p.out, p.err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"nook {' '.join(args)}: exit {p.returncode}\n{p.out}\n{p.err}")
        return p

    def images(self):
        return json.loads(self.run("images", "--format", "json").out)

    def inspect(self, ref):
        return json.loads(self.run("image", "inspect", ref).out)[0]

    def layer_dir(self, diff_id):
        return os.path.join(self.path, "layers", diff_id[7:], "diff")



def store_snapshot(store):
    """What a failed operation must leave unchanged: names, blobs, layers."""
    names = {}
    p = os.path.join(store, "repositories.json")
    if os.path.exists(p):
        with open(p) as f:
            names = {k: v["manifest"] for k, v in json.load(f).items()}
    blobs = sorted(os.listdir(os.path.join(store, "blobs", "sha256")))
    layers = sorted(os.listdir(os.path.join(store, "layers")))
    return {"names": names, "blobs": blobs, "layers": layers}


def assert_store_consistent(store):
    """Every blob hashes to its name; every name's manifest, config and
    layer blobs are there, and every layer of its config is extracted."""
    bdir = os.path.join(store, "blobs", "sha256")
    for n in os.listdir(bdir):
        with open(os.path.join(bdir, n), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == n, f"blob {n} is corrupt"
    p = os.path.join(store, "repositories.json")
    names = {}
    if os.path.exists(p):
        with open(p) as f:
            names = json.load(f)
    for name, rec in names.items():
        with open(os.path.join(bdir, rec["manifest"][7:])) as f:
            manifest = json.load(f)
        assert manifest["config"]["digest"] == rec["config"], name
        with open(os.path.join(bdir, rec["config"][7:])) as f:
            config = json.load(f)
        # A layer's blob is kept unless its tar-split rebuilds it.
        for l, d in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
            assert (os.path.exists(os.path.join(bdir, l["digest"][7:])) or os.path.exists(
                os.path.join(store, "layers", d[7:], "tar-split.gz"))), f"{name}: {l['digest']}"
        for d in config["rootfs"]["diff_ids"]:
            ldir = os.path.join(store, "layers", d[7:])
            assert os.path.isdir(os.path.join(ldir, "diff")), f"{name}: layer {d}"
            with open(os.path.join(ldir, "info.json")) as f:
                assert json.load(f)["diff_id"] == d


def mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(prefix)]


def cleanup_store(nook, store):
    """Unmount what a test left mounted below the store, then remove it."""
    for mp in reversed(mounts_under(store)):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(store, ignore_errors=True)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def nook_path():
    """NOOK_BIN, or build/nook of this checkout."""
    path = os.environ.get("NOOK_BIN", os.path.join(REPO, "build", "nook"))
    assert os.access(path, os.X_OK), f"{path} is not built"
    return path


@contextlib.contextmanager
def temp_store(nook, tmp_path, create=False):
    """A Store under tmp_path; afterwards no mount may be left below
    tmp_path, and the store is removed. create: make it (with the default
    image) first, so snapshots start from a full store."""
    s = Store(nook, str(tmp_path / "store"))
    if create:
        s.run("images")
    yield s
    left = mounts_under(str(tmp_path))
    cleanup_store(nook, str(tmp_path))
    assert not left, f"mounts left behind: {left}"
