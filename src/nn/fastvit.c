/*
 * fastvit.c — the timm FastViT image tower of MobileCLIP as OpenCLIP's TimmModel runs it (open_clip
 * timm_model.py: timm_pool 'avg', timm_proj null, so the trunk is created with
 * num_classes=embed_dim and its own head.fc is the projection; TimmModel.head is empty) over timm
 * models/fastvit.py FastVit (fastvit_mci0 .. mci4, nn.GELU; the attention blocks' norm a
 * BatchNorm2d, or LayerNorm2d (eps 1e-5) in mci3 / mci4, whose stem has no scale branches):
 *   stem: three MobileOneBlocks (3x3 stride 2; 3x3 stride 2 depthwise; 1x1), each + GELU;
 *   stages i: downsample when i > 0 (PatchEmbed: ReparamLargeKernelConv 7x7 stride 2 with groups
 *     = input channels and a 3x3 branch, SE where se_downsamples says, GELU (lkc_use_act); then a
 *     1x1 MobileOneBlock + GELU), RepConditionalPosEnc (x + 7x7 depthwise conv) where pos_embs
 *     says, then the blocks: RepMixerBlock (x = x + ls * (mixer(x) - norm(x)); then
 *     x + ls * ConvMlp(x)) or AttentionBlock (x + ls1 * Attention(BN(x)); x + ls2 * ConvMlp(x));
 *   final_conv: MobileOneBlock 3x3 (groups = C3, 2 * C3 outputs) + SE + GELU;
 *   head: global average pool, fc Linear(2 * C3, E) with bias.
 * The checkpoint holds the train-time form (the branches with their BatchNorms); each
 * re-parameterisable module is folded at load into one convolution, as timm's reparameterize
 * methods compute it (MobileOneBlock._get_kernel_bias / _fuse_bn_tensor,
 * ReparamLargeKernelConv.get_kernel_bias, RepMixer.reparameterize,
 * RepConditionalPosEnc.reparameterize), the sums in float64 and rounded once. ConvMlp's
 * conv + BN and the attention block's BN (an affine map per channel in eval) are folded the same
 * way. Activations are channels-last (kernels.h oc_conv2d); stages handed to tests are NCHW.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define FV_BN_EPS 1e-5 /* nn.BatchNorm2d's default eps: every BatchNorm of the mci towers */
#define FV_HEAD_DIM 32 /* fastvit.py Attention head_dim */
#define FV_CHUNK_FLOATS ((size_t)48 << 20)

typedef struct {
    oc_conv c;
    int se;                  /* SqueezeExcite after the conv */
    int rd;                  /* its reduced width */
    float *se1_w, *se1_b, *se2_w, *se2_b; /* [rd, C], [rd], [C, rd], [C] */
    int act;                 /* GELU after */
} fv_unit;

typedef struct {
    int attn;
    fv_unit mix;             /* repmixer: the folded RepMixer (depthwise 3x3) */
    float *bn_s, *bn_b;      /* attention: norm as y = x * s + b, or LayerNorm2d weight, bias */
    oc_conv qkv, proj;       /* attention: 1x1 views of the Linears */
    float *ls1;              /* attention: layer_scale_1 */
    oc_conv mlp_dw, fc1, fc2; /* ConvMlp: 7x7 depthwise + BN folded, 1x1, 1x1 */
    float *ls;               /* layer_scale (repmixer) / layer_scale_2 (attention) */
} fv_block;

typedef struct oc_fastvit {
    oc_fastvit_geom g;
    int H, W, E;
    fv_unit stem[3], ds_lk[OC_FASTVIT_MAX_STAGES], ds_pw[OC_FASTVIT_MAX_STAGES];
    fv_unit pos[OC_FASTVIT_MAX_STAGES];
    fv_block *blocks;
    int nblocks;
    fv_unit final;
    oc_conv fc; /* head.fc as a 1x1 convolution */
} oc_fastvit;

/* =============================================================================================
 * Binding: reading and folding
 */
typedef struct {
    const oclip_checkpoint *ck;
    oclip_error *err;
    int nth, pack;
    oclip_status st;
} fbind;

