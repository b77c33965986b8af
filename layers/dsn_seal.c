/* dsn_seal.c: a customer model's parameters sealed to its serial (see dsn_seal.h).
 *
 * Version 2 (sealed=2, what dsn export writes): per tensor t, key = SHA-256("DSN seal v2" 0x00 ||
 * nbits (2 bytes, big endian) || serial bits packed MSB first || t (4 bytes, big endian)); its
 * ChaCha20 keystream (zero nonce) gives one little-endian 64-bit word w_i per element. A signed
 * tensor's floats with |x| < R (R = 2^6 for weights, biases and batch-norm scales, 2^16 for
 * batch-norm means; M = 2N of them, N the bit pattern of R) are numbered in value order,
 * o(x) = N + bits(x) for x >= +0 and N - 1 - (bits(x) & 0x7FFFFFFF) for x <= -0; sealed:
 * o(y) = (o(x) + w_i mod M) mod M, unsealed: the inverse. A variance tensor's floats
 * 0 <= x < 2^64 (M = the bit pattern of 2^64) are their own number, o(x) = bits(x). Each sealed
 * value is uniform over its range whatever the trained value was (a keyed pad from a stream
 * cipher): the sealed file keeps nothing of the model, not even the values' multiset. Yet every
 * sealed value is a finite float (|y| < R, most of them tiny; variances positive), so a network
 * run without the serial computes nonsense, not NaN (on the networks here: a deep one could still
 * overflow). Exact both ways for every float in range; a value outside (a trained weight of 64 or
 * more, a negative variance, infinities, NaN) cannot be sealed, and a file holding one cannot be
 * a version-2 sealed file: both directions refuse it.
 *
 * Version 3 (sealed=3, seal_nonce=, seal_cost=; what dsn export writes): version 2's pads, keyed
 * through a slow function of the serial. master = scrypt(password "DSN seal v3" 0x00 || nbits ||
 * serial, salt = the nonce (16 bytes), N = 2^cost, r = 8, p = 1, 32 bytes); tensor t's key =
 * SHA-256("DSN seal v3 tensor" 0x00 || master || t (4 bytes, big endian)). dsn export takes the
 * nonce from the weights it seals (dsn_seal_nonce), so two different files sealed to one serial get
 * different pads, and one file exported twice the same bytes. The cost makes every serial a thief
 * tries cost one scrypt (16 MiB and 31-35 ms of a core here at the default 14), where version
 * 2's key was one SHA-256: a wrong serial shows at once (the unsealed values are mostly tiny), so
 * the serial's 2^64 space was the seal's whole strength.
 *
 * Version 1 (sealed=1, read for files written before version 2): per tensor t, key = SHA-256(
 * "DSN seal v1" 0x00 || nbits (2 bytes, big endian) || serial bits packed MSB first || t (4 bytes,
 * big endian)); the ChaCha20 keystream of that key (zero nonce:
 * every key is used for one tensor only) gives, as little-endian 64-bit words, the Fisher-Yates
 * draws j = word mod (i + 1) for i = n-1 .. 1 (a bias below n / 2^64), then one sign bit per
 * element. Sealed: y[perm[i]] = s_i x[i]; unsealed: x[i] = s_i y[perm[i]]. Signs flip on the sign
 * bit, so both directions are exact for every float, NaN included. */
#include "dsn_seal.h"

#include "batchnorm_layer.h"
#include "connected_layer.h"
#include "convolutional_layer.h"
#include "deconvolutional_layer.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TAG1[] = "DSN seal v1", TAG2[] = "DSN seal v2", TAG3[] = "DSN seal v3",
                  TAG3_TENSOR[] = "DSN seal v3 tensor", TAG_NONCE[] = "DSN seal v3 nonce";

/* tag 0x00 || nbits (2 bytes, big endian) || the serial's bits packed MSB first, into msg; its length */
static size_t serial_prefix(uint8_t *msg, const char *tag, const dsn_serial *sn)
{
    size_t n = strlen(tag) + 1;                   /* the tag and its NUL */
    memcpy(msg, tag, n);
    msg[n++] = (uint8_t)(sn->nbits >> 8);
    msg[n++] = (uint8_t)sn->nbits;
    dsn_serial_to_bytes(msg + n, sn);
    return n + (size_t)(sn->nbits + 7)/8;
}

