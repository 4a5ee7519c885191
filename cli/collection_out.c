/* collection_out.c — the files of an embed-dir output folder (see collection.h). */
#include "collection.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

void coll_shard_path(char *buf, size_t size, const char *dir, const char *kind, uint64_t shard) {
    if (!strcmp(kind, "metadata"))
        snprintf(buf, size, "%s/metadata/metadata_%04llu.jsonl", dir, (unsigned long long)shard);
    else
        snprintf(buf, size, "%s/%s_emb/%s_emb_%04llu.npy", dir, kind, kind,
                 (unsigned long long)shard);
}

static int fsync_dir_of(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir[0] ? dir : "/", O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int coll_write_atomic(const char *path, const void *data, size_t len) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, p + done, len - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        done += (size_t)k;
    }
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    return fsync_dir_of(path);
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

unsigned char *coll_npy_bytes(const float *x, uint64_t rows, uint64_t cols, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
    int bad = npy_write_header(f, "<f4", 2, shape) != 0;
    if (!bad && rows && cols) bad = fwrite(x, sizeof(float), rows * cols, f) != rows * cols;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return (unsigned char *)buf;
}