static const oclip_tensor *find(fbind *b, const char *name, uint64_t numel) {
    if (b->st) return NULL;
    const oclip_tensor *t = oclip_checkpoint_find(b->ck, name);
    if (!t) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s' missing", name);
        return NULL;
    }
    if (t->numel != numel || (t->dtype != OCLIP_DTYPE_F32 && t->dtype != OCLIP_DTYPE_F16 &&
                              t->dtype != OCLIP_DTYPE_BF16)) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': %llu %s values, expected %llu "
                           "floats", name, (unsigned long long)t->numel,
                           oclip_dtype_name(t->dtype), (unsigned long long)numel);
        return NULL;
    }
    return t;
}

/* tensor `name` as numel fp32 values (malloc'd); NULL with b->st set on failure */
static float *load(fbind *b, uint64_t numel, const char *fmt, ...) OC_PRINTF(3, 4);
static float *load(fbind *b, uint64_t numel, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const oclip_tensor *t = find(b, name, numel);
    if (!t) return NULL;
    float *p = malloc((size_t)(numel ? numel : 1) * sizeof(float));
    if (!p) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (%s)", name);
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, 0, (size_t)numel);
    return p;
}

/* A folded convolution under construction: kernel [cout, cg, K, K] and bias in float64. */
typedef struct {
    int cout, cg, K;
    double *w, *b;
} acc;

static bool acc_init(fbind *b, acc *a, int cout, int cg, int K) {
    a->cout = cout, a->cg = cg, a->K = K;
    a->w = calloc((size_t)cout * (size_t)cg * (size_t)K * (size_t)K, sizeof(double));
    a->b = calloc((size_t)cout, sizeof(double));
    if (!a->w || !a->b) {
        free(a->w), free(a->b);
        a->w = a->b = NULL;
        if (!b->st) b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (folding)");
        return false;
    }
    return true;
}

static void acc_free(acc *a) { free(a->w), free(a->b); }

/* The BatchNorm `prefix`.{weight,bias,running_mean,running_var} of n channels as
 * bn(z) = z * s + (beta - mean * s), s = gamma / sqrt(var + eps) (fastvit.py _fuse_bn_tensor) */
static bool bn_affine(fbind *b, const char *prefix, int n, double *s, double *sh) {
    float *g = load(b, (uint64_t)n, "%s.weight", prefix);
    float *be = load(b, (uint64_t)n, "%s.bias", prefix);
    float *mu = load(b, (uint64_t)n, "%s.running_mean", prefix);
    float *var = load(b, (uint64_t)n, "%s.running_var", prefix);
    bool ok = !b->st;
    for (int i = 0; ok && i < n; i++) {
        if (!(var[i] >= 0.0f)) {
            b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s.running_var': value %d is %g "
                               "(a variance is not negative)", prefix, i, (double)var[i]);
            ok = false;
            break;
        }
        s[i] = (double)g[i] / sqrt((double)var[i] + FV_BN_EPS);
        sh[i] = (double)be[i] - (double)mu[i] * s[i];
    }
    free(g), free(be), free(mu), free(var);
    return ok;
}

/* a += ConvNormAct `prefix` (conv without bias [cout, cg, k, k], then bn), centred in a->K */
static void add_conv_bn(fbind *b, acc *a, const char *prefix, int k) {
    if (b->st) return;
    char p[224];
    size_t per = (size_t)a->cg * (size_t)k * (size_t)k;
    float *w = load(b, (uint64_t)a->cout * per, "%s.conv.weight", prefix);
    double *s = malloc((size_t)a->cout * 2 * sizeof(double));
    if (!s && !b->st) b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (folding)");
    snprintf(p, sizeof p, "%s.bn", prefix);
    if (w && s && bn_affine(b, p, a->cout, s, s + a->cout)) {
        int off = (a->K - k) / 2; /* F.pad(kernel, [off] * 4) */
        for (int o = 0; o < a->cout; o++) {
            for (int c = 0; c < a->cg; c++)
                for (int y = 0; y < k; y++)
                    for (int x = 0; x < k; x++)
                        a->w[(((size_t)o * a->cg + c) * a->K + y + off) * a->K + x + off] +=
                            (double)w[(((size_t)o * a->cg + c) * k + y) * k + x] * s[o];
            a->b[o] += s[a->cout + o];
        }
    }
    free(w), free(s);
}

/* a += the identity BatchNorm `prefix` (MobileOneBlock.identity: a kernel with 1 at the centre
 * tap of input channel o % cg, times bn's scale) */
