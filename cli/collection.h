/*
 * collection.h — the inputs of `oclip embed-dir` as one ordered stream of items (collection_walk.c)
 * and the files of its output folder (collection_out.c).
 *
 * Inputs, each of them one of:
 *   a folder     walked recursively, entries of each folder in byte order of their names
 *                (folders and files interleaved), names starting with '.' skipped, symlinked
 *                folders not followed; a file whose extension (any case) is an image's
 *                (jpg jpeg png webp bmp gif tif tiff ppm pgm pbm) is an item; PATH.txt beside
 *                IMAGE (same name without the extension) is its caption
 *   a .tar       a WebDataset shard (libarchive; .tar.gz, .tgz too): consecutive members with one
 *                key (the member's path up to the first '.' of its file name) are one sample;
 *                its image is the first member with an image extension, its caption the
 *                member ending in .txt, else the "caption" (or "text") string of a .json member
 *   any other file  a list: one image path a line (relative to the current folder), optionally
 *                followed by a TAB and its caption; empty lines skipped
 * Items are numbered 0, 1, 2 ... in that order (inputs in command-line order). An item that
 * cannot be an image (a sample without an image, a tar that stops mid-way) is still an item,
 * one that carries its error, so that the numbering depends only on the inputs.
 */
#ifndef OCLIP_CLI_COLLECTION_H
#define OCLIP_CLI_COLLECTION_H
#include <stddef.h>
#include <stdint.h>

/* Captions longer than this are cut (the tokenizer keeps only context_length tokens anyway). */
#define COLL_MAX_CAPTION (64u * 1024u)
/* Image files or tar members larger than this are an item error. */
#define COLL_MAX_IMAGE_BYTES ((size_t)256 << 20)

typedef struct {
    uint64_t seq;
    char *path;          /* the file (folder or list input), or the tar */
    char *key;           /* tar: the sample's key; NULL for files */
    char *member;        /* tar: the image member's name; NULL otherwise */
    unsigned char *data; /* tar: the image bytes; NULL for files (read by the decoder) */
    size_t size;
    char *caption;       /* NULL when there is none */
    size_t caption_len;
    char *error;         /* not an image at all (see above); NULL otherwise */
    int from_tar;        /* 1: path is a tar (key NULL: the tar itself failed) */
} coll_item;

typedef struct coll_walk coll_walk;

/* The walk over inputs[0..n). Fails (-1, why) when an input does not exist. count_only: items
 * are only counted (tar members skipped, captions not read): for a progress total. */
int coll_walk_open(const char *const *inputs, size_t n, int count_only, coll_walk **out,
                   char *why, size_t why_size);
/* The next item into *it (owned by the caller: coll_item_clear): 1; 0 at the end; -1 out of
 * memory (why). */
int coll_walk_next(coll_walk *w, coll_item *it, char *why, size_t why_size);
void coll_walk_free(coll_walk *w);
void coll_item_clear(coll_item *it);

/* 1 when NAME's extension (after the last '.', any case) is one of the image extensions. */
int coll_is_image_name(const char *name);

/* ---- the output folder (collection_out.c) ---- */

/* "DIR/img_emb/img_emb_0007.npy" etc. into buf; kind "img", "text" or "metadata". */
void coll_shard_path(char *buf, size_t size, const char *dir, const char *kind, uint64_t shard);
/* Writes len bytes to PATH atomically: PATH.tmp, fsync, rename, fsync of the folder. 0 or -1
 * with errno set. */
int coll_write_atomic(const char *path, const void *data, size_t len);
/* A .npy file (float32 [rows, cols]) in memory: malloc'd header + data; NULL out of memory. */
unsigned char *coll_npy_bytes(const float *x, uint64_t rows, uint64_t cols, size_t *len);
/* The whole file (at most max bytes) in a malloc'd NUL-terminated buffer; NULL with errno. */
char *coll_read_file(const char *path, size_t max, size_t *len);
#endif
