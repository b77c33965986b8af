/* dsn_seal.h: a customer model's weights, sealed to its serial.
 *
 * The learned lock (the student answers at chance without the stamp) does not stop a thief who
 * holds the weights: the features are the teacher's, and fine-tuning or a fresh head reuses them.
 * Sealing does: `dsn export` writes every parameter tensor of the customer model shuffled by a
 * keyed permutation with keyed sign flips, the key derived from the serial (SHA-256 with a domain
 * tag, then a ChaCha20 keystream, both from OpenSSL). The [serial_stamp] layer (sealed=1) undoes
 * it right after Darknet has loaded the file, with the serial given by -serial / DSN_SERIAL. Without
 * the serial, or with any other one (one bit off is as good as random), the network runs on
 * scrambled weights and its weights are worth no more than a random initialisation: what is left
 * of the trained model is, per tensor, the multiset of absolute values.
 *
 *     dsn_seal_network(net, 0, net->n, &serial, DSN_SEAL);     // before save_weights (dsn export)
 *     dsn_seal_network(net, 0, net->n, &serial, DSN_UNSEAL);   // after load_weights
 *
 * Tensors are numbered by their position among the network's parameterised layers
 * ([convolutional], [connected], [batchnorm]), not by layer index, so a network built without the
 * [serial_stamp] layer (dsn verify, an edited cfg) unseals the same way. Sealing is exact: unseal
 * gives back the original bits. Non-goal: authentication; a wrong serial is not detected here
 * (the serial's own check symbol catches typos), it just gives a useless network. */
#ifndef DSN_SEAL_H
#define DSN_SEAL_H

#include "darknet.h"
#include "dsn_serial.h"

enum { DSN_SEAL = 0, DSN_UNSEAL = 1 };

/* Seals (or unseals) the parameters of the layers in [start, cutoff) of net, in place; on GPU
 * builds it pushes the changed layers to the device. Returns 0, or -1 when OpenSSL fails or memory
 * runs out (net is then left partly transformed: the caller must not use or save it). */
int dsn_seal_network(network *net, int start, int cutoff, const dsn_serial *sn, int direction)
    __attribute__((warn_unused_result));

/* The same transform on one array: what dsn_seal_network does to each tensor. `tensor` numbers
 * the tensor within the network; `flip_signs` 0 keeps signs (variances). Exposed for the tests. */
int dsn_seal_array(float *x, size_t n, const dsn_serial *sn, unsigned tensor, int flip_signs, int direction)
    __attribute__((warn_unused_result));

#endif