static void add_id_bn(fbind *b, acc *a, const char *prefix) {
    if (b->st) return;
    double *s = malloc((size_t)a->cout * 2 * sizeof(double));
    if (!s) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (folding)");
        return;
    }
    if (bn_affine(b, prefix, a->cout, s, s + a->cout)) {
        int c = a->K / 2;
        for (int o = 0; o < a->cout; o++) {
            a->w[(((size_t)o * a->cg + (size_t)(o % a->cg)) * a->K + c) * a->K + c] += s[o];
            a->b[o] += s[a->cout + o];
        }
    }
    free(s);
}

/* the folded kernel as an oc_conv (rounded to fp32 once) */
static void acc_conv(fbind *b, acc *a, oc_conv *cv, int cin, int stride, int pad, int groups,
                     const char *what) {
    if (b->st) return;
    size_t n = (size_t)a->cout * (size_t)a->cg * (size_t)a->K * (size_t)a->K;
    float *w = malloc(n * sizeof(float)), *bias = malloc((size_t)a->cout * sizeof(float));
    if (!w || !bias) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (folding)");
    } else {
        for (size_t i = 0; i < n; i++) w[i] = (float)a->w[i];
        for (int o = 0; o < a->cout; o++) bias[o] = (float)a->b[o];
        if ((b->st = oc_conv_init(cv, w, bias, cin, a->cout, a->K, a->K, stride, pad, groups,
                                  b->pack, b->nth, b->err)))
            oc_err_wrap(b->err, "'%s'", what);
    }
    free(w), free(bias);
}

/* timm make_divisible(v, divisor, round_limit=0) (layers/helpers.py) */
static int make_divisible(double v, int divisor) {
    int nv = (int)(v + divisor / 2.0) / divisor * divisor;
    return nv < divisor ? divisor : nv;
}

/* SqueezeExcite `prefix` (timm SEModule: fc1 1x1 C -> rd with bias, ReLU, fc2 rd -> C, sigmoid) */
static void se_load(fbind *b, fv_unit *u, const char *prefix, int C, int rd) {
    u->se = 1, u->rd = rd;
    u->se1_w = load(b, (uint64_t)rd * C, "%s.se.fc1.weight", prefix);
    u->se1_b = load(b, (uint64_t)rd, "%s.se.fc1.bias", prefix);
    u->se2_w = load(b, (uint64_t)C * rd, "%s.se.fc2.weight", prefix);
    u->se2_b = load(b, (uint64_t)C, "%s.se.fc2.bias", prefix);
}

/* MobileOneBlock `prefix` in train-time form with num_conv_branches 1 (fastvit.py
 * MobileOneBlock.__init__: identity BN when cin == cout and stride 1, conv_scale 1x1 when k > 1
 * and use_scale_branch), folded (MobileOneBlock._get_kernel_bias) into u->c */
static void mobileone(fbind *b, fv_unit *u, const char *prefix, int cin, int cout, int k,
                      int stride, int groups, int scale, int act) {
    if (b->st) return;
    char p[192];
    acc a;
    if (!acc_init(b, &a, cout, cin / groups, k)) return;
    snprintf(p, sizeof p, "%s.conv_kxk.0", prefix);
    add_conv_bn(b, &a, p, k);
    if (k > 1 && scale) {
        snprintf(p, sizeof p, "%s.conv_scale", prefix);
        add_conv_bn(b, &a, p, 1);
    }
    if (cin == cout && stride == 1) {
        snprintf(p, sizeof p, "%s.identity", prefix);
        add_id_bn(b, &a, p);
    }
    /* timm create_conv2d's default padding: ((stride - 1) + (k - 1)) // 2 */
    acc_conv(b, &a, &u->c, cin, stride, ((stride - 1) + (k - 1)) / 2, groups, prefix);
    acc_free(&a);
    u->act = act;
}

/* RepMixer `prefix` (dim C, kernel 3): norm = MobileOneBlock(identity BN only), mixer =
 * MobileOneBlock(conv_kxk, conv_scale, identity), folded as RepMixer.reparameterize:
 * w = id + ls * (w_mixer - w_norm), b = ls * (b_mixer - b_norm) */
