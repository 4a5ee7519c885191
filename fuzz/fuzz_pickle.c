/*
 * fuzz_pickle.c — libFuzzer target for the pickle VM (oc_pk_run) on its own.
 *
 * Input: byte 0 selects the mode (bit 0: TorchScript), the rest is the pickle. Persistent ids
 * resolve to a fabricated F32 storage (numel from the id's 5th element when it is a small int,
 * over a static zero buffer) so that the tensor rebuild paths run. Memory comes from an arena
 * capped at 64 MiB and the VM may create at most 1e6 values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ZERO_ELEMS 65536
static const float zeros[ZERO_ELEMS];

static oclip_status fake_persistent_load(void *ctx, oc_pk *vm, oc_pk_value *pid,
                                         oc_pk_value **out, oclip_error *err) {
    (void)ctx;
    oc_pk_value *s = oc_pk_new(vm, OC_PK_STORAGE);
    if (!s) return oc_err_set(err, OCLIP_E_NOMEM, "over the object limit");
    uint64_t numel = 0;
    if (pid->type == OC_PK_TUPLE && pid->u.seq.n >= 5 && pid->u.seq.items[4]->type == OC_PK_INT &&
        pid->u.seq.items[4]->u.i >= 0 && pid->u.seq.items[4]->u.i <= ZERO_ELEMS)
        numel = (uint64_t)pid->u.seq.items[4]->u.i;
    s->u.storage.key = "0";
    s->u.storage.dtype = OCLIP_DTYPE_F32;
    s->u.storage.numel = numel;
    s->u.storage.data = numel ? (const uint8_t *)zeros : NULL;
    *out = s;
    return OCLIP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    oc_arena arena = {0};
    arena.limit = 64u << 20;
    oc_pk vm = {0};
    vm.arena = &arena;
    vm.max_nodes = 1000000;
    vm.torchscript = (data[0] & 1) != 0;
    vm.persistent_load = fake_persistent_load;
    /* copy, so that ASan sees exactly where the pickle ends */
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, data + 1, n);
    oc_pk_value *v = NULL;
    size_t used = 0;
    oclip_error err;
    oclip_status st = oc_pk_run(&vm, p, n, &v, &used, &err);
    if (st == OCLIP_OK) {
        if (!v || used > n) abort();
        char desc[256];
        oc_pk_describe(v, desc, sizeof desc);
        (void)oc_pk_type_name(v->type);
        (void)oc_pk_dict_get(v, "state_dict");
        /* one level down: describe each member of a container */
        if (v->type == OC_PK_DICT) {
            for (size_t i = 0; i < v->u.dict.n; i++) {
                oc_pk_describe(v->u.dict.keys[i], desc, sizeof desc);
                oc_pk_describe(v->u.dict.vals[i], desc, sizeof desc);
            }
        } else if (v->type == OC_PK_LIST || v->type == OC_PK_TUPLE || v->type == OC_PK_SET) {
            for (size_t i = 0; i < v->u.seq.n; i++) oc_pk_describe(v->u.seq.items[i], desc, sizeof desc);
        }
    } else if (err.code != st || err.msg[0] == '\0') {
        abort();
    }
    free(p);
    oc_arena_free(&arena);
    return 0;
}
