/* torch.argmax's choice over n floats: the first NaN if there is one, else the first largest (-0.0 and 0.0 are
 * equal); 0 for n < 1. Shared by the decode kernels (_decode_layer.c) and the sampling extension
 * (snuggle/generation/_sample.c, argmax_into). */
#ifndef SNUGGLE_ARGMAX_H
#define SNUGGLE_ARGMAX_H

#include <math.h>
#include <stddef.h>

static inline ptrdiff_t argmax_first(const float *x, ptrdiff_t n) {
    /* the largest value lane by lane (vectorizes: `v > m ? v : m` is MAXPS), and whether any is NaN */
    float lanes[16];
    int nan_lanes[16];
    for (int l = 0; l < 16; l++) {
        lanes[l] = -INFINITY;
        nan_lanes[l] = 0;
    }
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            const float v = x[i + l];
            lanes[l] = v > lanes[l] ? v : lanes[l];
            nan_lanes[l] |= v != v;
        }
    float top = -INFINITY;
    int any_nan = 0;
    for (; i < n; i++) {
        top = x[i] > top ? x[i] : top;
        any_nan |= x[i] != x[i];
    }
    for (int l = 0; l < 16; l++) {
        top = lanes[l] > top ? lanes[l] : top;
        any_nan |= nan_lanes[l];
    }
    for (i = 0; i < n; i++)
        if (any_nan ? x[i] != x[i] : x[i] == top) break;
    return i < n ? i : 0;
}

#endif