static void repmixer(fbind *b, fv_unit *u, const char *prefix, int C) {
    if (b->st) return;
    char p[192];
    acc mx, nm;
    if (!acc_init(b, &mx, C, 1, 3)) return;
    if (!acc_init(b, &nm, C, 1, 3)) {
        acc_free(&mx);
        return;
    }
    snprintf(p, sizeof p, "%s.mixer.conv_kxk.0", prefix);
    add_conv_bn(b, &mx, p, 3);
    snprintf(p, sizeof p, "%s.mixer.conv_scale", prefix);
    add_conv_bn(b, &mx, p, 1);
    snprintf(p, sizeof p, "%s.mixer.identity", prefix);
    add_id_bn(b, &mx, p);
    snprintf(p, sizeof p, "%s.norm.identity", prefix);
    add_id_bn(b, &nm, p);
    float *ls = load(b, (uint64_t)C, "%s.layer_scale.gamma", prefix);
    if (!b->st) {
        for (int o = 0; o < C; o++) {
            for (int t = 0; t < 9; t++)
                mx.w[(size_t)o * 9 + t] =
                    (t == 4 ? 1.0 : 0.0) + (double)ls[o] * (mx.w[(size_t)o * 9 + t] -
                                                            nm.w[(size_t)o * 9 + t]);
            mx.b[o] = (double)ls[o] * (mx.b[o] - nm.b[o]);
        }
        acc_conv(b, &mx, &u->c, C, 1, 1, C, prefix);
    }
    free(ls);
    acc_free(&mx), acc_free(&nm);
}

/* ReparamLargeKernelConv `prefix` (large k x k + small 3x3 ConvNormAct, groups = cin, folded as
 * get_kernel_bias), SE (rd_ratio 0.25) when se, GELU after (lkc_use_act) */
static void large_kernel(fbind *b, fv_unit *u, const char *prefix, int cin, int cout, int se) {
    if (b->st) return;
    char p[192];
    acc a;
    if (!acc_init(b, &a, cout, 1, 7)) return;
    snprintf(p, sizeof p, "%s.large_conv", prefix);
    add_conv_bn(b, &a, p, 7);
    snprintf(p, sizeof p, "%s.small_conv", prefix);
    add_conv_bn(b, &a, p, 3);
    acc_conv(b, &a, &u->c, cin, 2, 3, cin, prefix);
    acc_free(&a);
    if (se) se_load(b, u, prefix, cout, make_divisible(cout * 0.25, 8));
    u->act = 1;
}

/* a 1x1 convolution from a Linear / 1x1 Conv2d `name` [cout, cin(, 1, 1)] and bias (or none) */
static void pointwise(fbind *b, oc_conv *cv, int cin, int cout, const char *wname,
                      const char *bname) {
    float *w = load(b, (uint64_t)cin * cout, "%s", wname);
    float *bias = bname ? load(b, (uint64_t)cout, "%s", bname) : NULL;
    if (!b->st && (b->st = oc_conv_init(cv, w, bias, cin, cout, 1, 1, 1, 0, 1, b->pack, b->nth,
                                        b->err)))
        oc_err_wrap(b->err, "'%s'", wname);
    free(w), free(bias);
}

/* ConvMlp `prefix`: conv (7x7 depthwise ConvNormAct, BN folded), fc1, GELU, fc2 */
static void conv_mlp(fbind *b, fv_block *k, const char *prefix, int C, int M) {
    if (b->st) return;
    char p[192], q[192];
    acc a;
    if (!acc_init(b, &a, C, 1, 7)) return;
    snprintf(p, sizeof p, "%s.conv", prefix);
    add_conv_bn(b, &a, p, 7);
    acc_conv(b, &a, &k->mlp_dw, C, 1, 3, C, p);
    acc_free(&a);
    snprintf(p, sizeof p, "%s.fc1.weight", prefix), snprintf(q, sizeof q, "%s.fc1.bias", prefix);
    pointwise(b, &k->fc1, C, M, p, q);
    snprintf(p, sizeof p, "%s.fc2.weight", prefix), snprintf(q, sizeof q, "%s.fc2.bias", prefix);
    pointwise(b, &k->fc2, M, C, p, q);
}

static size_t stage_side(size_t in, int stage) {
    size_t s = oc_conv_out(oc_conv_out(in, 3, 2, 1), 3, 2, 1);
    for (int i = 1; i <= stage; i++) s = oc_conv_out(s, 7, 2, 3);
    return s;
}