/* Version 3's master key of (serial, nonce, cost). The last one is kept: unsealing and sealing
 * again with one serial (dsn verify, trace and attack do, serial by serial) pays one scrypt. Not
 * thread-safe: sealing runs on one thread. */
static int master_key(uint8_t master[32], const dsn_serial *sn, const dsn_seal_spec *spec)
{
    static struct { int valid; dsn_serial sn; uint8_t nonce[DSN_SEAL_NONCE_BYTES]; int cost; uint8_t key[32]; } last;
    if(last.valid && last.cost == spec->cost && last.sn.nbits == sn->nbits && memcmp(last.sn.bit, sn->bit, sizeof sn->bit) == 0 &&
       memcmp(last.nonce, spec->nonce, sizeof last.nonce) == 0) {
        memcpy(master, last.key, 32);
        return 0;
    }
    uint8_t pass[sizeof TAG3 + 2 + DSN_MAX_BITS/8];
    size_t n = serial_prefix(pass, TAG3, sn);
    if(spec->cost < DSN_SEAL_COST_MIN || spec->cost > DSN_SEAL_COST_MAX) return -1;
    uint64_t N = 1ull << spec->cost;
    int ok = EVP_PBE_scrypt((const char *)pass, n, spec->nonce, DSN_SEAL_NONCE_BYTES, N, 8, 1,
                            1056ull * N + (1u << 20), master, 32) == 1;
    memset(pass, 0, sizeof pass);
    last.valid = ok;
    if(!ok) return -1;
    last.sn = *sn;
    memcpy(last.nonce, spec->nonce, sizeof last.nonce);
    last.cost = spec->cost;
    memcpy(last.key, master, 32);
    return 0;
}

/* spec: NULL (or not version 3) in versions 1 and 2, whose key is tag's hash of the serial */
static int tensor_key(uint8_t key[32], const char *tag, const dsn_serial *sn, const dsn_seal_spec *spec, unsigned tensor)
{
    uint8_t msg[sizeof TAG3_TENSOR + DSN_MAX_BITS/8 + 32 + 4];
    size_t n;
    unsigned int klen = 0;
    if(spec && spec->version == DSN_SEAL_V3) {
        n = sizeof TAG3_TENSOR;                   /* the tag and its NUL */
        memcpy(msg, TAG3_TENSOR, n);
        if(master_key(msg + n, sn, spec) != 0) return -1;
        n += 32;
    } else {
        n = serial_prefix(msg, tag, sn);
    }
    for(int i = 3; i >= 0; --i) msg[n++] = (uint8_t)(tensor >> (8*i));
    int ok = EVP_Digest(msg, n, key, &klen, EVP_sha256(), NULL) == 1 && klen == 32;
    memset(msg, 0, sizeof msg);
    return ok ? 0 : -1;
}

/* len bytes of the tensor's keystream into out */
static int keystream(uint8_t *out, size_t len, const char *tag, const dsn_serial *sn, const dsn_seal_spec *spec,
                     unsigned tensor)
{
    uint8_t key[32], iv[16] = {0};
    int ok = 0, outl = 0;
    if(tensor_key(key, tag, sn, spec, tensor) != 0) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    memset(out, 0, len);
    if(ctx && EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) == 1){
        ok = 1;
        for(size_t at = 0; ok && at < len; at += (size_t)outl){
            int chunk = len - at > (1 << 20) ? (1 << 20) : (int)(len - at);
            ok = EVP_EncryptUpdate(ctx, out + at, &outl, out + at, chunk) == 1 && outl == chunk;
        }
    }
    EVP_CIPHER_CTX_free(ctx);
    memset(key, 0, sizeof key);
    return ok ? 0 : -1;
}

static uint64_t word_at(const uint8_t *p)
{
    uint64_t w = 0;
    for(int i = 7; i >= 0; --i) w = (w << 8) | p[i];
    return w;
}

static void flip_sign(float *v)
{
    uint32_t u;
    memcpy(&u, v, sizeof u);
    u ^= 0x80000000u;
    memcpy(v, &u, sizeof u);
}

