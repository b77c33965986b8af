/* dsn_seal.h: a customer model's weights, sealed to its serial.
 *
 * The learned lock (the student answers at chance without the stamp) does not stop a thief who
 * holds the weights: the features are the teacher's, and fine-tuning or a fresh head reuses them.
 * Sealing does: `dsn export` writes every parameter tensor of the customer model encrypted under
 * a key derived from the serial (SHA-256 with a domain tag, then a ChaCha20 keystream, both from
 * OpenSSL), and its cfg's [serial_stamp] says sealed=2. The [serial_stamp] layer undoes it right
 * after Darknet has loaded the file, with the serial given by -serial / DSN_SERIAL. Without the
 * serial, or with any other one (one bit off is as good as random), every weight is a keyed
 * uniform draw over a range of moderate floats, independent of what was trained: the file is
 * worth exactly a random initialisation, and the network still computes finite (useless) outputs.
 *
 * Version 1 (sealed=1, files written before version 2; still read) was a keyed permutation with
 * sign flips: it left each tensor's multiset of absolute values in the clear, worth +0.6..+1.1
 * points over scratch to a thief fine-tuning on 100 MNIST images.
 *
 *     dsn_seal_network(net, 0, net->n, &serial, DSN_SEAL_V2, DSN_SEAL);     // before save_weights
 *     dsn_seal_network(net, 0, net->n, &serial, DSN_SEAL_V2, DSN_UNSEAL);   // after load_weights
 *
 * Tensors are numbered by their position among the network's parameterised layers
 * ([convolutional], [connected], [batchnorm]), not by layer index, so a network built without the
 * [serial_stamp] layer (dsn verify, an edited cfg) unseals the same way. Sealing is exact: unseal
 * gives back the original bits. Non-goal: authentication; a wrong serial is not detected here
 * (the serial's own check symbol catches typos), it just gives a useless network. The key
 * depends on the serial and the tensor's number only: two different weight files sealed to one
 * serial share their pads, so their difference leaks (the same file exported twice is the same
 * bytes, which is harmless). A certificate names one model (dsn issue --model): issue a new one
 * for a retrained model rather than sealing it to an old serial. */
#ifndef DSN_SEAL_H
#define DSN_SEAL_H

#include "darknet.h"
#include "dsn_serial.h"

enum { DSN_SEAL = 0, DSN_UNSEAL = 1 };
/* the versions, as the cfg's sealed= names them; dsn export writes DSN_SEAL_LATEST */
enum { DSN_SEAL_V1 = 1, DSN_SEAL_V2 = 2, DSN_SEAL_LATEST = DSN_SEAL_V2 };
/* a tensor's kind, and its range in version 2: weights, biases and batch-norm scales |x| < 64,
   batch-norm means |x| < 2^16, variances 0 <= x < 2^64 */
enum { DSN_SEAL_WEIGHT = 0, DSN_SEAL_MEAN = 1, DSN_SEAL_VARIANCE = 2 };

/* Seals (or unseals) the parameters of the layers in [start, cutoff) of net, in place, in the
 * given version; on GPU builds it pushes the changed layers to the device. Returns 0, or -1 when
 * OpenSSL fails, memory runs out, the version is unknown, or (version 2) a value is outside the
 * sealable range: a weight with |w| >= 64 (a batch-norm mean: 2^16), a negative variance, an
 * infinity or a NaN when sealing;
 * a file that version 2 did not write when unsealing: the net is then untouched. When OpenSSL or
 * memory fails the net is left partly transformed: the caller must not use or save it. */
int dsn_seal_network(network *net, int start, int cutoff, const dsn_serial *sn, int version, int direction)
    __attribute__((warn_unused_result));

/* 1 when every parameter of the layers in [start, cutoff) is in the version's range (version 1:
 * always), so that dsn_seal_network can seal or unseal them; 0 when one is not; -1 for an unknown
 * version or a layer type with weights that sealing does not know. */
int dsn_seal_fits(const network *net, int start, int cutoff, int version);

/* The same transforms on one array: what dsn_seal_network does to each tensor. `tensor` numbers
 * the tensor within the network. Version 1: `flip_signs` 0 keeps signs (variances). Version 2:
 * `kind` one of DSN_SEAL_WEIGHT, _MEAN, _VARIANCE (its range); -1 when a value is outside the
 * range or the kind is unknown (x is then unchanged). Exposed for the tests. */
int dsn_seal_array(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int flip_signs, int direction)
    __attribute__((warn_unused_result));
int dsn_seal2_array(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int kind, int direction)
    __attribute__((warn_unused_result));

#endif