oclip_status oc_fastvit_bind(oclip_model *m, const oclip_checkpoint *ck,
                             const oc_fastvit_geom *g, oclip_error *err) {
    oc_fastvit *f = calloc(1, sizeof *f);
    if (!f) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    m->vis.fvt = f;
    f->g = *g;
    f->H = m->cfg.vision.image_size[0], f->W = m->cfg.vision.image_size[1];
    f->E = m->cfg.embed_dim;
    m->vis.img_h = f->H, m->vis.img_w = f->W;
    if (g->nst < 1 || g->nst > OC_FASTVIT_MAX_STAGES || g->mlp_ratio < 1 || g->mlp_ratio > 16 ||
        f->E <= 0 || f->E > 65536)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "FastViT geometry out of range");
    for (int i = 0; i < g->nst; i++) {
        if (g->layers[i] < 0 || g->layers[i] > 256 || g->dims[i] <= 0 || g->dims[i] > 8192 ||
            (g->attn[i] && g->dims[i] % FV_HEAD_DIM))
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "FastViT stage %d: depth %d, width %d",
                              i, g->layers[i], g->dims[i]);
        f->nblocks += g->layers[i];
    }
    if (f->H <= 0 || f->W <= 0 || f->H > 4096 || f->W > 4096 ||
        !stage_side((size_t)f->H, g->nst - 1) || !stage_side((size_t)f->W, g->nst - 1))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "FastViT at image_size %dx%d: too small",
                          f->H, f->W);
    f->blocks = calloc(f->nblocks ? (size_t)f->nblocks : 1, sizeof *f->blocks);
    if (!f->blocks) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    fbind b = {ck, err, m->threads, oc_kernels_get()->pack_weights, OCLIP_OK};
    char p[128], q[128];
    int C = g->dims[0];
    /* convolutional_stem */
    int sc = g->stem_scale;
    mobileone(&b, &f->stem[0], "visual.trunk.stem.0", 3, C, 3, 2, 1, sc, 1);
    mobileone(&b, &f->stem[1], "visual.trunk.stem.1", C, C, 3, 2, C, sc, 1);
    mobileone(&b, &f->stem[2], "visual.trunk.stem.2", C, C, 1, 1, 1, sc, 1);
    int k = 0;
    for (int i = 0; i < g->nst && !b.st; i++) {
        int Co = g->dims[i];
        /* FastVit.__init__: downsample = downsamples[i] or prev_dim != embed_dims[i]; the mci
         * towers' downsamples are (False, True, True, True) */
        if (i > 0 || Co != C) {
            snprintf(p, sizeof p, "visual.trunk.stages.%d.downsample.proj.0", i);
            large_kernel(&b, &f->ds_lk[i], p, C, Co, g->se_down[i]);
            snprintf(p, sizeof p, "visual.trunk.stages.%d.downsample.proj.1", i);
            mobileone(&b, &f->ds_pw[i], p, Co, Co, 1, 1, 1, 1, 1);
        }
        C = Co;
        if (g->pos_emb[i]) { /* RepConditionalPosEnc.reparameterize: id + pos_enc, its bias */
            acc a;
            if (!acc_init(&b, &a, C, 1, 7)) break;
            float *w = load(&b, (uint64_t)C * 49, "visual.trunk.stages.%d.pos_emb.pos_enc.weight", i);
            float *bias = load(&b, (uint64_t)C, "visual.trunk.stages.%d.pos_emb.pos_enc.bias", i);
            if (!b.st) {
                for (size_t t = 0; t < (size_t)C * 49; t++) a.w[t] = w[t] + (t % 49 == 24);
                for (int o = 0; o < C; o++) a.b[o] = bias[o];
                acc_conv(&b, &a, &f->pos[i].c, C, 1, 3, C, "pos_emb");
            }
            free(w), free(bias), acc_free(&a);
        }
        int M = C * g->mlp_ratio; /* int(dim * mlp_ratio) */
        for (int j = 0; j < g->layers[i] && !b.st; j++, k++) {
            fv_block *bk = &f->blocks[k];
#define BLK "visual.trunk.stages.%d.blocks.%d"
            bk->attn = g->attn[i];
            if (!bk->attn) {
                snprintf(p, sizeof p, BLK ".token_mixer", i, j);
                repmixer(&b, &bk->mix, p, C);
                bk->ls = load(&b, (uint64_t)C, BLK ".layer_scale.gamma", i, j);
            } else if (g->ln_norm) { /* LayerNorm2d: over the channels of each position */
                bk->bn_s = load(&b, (uint64_t)C, BLK ".norm.weight", i, j);
                bk->bn_b = load(&b, (uint64_t)C, BLK ".norm.bias", i, j);
            } else {
                bk->bn_s = malloc((size_t)C * sizeof(float));
                bk->bn_b = malloc((size_t)C * sizeof(float));
                double *s = malloc((size_t)C * 2 * sizeof(double));
                snprintf(p, sizeof p, BLK ".norm", i, j);
                if (!bk->bn_s || !bk->bn_b || !s) {
                    b.st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
                } else if (bn_affine(&b, p, C, s, s + C)) {
                    for (int c = 0; c < C; c++)
                        bk->bn_s[c] = (float)s[c], bk->bn_b[c] = (float)s[C + c];
                }
                free(s);
            }
            if (bk->attn) {
                snprintf(p, sizeof p, BLK ".token_mixer.qkv.weight", i, j);
                pointwise(&b, &bk->qkv, C, 3 * C, p, NULL);
                snprintf(p, sizeof p, BLK ".token_mixer.proj.weight", i, j);
                snprintf(q, sizeof q, BLK ".token_mixer.proj.bias", i, j);
                pointwise(&b, &bk->proj, C, C, p, q);
                bk->ls1 = load(&b, (uint64_t)C, BLK ".layer_scale_1.gamma", i, j);
                bk->ls = load(&b, (uint64_t)C, BLK ".layer_scale_2.gamma", i, j);
            }
            snprintf(p, sizeof p, BLK ".mlp", i, j);
            conv_mlp(&b, bk, p, C, M);
#undef BLK
        }
    }
    /* final_conv: MobileOneBlock(C, 2C, 3, group_size=1 -> groups C, use_se) + GELU; SE with
     * rd_ratio 1/16, rd_divisor 1 */
    int F = 2 * C; /* cls_ratio 2.0 */
    mobileone(&b, &f->final, "visual.trunk.final_conv", C, F, 3, 1, C, 1, 1);
    if (!b.st) se_load(&b, &f->final, "visual.trunk.final_conv", F, make_divisible(F / 16.0, 1));
    pointwise(&b, &f->fc, F, f->E, "visual.trunk.head.fc.weight", "visual.trunk.head.fc.bias");
    return b.st;
}