int dsn_seal_array(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int flip_signs, int direction)
{
    if(n == 0) return 0;
    size_t draws = 8*(n - 1), len = draws + (n + 7)/8;
    uint8_t *ks = malloc(len);
    uint32_t *perm = malloc(n*sizeof *perm);
    float *copy = malloc(n*sizeof *copy);
    int rc = -1;
    if(!ks || !perm || !copy || keystream(ks, len, TAG1, sn, NULL, tensor) != 0) goto cleanup;
    for(size_t i = 0; i < n; ++i) perm[i] = (uint32_t)i;
    for(size_t i = n - 1; i > 0; --i){
        size_t j = (size_t)(word_at(ks + 8*(n - 1 - i)) % (uint64_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(copy, x, n*sizeof *copy);
    for(size_t i = 0; i < n; ++i){
        int flip = flip_signs && ((ks[draws + i/8] >> (i%8)) & 1);
        if(direction == DSN_SEAL){
            x[perm[i]] = copy[i];
            if(flip) flip_sign(&x[perm[i]]);
        }else{
            x[i] = copy[perm[i]];
            if(flip) flip_sign(&x[i]);
        }
    }
    rc = 0;
cleanup:
    free(ks);
    free(perm);
    free(copy);
    return rc;
}

/* N per kind: the bit pattern of the range's bound (64.0f, 65536.0f, 2^64) */
static const uint32_t RANGE_N[3] = {0x42800000u, 0x47800000u, 0x5F800000u};

/* x's number in value order within its kind's range [0, m), or -1 when x is outside it */
static int64_t float_order(float x, int kind)
{
    uint32_t u, n = RANGE_N[kind];
    memcpy(&u, &x, sizeof u);
    uint32_t mag = u & 0x7FFFFFFFu, neg = u >> 31;
    if(kind == DSN_SEAL_VARIANCE) return neg || mag >= n ? -1 : (int64_t)mag;
    if(mag >= n) return -1;
    return neg ? (int64_t)n - 1 - mag : (int64_t)n + mag;
}

static float order_float(uint64_t o, int kind)
{
    uint64_t n = RANGE_N[kind];
    uint32_t u = kind == DSN_SEAL_VARIANCE ? (uint32_t)o : o >= n ? (uint32_t)(o - n) : 0x80000000u | (uint32_t)(n - 1 - o);
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

int dsn_seal2_array(float *x, size_t n, const dsn_serial *sn, const dsn_seal_spec *spec, unsigned tensor, int kind,
                    int direction)
{
    if(n == 0) return 0;
    if(kind < DSN_SEAL_WEIGHT || kind > DSN_SEAL_VARIANCE) return -1;
    uint64_t m = kind == DSN_SEAL_VARIANCE ? RANGE_N[kind] : 2ull*RANGE_N[kind];
    uint8_t *ks = malloc(8*n);
    int rc = -1;
    if(!ks || keystream(ks, 8*n, TAG2, sn, spec, tensor) != 0) goto cleanup;
    for(size_t i = 0; i < n; ++i) if(float_order(x[i], kind) < 0) goto cleanup;
    for(size_t i = 0; i < n; ++i){
        uint64_t o = (uint64_t)float_order(x[i], kind), pad = word_at(ks + 8*i) % m;
        x[i] = order_float(direction == DSN_SEAL ? (o + pad) % m : (o + m - pad) % m, kind);
    }
    rc = 0;
cleanup:
    free(ks);
    return rc;
}

/* The parameter arrays of a layer, in the order they are numbered; 0 when it has none. */
typedef struct param_arrays {
    float *x[5];
    size_t n[5];
    int kind[5];         /* DSN_SEAL_WEIGHT, _MEAN, _VARIANCE */
    int count;
} param_arrays;

static void add(param_arrays *p, float *x, size_t n, int kind)
{
    p->x[p->count] = x;
    p->n[p->count] = n;
    p->kind[p->count] = kind;
    p->count++;
}

/* -1 for a layer type with weights that sealing does not know (it would be left in the clear) */
static int layer_arrays(const layer *l, param_arrays *p)
{
    memset(p, 0, sizeof *p);
    size_t outs;
    if(l->type == CONVOLUTIONAL || l->type == DECONVOLUTIONAL){
        add(p, l->weights, (size_t)l->nweights, DSN_SEAL_WEIGHT);
        outs = (size_t)l->n;
    }else if(l->type == CONNECTED){
        add(p, l->weights, (size_t)l->inputs*l->outputs, DSN_SEAL_WEIGHT);
        outs = (size_t)l->outputs;
    }else if(l->type == BATCHNORM){
        add(p, l->scales, (size_t)l->c, DSN_SEAL_WEIGHT);
        add(p, l->rolling_mean, (size_t)l->c, DSN_SEAL_MEAN);
        add(p, l->rolling_variance, (size_t)l->c, DSN_SEAL_VARIANCE);
        return 1;
    }else if(l->type == LOCAL || l->type == RNN || l->type == CRNN || l->type == LSTM || l->type == GRU){
        return -1;
    }else{
        return 0;
    }
    add(p, l->biases, outs, DSN_SEAL_WEIGHT);
    if(l->batch_normalize){
        add(p, l->scales, outs, DSN_SEAL_WEIGHT);
        add(p, l->rolling_mean, outs, DSN_SEAL_MEAN);
        add(p, l->rolling_variance, outs, DSN_SEAL_VARIANCE);
    }
    return 1;
}

static void push_layer(layer *l)
{
#ifdef GPU
    if(gpu_index < 0) return;
    if(l->type == CONVOLUTIONAL) push_convolutional_layer(*l);
    else if(l->type == DECONVOLUTIONAL) push_deconvolutional_layer(*l);
    else if(l->type == CONNECTED) push_connected_layer(*l);
    else if(l->type == BATCHNORM) push_batchnorm_layer(*l);
#else
    (void)l;
#endif
}

/* One tensor of the given kind as spec says (version 1 keeps a variance's signs) */
static int seal_tensor(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int kind, const dsn_seal_spec *spec,
                       int direction)
{
    if(spec->version == DSN_SEAL_V1) return dsn_seal_array(x, n, sn, tensor, kind != DSN_SEAL_VARIANCE, direction);
    if(spec->version == DSN_SEAL_V2 || spec->version == DSN_SEAL_V3)
        return dsn_seal2_array(x, n, sn, spec, tensor, kind, direction);
    return -1;
}

int dsn_seal_fits(const network *net, int start, int cutoff, int version)
{
    if(version < DSN_SEAL_V1 || version > DSN_SEAL_V3) return -1;
    for(int i = 0; i < net->n; ++i){
        param_arrays p;
        int has = layer_arrays(&net->layers[i], &p);
        if(has < 0) return -1;
        for(int a = 0; has && version >= DSN_SEAL_V2 && i >= start && i < cutoff && a < p.count; ++a)
            for(size_t k = 0; k < p.n[a]; ++k) if(float_order(p.x[a][k], p.kind[a]) < 0) return 0;
    }
    return 1;
}

int dsn_seal_network(network *net, int start, int cutoff, const dsn_serial *sn, const dsn_seal_spec *spec,
                     int direction)
{
    unsigned tensor_base = 0;
    if(dsn_seal_fits(net, start, cutoff, spec->version) != 1) return -1;
    for(int i = 0; i < net->n; ++i){
        param_arrays p;
        int has = layer_arrays(&net->layers[i], &p);
        if(has < 0) return -1;
        if(!has) continue;
        if(i >= start && i < cutoff){
            for(int a = 0; a < p.count; ++a){
                if(seal_tensor(p.x[a], p.n[a], sn, tensor_base + (unsigned)a, p.kind[a], spec, direction) != 0)
                    return -1;
            }
            push_layer(&net->layers[i]);
        }
        tensor_base += 8;
    }
    return 0;
}

/* the parameters of layers [start, cutoff), as 4 little-endian bytes each, into the digest */
static int digest_params(EVP_MD_CTX *ctx, const network *net, int start, int cutoff)
{
    uint8_t buf[4096];
    size_t used = 0;
    for(int i = start; i < cutoff && i < net->n; ++i){
        param_arrays p;
        if(layer_arrays(&net->layers[i], &p) < 0) return -1;
        for(int a = 0; a < p.count; ++a) for(size_t k = 0; k < p.n[a]; ++k){
            uint32_t u;
            memcpy(&u, &p.x[a][k], sizeof u);
            for(int b = 0; b < 4; ++b) buf[used++] = (uint8_t)(u >> (8*b));
            if(used < sizeof buf) continue;
            if(EVP_DigestUpdate(ctx, buf, used) != 1) return -1;
            used = 0;
        }
    }
    return EVP_DigestUpdate(ctx, buf, used) == 1 ? 0 : -1;
}

int dsn_seal_nonce(uint8_t nonce[DSN_SEAL_NONCE_BYTES], const network *net, int start, int cutoff)
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, TAG_NONCE, sizeof TAG_NONCE) == 1 &&
             digest_params(ctx, net, start, cutoff) == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if(ok) memcpy(nonce, md, DSN_SEAL_NONCE_BYTES);
    return ok ? 0 : -1;
}

/* the nonce's 32 hex digits into spec; 0 or -1 */
static int parse_nonce(dsn_seal_spec *spec, const char *nonce, char *err, size_t errlen)
{
    size_t len = nonce ? strlen(nonce) : 0;
    for(size_t i = 0; i < len && len == 2*DSN_SEAL_NONCE_BYTES; ++i) {
        if(!strchr("0123456789abcdefABCDEF", nonce[i])) len = 0;
    }
    if(len != 2*DSN_SEAL_NONCE_BYTES) {
        snprintf(err, errlen, "sealed=%d needs seal_nonce= of %d hex digits (dsn export writes it beside the weights)%s%.40s",
                 DSN_SEAL_V3, 2*DSN_SEAL_NONCE_BYTES, nonce ? ", not " : "", nonce ? nonce : "");
        return -1;
    }
    for(int i = 0; i < DSN_SEAL_NONCE_BYTES; ++i) {
        char hex[3] = {nonce[2*i], nonce[2*i + 1], 0};
        spec->nonce[i] = (uint8_t)strtoul(hex, NULL, 16);
    }
    return 0;
}

/* a whole number in [lo, hi] from text, or -1 */
static long whole(const char *text, long lo, long hi)
{
    char *end = NULL;
    long v = text ? strtol(text, &end, 10) : -1;
    return text && end != text && !*end && v >= lo && v <= hi ? v : -1;
}

int dsn_seal_spec_parse(dsn_seal_spec *spec, const char *sealed, const char *nonce, const char *cost, char *err,
                        size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    long v = sealed ? whole(sealed, 0, DSN_SEAL_LATEST) : 0;
    if(v < 0) {
        snprintf(err, errlen, "sealed=%s: a seal version 0..%d", sealed, DSN_SEAL_LATEST);
        return -1;
    }
    spec->version = (int)v;
    if(v != DSN_SEAL_V3) {
        if(!nonce && !cost) return 0;
        snprintf(err, errlen, "%s goes with sealed=%d only (here sealed=%ld)", nonce ? "seal_nonce=" : "seal_cost=",
                 DSN_SEAL_V3, v);
        return -1;
    }
    if(parse_nonce(spec, nonce, err, errlen) != 0) return -1;
    spec->cost = (int)whole(cost, DSN_SEAL_COST_MIN, DSN_SEAL_COST_MAX);
    if(spec->cost < 0) {
        snprintf(err, errlen, "sealed=%d needs seal_cost= %d..%d (scrypt's log2 N; dsn export writes it)%s%.40s",
                 DSN_SEAL_V3, DSN_SEAL_COST_MIN, DSN_SEAL_COST_MAX, cost ? ", not " : "", cost ? cost : "");
        return -1;
    }
    return 0;
}

void dsn_seal_nonce_text(char out[2*DSN_SEAL_NONCE_BYTES + 1], const dsn_seal_spec *spec)
{
    for(int i = 0; i < DSN_SEAL_NONCE_BYTES; ++i) snprintf(out + 2*i, 3, "%02x", spec->nonce[i]);
}
