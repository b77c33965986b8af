/* dsn_seal.c: keyed permutation and sign flips of a customer model's parameters (see dsn_seal.h).
 *
 * Per tensor t: key = SHA-256("DSN seal v1" 0x00 || nbits (2 bytes, big endian) || serial bits
 * packed MSB first || t (4 bytes, big endian)); the ChaCha20 keystream of that key (zero nonce:
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
#include <stdlib.h>
#include <string.h>

static const char TAG[] = "DSN seal v1";

static int tensor_key(uint8_t key[32], const dsn_serial *sn, unsigned tensor)
{
    uint8_t msg[sizeof TAG + 2 + DSN_MAX_BITS/8 + 4];
    size_t n = 0;
    unsigned int klen = 0;
    memcpy(msg, TAG, sizeof TAG);                 /* the tag and its NUL */
    n = sizeof TAG;
    msg[n++] = (uint8_t)(sn->nbits >> 8);
    msg[n++] = (uint8_t)sn->nbits;
    dsn_serial_to_bytes(msg + n, sn);
    n += (size_t)(sn->nbits + 7)/8;
    for(int i = 3; i >= 0; --i) msg[n++] = (uint8_t)(tensor >> (8*i));
    return EVP_Digest(msg, n, key, &klen, EVP_sha256(), NULL) == 1 && klen == 32 ? 0 : -1;
}

/* len bytes of the tensor's keystream into out */
static int keystream(uint8_t *out, size_t len, const dsn_serial *sn, unsigned tensor)
{
    uint8_t key[32], iv[16] = {0};
    int ok = 0, outl = 0;
    if(tensor_key(key, sn, tensor) != 0) return -1;
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
    if(!ks || !perm || !copy || keystream(ks, len, sn, tensor) != 0) goto cleanup;
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

/* The parameter arrays of a layer, in the order they are numbered; 0 when it has none. */
typedef struct param_arrays {
    float *x[5];
    size_t n[5];
    int flip[5];
    int count;
} param_arrays;

static void add(param_arrays *p, float *x, size_t n, int flip)
{
    p->x[p->count] = x;
    p->n[p->count] = n;
    p->flip[p->count] = flip;
    p->count++;
}

/* -1 for a layer type with weights that sealing does not know (it would be left in the clear) */
static int layer_arrays(const layer *l, param_arrays *p)
{
    memset(p, 0, sizeof *p);
    size_t outs;
    if(l->type == CONVOLUTIONAL || l->type == DECONVOLUTIONAL){
        add(p, l->weights, (size_t)l->nweights, 1);
        outs = (size_t)l->n;
    }else if(l->type == CONNECTED){
        add(p, l->weights, (size_t)l->inputs*l->outputs, 1);
        outs = (size_t)l->outputs;
    }else if(l->type == BATCHNORM){
        add(p, l->scales, (size_t)l->c, 1);
        add(p, l->rolling_mean, (size_t)l->c, 1);
        add(p, l->rolling_variance, (size_t)l->c, 0);
        return 1;
    }else if(l->type == LOCAL || l->type == RNN || l->type == CRNN || l->type == LSTM || l->type == GRU){
        return -1;
    }else{
        return 0;
    }
    add(p, l->biases, outs, 1);
    if(l->batch_normalize){
        add(p, l->scales, outs, 1);
        add(p, l->rolling_mean, outs, 1);
        add(p, l->rolling_variance, outs, 0);
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

int dsn_seal_network(network *net, int start, int cutoff, const dsn_serial *sn, int direction)
{
    unsigned tensor_base = 0;
    for(int i = 0; i < net->n; ++i){
        param_arrays p;
        int has = layer_arrays(&net->layers[i], &p);
        if(has < 0) return -1;
        if(!has) continue;
        if(i >= start && i < cutoff){
            for(int a = 0; a < p.count; ++a){
                if(dsn_seal_array(p.x[a], p.n[a], sn, tensor_base + (unsigned)a, p.flip[a], direction) != 0) return -1;
            }
            push_layer(&net->layers[i]);
        }
        tensor_base += 8;
    }
    return 0;
}