static void unit_free(fv_unit *u) {
    oc_conv_free(&u->c);
    free(u->se1_w), free(u->se1_b), free(u->se2_w), free(u->se2_b);
}

void oc_fastvit_free(oclip_model *m) {
    oc_fastvit *f = m->vis.fvt;
    if (!f) return;
    for (int i = 0; i < 3; i++) unit_free(&f->stem[i]);
    for (int i = 0; i < OC_FASTVIT_MAX_STAGES; i++)
        unit_free(&f->ds_lk[i]), unit_free(&f->ds_pw[i]), unit_free(&f->pos[i]);
    for (int k = 0; f->blocks && k < f->nblocks; k++) {
        fv_block *bk = &f->blocks[k];
        unit_free(&bk->mix);
        free(bk->bn_s), free(bk->bn_b), free(bk->ls1), free(bk->ls);
        oc_conv_free(&bk->qkv), oc_conv_free(&bk->proj);
        oc_conv_free(&bk->mlp_dw), oc_conv_free(&bk->fc1), oc_conv_free(&bk->fc2);
    }
    free(f->blocks);
    unit_free(&f->final);
    oc_conv_free(&f->fc);
    free(f);
    m->vis.fvt = NULL;
}

/* =============================================================================================
 * Forward
 */
static void to_nchw(float *dst, const float *x, size_t n, size_t hw, size_t C) {
    for (size_t b = 0; b < n; b++)
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < C; c++) dst[(b * C + c) * hw + p] = x[(b * hw + p) * C + c];
}

