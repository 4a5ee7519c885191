/*
 * sniff.c — what is this file? Recognises the checkpoint containers by their first bytes, and
 * names the usual wrong files (a failed download's HTML page, a git-lfs pointer, an archive,
 * another framework's model) so the user learns what went wrong instead of "bad magic".
 */
#include <string.h>

#include "internal.h"

static bool starts(const uint8_t *p, size_t n, const void *magic, size_t m) {
    return n >= m && memcmp(p, magic, m) == 0;
}

/* Case-insensitive prefix test after leading whitespace (and a UTF-8 BOM). */
static bool starts_text_ci(const uint8_t *p, size_t n, const char *word) {
    size_t i = 0;
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) i = 3;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
    size_t m = strlen(word);
    if (n - i < m) return false;
    for (size_t k = 0; k < m; k++) {
        uint8_t c = p[i + k];
        if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)word[k]) return false;
    }
    return true;
}

/* The pickled magic number of torch's legacy format: PROTO 2, LONG1 10 bytes
 * 0x1950a86a20f9469cfc6c (little-endian), as serialization.py's MAGIC_NUMBER. */
static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                       0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

oc_kind oc_sniff(const uint8_t *p, size_t n, const char **what, const char **hint) {
    *what = "data of an unknown kind";
    *hint = "oclip reads PyTorch .bin/.pt/.pth files, TorchScript archives and .safetensors files";
    if (n == 0) {
        *what = "an empty file";
        *hint = "the download or copy was probably interrupted; fetch the file again";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "PK\x03\x04", 4) || starts(p, n, "PK\x05\x06", 4)) return OC_KIND_ZIP;
    if (starts(p, n, legacy_magic, sizeof legacy_magic)) return OC_KIND_TORCH_LEGACY;
    /* safetensors: u64 header length, then the JSON object of the header */
    if (n >= 9 && p[8] == '{') return OC_KIND_SAFETENSORS;

    if (starts_text_ci(p, n, "version https://git-lfs")) {
        *what = "a git-lfs pointer, not the weights it points to";
        *hint = "run `git lfs pull` in the repository, or download the file itself";
        return OC_KIND_OTHER;
    }
    if (starts_text_ci(p, n, "<!doctype html") || starts_text_ci(p, n, "<html") ||
        starts_text_ci(p, n, "<head") || starts_text_ci(p, n, "<?xml")) {
        *what = "an HTML/XML page (a failed download?)";
        *hint = "the server returned a web page instead of the file: check the URL, "
                "authentication (gated repositories) and network";
        return OC_KIND_OTHER;
    }
    if (starts_text_ci(p, n, "{") || starts_text_ci(p, n, "[")) {
        *what = "a JSON file";
        return OC_KIND_JSON;
    }
    if (starts(p, n, "\x1f\x8b", 2)) {
        *what = "gzip-compressed data";
        *hint = "decompress it first (gunzip); a .tar.gz must also be unpacked";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "\x28\xb5\x2f\xfd", 4)) {
        *what = "zstd-compressed data";
        *hint = "decompress it first (unzstd)";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "\xfd" "7zXZ", 6)) {
        *what = "xz-compressed data";
        *hint = "decompress it first (unxz)";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "BZh", 3)) {
        *what = "bzip2-compressed data";
        *hint = "decompress it first (bunzip2)";
        return OC_KIND_OTHER;
    }
    if (n > 262 && memcmp(p + 257, "ustar", 5) == 0) {
        *what = "a tar archive";
        *hint = "unpack it (tar xf) and pass the checkpoint inside";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "GGUF", 4)) {
        *what = "a GGUF file (llama.cpp/ggml)";
        *hint = "oclip reads the original PyTorch or safetensors weights, not GGUF conversions";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "\x93NUMPY", 6)) {
        *what = "a NumPy .npy array";
        *hint = "pass the model checkpoint, not an array";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "\x89HDF\r\n\x1a\n", 8)) {
        *what = "an HDF5 file (Keras/TensorFlow weights?)";
        return OC_KIND_OTHER;
    }
    if (p[0] == 0x80 && n >= 2 && p[1] >= 2 && p[1] <= 5) {
        *what = "a Python pickle that is not a PyTorch checkpoint";
        *hint = "oclip only reads pickles written by torch.save";
        return OC_KIND_OTHER;
    }
    /* ONNX ModelProto: field 1 (ir_version, varint) comes first in files written by the
     * exporters, followed by producer_name (field 2) or opset/graph fields. */
    if (n >= 4 && p[0] == 0x08 && p[1] > 0 && p[1] < 0x20 &&
        (p[2] == 0x12 || p[2] == 0x1a || p[2] == 0x3a || p[2] == 0x42)) {
        *what = "an ONNX model";
        *hint = "oclip reads the original PyTorch or safetensors weights, not ONNX exports";
        return OC_KIND_OTHER;
    }
    if (starts(p, n, "\x7f" "ELF", 4)) {
        *what = "an executable (ELF)";
        return OC_KIND_OTHER;
    }
    return OC_KIND_UNKNOWN;
}
