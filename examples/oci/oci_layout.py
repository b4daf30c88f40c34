#!/usr/bin/env python3
"""Packs the Tollgate filter as a Wasm OCI image in an OCI image layout directory.

The image is the "compat" variant of the Wasm image spec that Istio's and Envoy
Gateway's image fetchers accept (pkg/wasm/imagefetcher.go in both): one layer of media
type `application/vnd.oci.image.layer.v1.tar+gzip` holding `plugin.wasm`. Being an
ordinary OCI image, it also mounts as a Kubernetes image volume, which puts
`plugin.wasm` at the mount path for Envoys that load the module from a file.
(The "oci" variant, a raw `application/vnd.module.wasm.content.layer.v1+wasm` layer,
must have exactly two layers for those fetchers and is not mountable; not built.)

The output is byte-for-byte reproducible (fixed timestamps, owners and gzip header), so
the digest printed is the one to pin (`sha256` in a WasmPlugin, `image.sha256` in an
EnvoyExtensionPolicy). No registry is needed to build; to publish, copy the layout:

    oras cp --from-oci-layout DIR:TAG REGISTRY/REPO:TAG
    skopeo copy oci:DIR:TAG docker://REGISTRY/REPO:TAG

    python3 examples/oci/oci_layout.py FILTER.wasm OUT_DIR [--tag 0.1.0]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
WASM_NAME = "plugin.wasm"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(wasm: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(WASM_NAME)
        info.size = len(wasm)
        info.mode = 0o444
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def build(wasm: bytes, tag: str, created_by: str = "examples/oci/oci_layout.py") -> dict[str, bytes]:
    """All blobs of the image by digest, plus 'index.json' and 'oci-layout'."""
    tar = layer_tar(wasm)
    # mtime=0 keeps the gzip header, and so the digest, reproducible.
    layer = gzip.compress(tar, compresslevel=9, mtime=0)
    config = json.dumps({
        # Platform fields for runtimes that match images to nodes (image volumes);
        # the Wasm module itself runs anywhere Envoy does.
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.opencontainers.image.title": "tollgate-filter"}},
        "rootfs": {"type": "layers", "diff_ids": [digest(tar)]},
        "history": [{"created_by": created_by}],
    }, sort_keys=True, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer),
                    "annotations": {"org.opencontainers.image.title": WASM_NAME}}],
        "annotations": {"org.opencontainers.image.title": "tollgate-filter",
                        "org.opencontainers.image.version": tag},
    }, sort_keys=True, separators=(",", ":")).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{"mediaType": MANIFEST_TYPE, "digest": digest(manifest), "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }, sort_keys=True, separators=(",", ":")).encode()
    files = {f"blobs/sha256/{digest(b).split(':')[1]}": b for b in (layer, config, manifest)}
    files["index.json"] = index
    files["oci-layout"] = json.dumps(OCI_LAYOUT).encode()
    return files


def write(out: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main() -> int:
    ap = argparse.ArgumentParser(description="Pack tollgate_filter.wasm as a Wasm OCI image layout.")
    ap.add_argument("wasm", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tag", default="0.1.0")
    args = ap.parse_args()
    files = build(args.wasm.read_bytes(), args.tag)
    write(args.out, files)
    manifest_digest = json.loads(files["index.json"])["manifests"][0]["digest"]
    print(f"{args.out}:{args.tag} {manifest_digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