/* SEModule.forward over x [n, hw, C] in place: x * sigmoid(fc2(relu(fc1(mean(x))))) */
static oclip_status se_apply(const fv_unit *u, float *x, size_t n, size_t hw, size_t C,
                             oclip_error *err) {
    size_t rd = (size_t)u->rd;
    float *s = malloc((C + rd) * sizeof(float));
    if (!s) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (squeeze-excite)");
    float *r = s + C;
    for (size_t b = 0; b < n; b++) {
        float *xb = x + b * hw * C;
        for (size_t c = 0; c < C; c++) s[c] = 0.0f;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < C; c++) s[c] += xb[p * C + c];
        for (size_t c = 0; c < C; c++) s[c] /= (float)hw;
        for (size_t j = 0; j < rd; j++) {
            float a = 0.0f;
            for (size_t c = 0; c < C; c++) a += u->se1_w[j * C + c] * s[c];
            a += u->se1_b[j];
            r[j] = a > 0.0f ? a : 0.0f;
        }
        for (size_t c = 0; c < C; c++) {
            float a = 0.0f;
            for (size_t j = 0; j < rd; j++) a += u->se2_w[c * rd + j] * r[j];
            a += u->se2_b[c];
            s[c] = 1.0f / (1.0f + expf(-a));
        }
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < C; c++) xb[p * C + c] *= s[c];
    }
    free(s);
    return OCLIP_OK;
}

/* y = act(se(conv(x))) */
static oclip_status unit_run(const fv_unit *u, const float *x, size_t n, size_t *h, size_t *w,
                             float *y, int nth, oclip_error *err) {
    oclip_status s = oc_conv2d(&u->c, x, n, *h, *w, y, NULL, 0, nth, err);
    if (s) return s;
    *h = oc_conv_out(*h, u->c.kh, u->c.stride, u->c.pad);
    *w = oc_conv_out(*w, u->c.kw, u->c.stride, u->c.pad);
    size_t C = (size_t)u->c.cout;
    if (u->se && (s = se_apply(u, y, n, *h * *w, C, err))) return s;
    if (u->act) oc_activate(y, n * *h * *w * C, OC_ACT_GELU, nth);
    return OCLIP_OK;
}

/* floats per image of the largest activation (x, t) and of the MLP / qkv scratch f */
static void sizes(const oc_fastvit *f, size_t *sx, size_t *sf) {
    size_t x = 3 * (size_t)f->H * (size_t)f->W, s = 0;
    size_t h0 = oc_conv_out((size_t)f->H, 3, 2, 1), w0 = oc_conv_out((size_t)f->W, 3, 2, 1);
    if (h0 * w0 * (size_t)f->g.dims[0] > x) x = h0 * w0 * (size_t)f->g.dims[0];
    for (int i = 0; i < f->g.nst; i++) {
        size_t a = stage_side((size_t)f->H, i) * stage_side((size_t)f->W, i) * (size_t)f->g.dims[i];
        if (2 * a > x) x = 2 * a; /* the downsample's 7x7 output before the 1x1 */
        size_t m = a * (size_t)(f->g.mlp_ratio > 3 ? f->g.mlp_ratio : 3);
        if (m > s) s = m;
    }
    size_t last = stage_side((size_t)f->H, f->g.nst - 1) * stage_side((size_t)f->W, f->g.nst - 1);
    if (2 * last * (size_t)f->g.dims[f->g.nst - 1] > x) x = 2 * last * (size_t)f->g.dims[f->g.nst - 1];
    *sx = x, *sf = s;
}

