/* dsn_seal.h: a customer model's weights, sealed to its serial.
 *
 * The learned lock (the student answers at chance without the stamp) does not stop a thief who
 * holds the weights: the features are the teacher's, and fine-tuning or a fresh head reuses them.
 * Sealing does: `dsn export` writes every parameter tensor of the customer model encrypted under
 * a key derived from the serial (SHA-256 with a domain tag, then a ChaCha20 keystream, both from
 * OpenSSL), and its cfg's [serial_stamp] says sealed=3 and seal_nonce=, the export's nonce. The
 * [serial_stamp] layer undoes it right after Darknet has loaded the file, with the serial given by
 * -serial / DSN_SERIAL. Without the
 * serial, or with any other one (one bit off is as good as random), every weight is a keyed
 * uniform draw over a range of moderate floats, independent of what was trained: the file is
 * worth exactly a random initialisation, and the network still computes finite (useless) outputs.
 *
 * Version 3 keys version 2's pads through scrypt of the serial, salted with a nonce: 16 bytes
 * that dsn export derives from the very weights it seals (the same file exported twice is the same
 * bytes, two different files get different nonces), written to the cfg as seal_nonce= beside
 * seal_cost= (scrypt's log2 N; 14 by default). So two weight files sealed to one serial (a
 * retrained model for the same certificate, or a checkpoint beside the final weights) no longer
 * share their pads (in version 2 the difference of the two sealed files was the difference of the
 * two models, in value order), and each serial a thief tries costs one scrypt, not one SHA-256. Version 2 (sealed=2, no
 * nonce) and version 1 (sealed=1, a keyed permutation with sign flips that left each tensor's
 * multiset of absolute values in the clear, worth +0.6..+1.1 points over scratch to a thief
 * fine-tuning on 100 MNIST images) are still read.
 *
 *     dsn_seal_spec seal = {.version = DSN_SEAL_V3, .cost = DSN_SEAL_COST_DEFAULT};
 *     dsn_seal_nonce(seal.nonce, net, 0, net->n);                            // the export's nonce
 *     dsn_seal_network(net, 0, net->n, &serial, &seal, DSN_SEAL);           // before save_weights
 *     dsn_seal_network(net, 0, net->n, &serial, &seal, DSN_UNSEAL);         // after load_weights
 *
 * Tensors are numbered by their position among the network's parameterised layers
 * ([convolutional], [connected], [batchnorm]), not by layer index, so a network built without the
 * [serial_stamp] layer (dsn verify, an edited cfg) unseals the same way. Sealing is exact: unseal
 * gives back the original bits. Non-goal: authentication; a wrong serial is not detected here
 * (the serial's own check symbol catches typos), it just gives a useless network. Nor does the
 * nonce hide which sealed files hold the same weights (they are the same bytes). */
#ifndef DSN_SEAL_H
#define DSN_SEAL_H

#include "darknet.h"
#include "dsn_serial.h"

enum { DSN_SEAL = 0, DSN_UNSEAL = 1 };
/* the versions, as the cfg's sealed= names them; dsn export writes DSN_SEAL_LATEST */
enum { DSN_SEAL_V1 = 1, DSN_SEAL_V2 = 2, DSN_SEAL_V3 = 3, DSN_SEAL_LATEST = DSN_SEAL_V3 };
/* a tensor's kind, and its range in versions 2 and 3: weights, biases and batch-norm scales
   |x| < 64, batch-norm means |x| < 2^16, variances 0 <= x < 2^64 */
enum { DSN_SEAL_WEIGHT = 0, DSN_SEAL_MEAN = 1, DSN_SEAL_VARIANCE = 2 };
enum { DSN_SEAL_NONCE_BYTES = 16, DSN_SEAL_COST_MIN = 1, DSN_SEAL_COST_MAX = 20, DSN_SEAL_COST_DEFAULT = 14 };

/* How a weights file is sealed: its cfg's sealed= (0: not sealed) and, in version 3, seal_nonce=
   (32 hex digits) and seal_cost= (scrypt's log2 N, 1..20: 2^cost KiB of memory per serial tried).
   Both are ignored in the other versions. */
typedef struct dsn_seal_spec {
    int version;
    uint8_t nonce[DSN_SEAL_NONCE_BYTES];
    int cost;
} dsn_seal_spec;

/* The spec of the cfg's texts sealed=, seal_nonce= and seal_cost= (each NULL when absent): 0, or
 * -1 with err naming the option (a version other than 0..3; version 3 without a nonce of 32 hex
 * digits or a cost in range; a nonce or cost beside another version). */
int dsn_seal_spec_parse(dsn_seal_spec *spec, const char *sealed, const char *nonce, const char *cost, char *err,
                        size_t errlen);
/* The nonce as seal_nonce= writes it: 32 lowercase hex digits and a NUL. */
void dsn_seal_nonce_text(char out[2*DSN_SEAL_NONCE_BYTES + 1], const dsn_seal_spec *spec);
/* Version 3's nonce for the layers [start, cutoff) of net: the first 16 bytes of SHA-256("DSN seal
 * v3 nonce" 0x00 || every parameter, in the seal's order, as 4 little-endian bytes). No secret: it
 * tells only whether two sealed files hold the same weights. 0, or -1 when OpenSSL fails or a
 * layer type is unknown to sealing. */
int dsn_seal_nonce(uint8_t nonce[DSN_SEAL_NONCE_BYTES], const network *net, int start, int cutoff)
    __attribute__((warn_unused_result));

/* Seals (or unseals) the parameters of the layers in [start, cutoff) of net, in place, as spec
 * says (its version and, in version 3, its nonce); on GPU builds it pushes the changed layers to the device. Returns 0, or -1 when
 * OpenSSL fails, memory runs out, the version is unknown, or (version 2) a value is outside the
 * sealable range (versions 2 and 3): a weight with |w| >= 64 (a batch-norm mean: 2^16), a
 * negative variance, an infinity or a NaN when sealing; a file that version 2 or 3 did not write
 * when unsealing: the net is then untouched. When OpenSSL or
 * memory fails the net is left partly transformed: the caller must not use or save it. */
int dsn_seal_network(network *net, int start, int cutoff, const dsn_serial *sn, const dsn_seal_spec *spec,
                     int direction) __attribute__((warn_unused_result));

/* 1 when every parameter of the layers in [start, cutoff) is in the version's range (version 1:
 * always), so that dsn_seal_network can seal or unseal them; 0 when one is not; -1 for an unknown
 * version or a layer type with weights that sealing does not know. */
int dsn_seal_fits(const network *net, int start, int cutoff, int version);

/* The same transforms on one array: what dsn_seal_network does to each tensor. `tensor` numbers
 * the tensor within the network. Version 1: `flip_signs` 0 keeps signs (variances). Versions 2
 * and 3 (spec NULL or of version 2: version 2; else version 3 with spec's nonce and cost): `kind`
 * one of DSN_SEAL_WEIGHT, _MEAN, _VARIANCE (its range); -1 when a value is outside the range, the
 * kind is unknown or the cost out of range (x is then unchanged). Exposed for the tests. */
int dsn_seal_array(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int flip_signs, int direction)
    __attribute__((warn_unused_result));
int dsn_seal2_array(float *x, size_t n, const dsn_serial *sn, const dsn_seal_spec *spec, unsigned tensor, int kind,
                    int direction) __attribute__((warn_unused_result));

#endif
