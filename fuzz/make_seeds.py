#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora under fuzz/corpus/ (committed; rerun only to change them).

Seeds are tiny valid files of each format, so the fuzzers start from inputs that reach deep into
each reader instead of rediscovering the format: PNGs of every colour type, JPEGs (written with
stb_image_write, the writer diffinv links), a zip and a legacy .pt state dict, safetensors, and
the project's own task and model configs.
"""
import json, os, shutil, struct, subprocess, sys, tempfile, zipfile, zlib

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def png(width, height, color_type, bit_depth, rows, plte=None, interlace=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte:
        out += chunk(b"PLTE", plte)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def images():
    put("image", "gray.png", png(4, 3, 0, 8, [bytes([16 * x + y for x in range(4)]) for y in range(3)]))
    put("image", "rgb.png", png(3, 2, 2, 8, [bytes(range(9)), bytes(range(9, 18))]))
    put("image", "rgba.png", png(2, 2, 6, 8, [bytes(range(8)), bytes(range(8, 16))]))
    put("image", "gray_alpha.png", png(2, 2, 4, 8, [bytes([1, 2, 3, 4]), bytes([5, 6, 7, 8])]))
    put("image", "rgb16.png", png(2, 1, 2, 16, [bytes(range(12))]))
    put("image", "palette.png", png(4, 1, 3, 2, [bytes([0b00011011])], plte=bytes(range(12))))
    put("image", "interlaced.png", png(9, 9, 0, 8, [bytes(range(9))] * 9, interlace=1))
    # JPEGs: stb_image_write's writer (libstb-dev), the same library family diffinv reads with.
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "w.c")
        with open(src, "w") as f:
            f.write('#define STB_IMAGE_WRITE_IMPLEMENTATION\n#include <stb/stb_image_write.h>\n'
                    'int main(int c, char** v) { unsigned char p[8 * 8 * 3];\n'
                    '  for (int i = 0; i < 8 * 8 * 3; ++i) p[i] = (unsigned char)(i * 7);\n'
                    '  return !(stbi_write_jpg(v[1], 8, 8, 1, p, 90) && stbi_write_jpg(v[2], 8, 8, 3, p, 50)); }\n')
        exe = os.path.join(tmp, "w")
        subprocess.run(["cc", "-O1", "-o", exe, src, "-lm"], check=True)
        subprocess.run([exe, os.path.join(tmp, "g.jpg"), os.path.join(tmp, "c.jpg")], check=True)
        for name in ("g.jpg", "c.jpg"):
            put("image", name, open(os.path.join(tmp, name), "rb").read())


def X(s):  # pickle BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def state_dict_pickle(storage_pid):
    """OrderedDict {'w': 2x3 float tensor, transposed view of 6 floats; 'b': int64 scalar}."""
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\n"
    w = (rebuild + b"((" + X("storage") + b"ctorch\nFloatStorage\n" + storage_pid("0", 6) + b"tQ"
         + b"K\x00K\x02K\x03\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)RtR")
    b = (rebuild + b"((" + X("storage") + b"ctorch\nLongStorage\n" + storage_pid("1", 1) + b"tQ"
         + b"K\x00)))\x89ccollections\nOrderedDict\n)RtR")
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + X("w") + w + X("b") + b + b"u."


def checkpoints():
    floats = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    longs = struct.pack("<q", 17)
    # torch.save since 1.6: a zip whose data.pkl names storages by key; PIDs are BINPERSID tuples.
    pkl = state_dict_pickle(lambda key, n: X(key) + X("cpu") + b"K" + bytes([n]))
    for name, method in (("stored.pt", zipfile.ZIP_STORED), ("deflated.pt", zipfile.ZIP_DEFLATED)):
        path = os.path.join(tempfile.gettempdir(), name)
        with zipfile.ZipFile(path, "w", method) as z:
            z.writestr("archive/data.pkl", pkl)
            z.writestr("archive/byteorder", b"little")
            z.writestr("archive/data/0", floats)
            z.writestr("archive/data/1", longs)
            z.writestr("archive/version", b"3\n")
        put("torch_pt", name, open(path, "rb").read())
        os.remove(path)
    # The legacy (pre-1.6) format: magic, protocol 1001, sys_info, the pickle, its storage keys,
    # then each storage as <int64 count><data>.
    legacy = (b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." + b"\x80\x02M\xe9\x03."
              + b"\x80\x02}" + X("little_endian") + b"\x88s." + pkl + b"\x80\x02]" + X("0") + b"a" + X("1") + b"a."
              + struct.pack("<q", 6) + floats + struct.pack("<q", 1) + longs)
    put("torch_pt", "legacy.pt", legacy)
    # safetensors: header length, JSON header, data buffer tiled exactly by the tensors.
    header = {"__metadata__": {"format": "pt"},
              "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [], "data_offsets": [24, 32]},
              "h": {"dtype": "F16", "shape": [0], "data_offsets": [32, 32]}}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    put("safetensors", "small.safetensors", struct.pack("<Q", len(h)) + h + floats + longs)
    put("safetensors", "empty.safetensors", struct.pack("<Q", 8) + b"{}      ")


def configs():
    for harness, folder in (("task_config", "configs/tasks"), ("model_config", "configs/models")):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if name.endswith(".yaml"):
                    rel = os.path.relpath(os.path.join(dirpath, name), os.path.join(root, folder))
                    put(harness, rel.replace("/", "_"), open(os.path.join(dirpath, name), "rb").read())


if __name__ == "__main__":
    shutil.rmtree(corpus, ignore_errors=True)
    images()
    checkpoints()
    configs()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(corpus) for f in fs)
    print(f"seed corpora in {corpus}: {total} bytes", file=sys.stderr)