static oclip_status chunk_forward(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, const oc_stages *st, size_t first, float *x,
                                  float *t, float *fs, oclip_error *err) {
    const oc_fastvit *f = m->vis.fvt;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    size_t H = (size_t)f->H, W = (size_t)f->W, h = H, w = W;
    oclip_status s;
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < 3; ch++)
            for (size_t p = 0; p < H * W; p++)
                t[(i * H * W + p) * 3 + ch] = pixels[(i * 3 + ch) * H * W + p];
    if ((s = unit_run(&f->stem[0], t, n, &h, &w, x, nth, err)) ||
        (s = unit_run(&f->stem[1], x, n, &h, &w, t, nth, err)) ||
        (s = unit_run(&f->stem[2], t, n, &h, &w, x, nth, err)))
        return s;
    size_t C = (size_t)f->g.dims[0];
    if (st && st->rn_stem) to_nchw(st->rn_stem + first * C * h * w, x, n, h * w, C);
    int k = 0;
    for (int i = 0; i < f->g.nst; i++) {
        if (f->ds_lk[i].c.cout) {
            if ((s = unit_run(&f->ds_lk[i], x, n, &h, &w, t, nth, err)) ||
                (s = unit_run(&f->ds_pw[i], t, n, &h, &w, x, nth, err)))
                return s;
            C = (size_t)f->g.dims[i];
        }
        size_t P = n * h * w;
        if (f->pos[i].c.cout) {
            if ((s = oc_conv2d(&f->pos[i].c, x, n, h, w, t, NULL, 0, nth, err))) return s;
            float *u = x; /* the output becomes x: swap the buffers (both hold sx floats) */
            x = t, t = u;
        }
        for (int j = 0; j < f->g.layers[i]; j++, k++) {
            const fv_block *bk = &f->blocks[k];
            if (!bk->attn) {
                if ((s = oc_conv2d(&bk->mix.c, x, n, h, w, t, NULL, 0, nth, err))) return s;
                float *u = x;
                x = t, t = u;
            } else {
                if (f->g.ln_norm) {
                    oc_layernorm(x, t, P, C, bk->bn_s, bk->bn_b, 1e-5f, nth);
                } else {
                    for (size_t p = 0; p < P; p++)
                        for (size_t c = 0; c < C; c++)
                            t[p * C + c] = x[p * C + c] * bk->bn_s[c] + bk->bn_b[c];
                }
                /* qkv, the heads' attention, proj and x + layer_scale_1(.) (in proj's
                 * epilogue: the product rounded, then the sum) */
                if ((s = oc_conv2d(&bk->qkv, t, P, 1, 1, fs, NULL, 0, nth, err)) ||
                    (s = oc_attention(fs, t, n, h * w, C, C / FV_HEAD_DIM, 0, nth, err)))
                    return s;
                oc_epilogue r1 = {0, OC_ACT_GELU, x, bk->ls1};
                oc_gemm_ep(t, P, &bk->proj.wg[0], bk->proj.bias, fs, &r1, nth);
            }
            /* ConvMlp: fc1 + GELU, fc2 and x + layer_scale(.) in the GEMMs' epilogues */
            if ((s = oc_conv2d(&bk->mlp_dw, x, n, h, w, t, NULL, 0, nth, err))) return s;
            oc_epilogue gelu = {1, OC_ACT_GELU, NULL, NULL};
            oc_epilogue r2 = {0, OC_ACT_GELU, x, bk->ls};
            oc_gemm_ep(t, P, &bk->fc1.wg[0], bk->fc1.bias, fs, &gelu, nth);
            oc_gemm_ep(fs, P, &bk->fc2.wg[0], bk->fc2.bias, t, &r2, nth);
        }
        if (i < 4 && st && st->rn_layer[i])
            to_nchw(st->rn_layer[i] + first * C * h * w, x, n, h * w, C);
    }
    if ((s = unit_run(&f->final, x, n, &h, &w, t, nth, err))) return s;
    size_t F = (size_t)f->final.c.cout;
    float *pooled = x;
    for (size_t i = 0; i < n; i++) { /* SelectAdaptivePool2d 'avg': mean over (H, W) */
        float *pi = pooled + i * F;
        for (size_t c = 0; c < F; c++) pi[c] = 0.0f;
        for (size_t p = 0; p < h * w; p++)
            for (size_t c = 0; c < F; c++) pi[c] += t[(i * h * w + p) * F + c];
        for (size_t c = 0; c < F; c++) pi[c] /= (float)(h * w);
    }
    if (st && st->pooled) memcpy(st->pooled + first * F, pooled, n * F * sizeof(float));
    return oc_conv2d(&f->fc, pooled, n, 1, 1, out, NULL, 0, nth, err);
}

oclip_status oc_fastvit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err) {
    const oc_fastvit *f = m->vis.fvt;
    if (!n) return OCLIP_OK;
    size_t sx, sf;
    sizes(f, &sx, &sf);
    size_t per = 2 * sx + sf, chunk = FV_CHUNK_FLOATS / (per ? per : 1);
    if (chunk > 8) chunk = 8;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    uint64_t total;
    if (oc_mul_overflow_u64((uint64_t)per, chunk, &total) || total > SIZE_MAX / sizeof(float) / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *mem = oc_act_alloc(m, (size_t)total);
    if (!mem)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations, %llu bytes)",
                          (unsigned long long)(total * sizeof(float)));
    float *x = mem, *t = x + sx * chunk, *fs = t + sx * chunk;
    size_t img = 3 * (size_t)f->H * (size_t)f->W;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = chunk_forward(m, pixels + i * img, k, out + i * (size_t)f->E, st, i, x, t, fs, err);
    }
    oc_act_release(m, mem);
    return s;
}
