/* CUDA kernels of the DSN layers. Only the stamp touches image-sized data on the device; the
 * loss layers work on batch x classes tensors on the host (see their _gpu functions). */
#include "cuda_runtime.h"
#include "curand.h"
#include "cublas_v2.h"

extern "C" {
#include "cuda.h"
}

/* One thread per (row, bit, pixel of the cell): rows[b*bits + i] is cell i's value in row b
 * (0/1 for a serial, anything in [0,1] for a continuous stamp), -1 when row b is not stamped.
 * Writes the value into every channel. */
__global__ void dsn_stamp_kernel(float *x, int batch, int c, int w, int h, int gw, int cell,
                                 int x0, int y0, int bits, const float *rows)
{
    int id = (blockIdx.x + blockIdx.y*gridDim.x) * blockDim.x + threadIdx.x;
    int per_row = bits*cell*cell;
    if(id >= batch*per_row) return;
    int b = id / per_row, r = id % per_row;
    int i = r / (cell*cell), p = r % (cell*cell);
    float v = rows[b*bits + i];
    if(v < 0) return;
    int px = x0 + (i % gw)*cell + p % cell;
    int py = y0 + (i / gw)*cell + p / cell;
    int k;
    for(k = 0; k < c; ++k) x[((size_t)b*c + k)*w*h + py*w + px] = v;
}

extern "C" void dsn_stamp_rows_gpu(float *x, int batch, int c, int w, int h, int gw, int cell, int x0, int y0,
                                   int bits, const float *rows_gpu)
{
    size_t n = (size_t)batch*bits*cell*cell;
    dsn_stamp_kernel<<<cuda_gridsize(n), BLOCK>>>(x, batch, c, w, h, gw, cell, x0, y0, bits, rows_gpu);
    check_error(cudaPeekAtLastError());
}
