// The encoder's element-wise and row-wise steps on the GPU (bert/cuda.rs runs the matmuls with
// cuBLAS). Compiled at run time by NVRTC, so building glossa needs no CUDA toolkit.
//
// Layout: a batch is padded on the right to its longest sequence, L tokens; row r = b*L + i is
// token i of sequence b; `lens[b]` is its real length. Row kernels run one block per row.

#define BLOCK 256

// Sum of `v` over the block; every thread gets the result. `shared` holds BLOCK floats.
__device__ float block_sum(float v, float* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    float total = shared[0];
    __syncthreads();
    return total;
}

__device__ float block_max(float v, float* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = BLOCK / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    float m = shared[0];
    __syncthreads();
    return m;
}

// Layer norm of row `x` (h values) in place, variance with 1/h as PyTorch's, two passes
// (mean, then the centred squares) as the CPU kernel does.
__device__ void layer_norm_row(float* x, const float* gamma, const float* beta, float eps, int h,
                               float* shared) {
    float s = 0.0f;
    for (int d = threadIdx.x; d < h; d += BLOCK) s += x[d];
    float mean = block_sum(s, shared) / h;
    float q = 0.0f;
    for (int d = threadIdx.x; d < h; d += BLOCK) {
        float c = x[d] - mean;
        q += c * c;
    }
    float inv = rsqrtf(block_sum(q, shared) / h + eps);
    for (int d = threadIdx.x; d < h; d += BLOCK) x[d] = (x[d] - mean) * inv * gamma[d] + beta[d];
}

// x[r] = LayerNorm(word[ids[r]] + position[offset + i] + token_type), r = b*L + i.
extern "C" __global__ void embed(const unsigned int* ids, const float* word, const float* position,
                                 const float* token_type, const float* gamma, const float* beta,
                                 float eps, int h, int L, int offset, float* x) {
    __shared__ float shared[BLOCK];
    long r = blockIdx.x;
    int i = r % L;
    const float* w = word + (long)ids[r] * h;
    const float* p = position + (long)(offset + i) * h;
    float* row = x + r * h;
    for (int d = threadIdx.x; d < h; d += BLOCK) row[d] = w[d] + p[d] + token_type[d];
    __syncthreads();
    layer_norm_row(row, gamma, beta, eps, h, shared);
}

// qkv (B*L, 3h) plus its bias → q, k, v, each (B, heads, L, hd) contiguous, for the batched
// matmuls of attention. One thread per value.
extern "C" __global__ void split_heads(const float* qkv, const float* bias, int B, int L, int h,
                                       int heads, float* q, float* k, float* v) {
    long n = (long)B * L * 3 * h;
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    int col = idx % (3 * h);
    long r = idx / (3 * h);
    int b = r / L, i = r % L;
    int which = col / h, c = col % h;
    int hd = h / heads;
    int head = c / hd, e = c % hd;
    float* dst = which == 0 ? q : (which == 1 ? k : v);
    dst[(((long)b * heads + head) * L + i) * hd + e] = qkv[idx] + bias[col];
}

// Softmax of each row of scores (B*heads*L rows of L), over the keys j < lens[b] only; the
// padded keys get 0.
extern "C" __global__ void masked_softmax(float* scores, const int* lens, int heads, int L) {
    __shared__ float shared[BLOCK];
    long row = blockIdx.x;
    int b = row / ((long)heads * L);
    int n = lens[b];
    float* s = scores + row * L;
    float m = __int_as_float(0xff800000);  // -inf
    for (int j = threadIdx.x; j < n; j += BLOCK) m = fmaxf(m, s[j]);
    m = block_max(m, shared);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += BLOCK) {
        float e = expf(s[j] - m);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / block_sum(sum, shared);
    for (int j = threadIdx.x; j < L; j += BLOCK) s[j] = j < n ? s[j] * inv : 0.0f;
}

// context (B, heads, L, hd) → (B*L, h), heads side by side as BERT concatenates them.
extern "C" __global__ void merge_heads(const float* ctx, int B, int L, int h, int heads,
                                       float* out) {
    long n = (long)B * L * h;
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    int c = idx % h;
    long r = idx / h;
    int b = r / L, i = r % L;
    int hd = h / heads;
    int head = c / hd, e = c % hd;
    out[idx] = ctx[(((long)b * heads + head) * L + i) * hd + e];
}

// x[r] = LayerNorm(x[r] + y[r] + bias): a sublayer's output, its bias and the residual.
extern "C" __global__ void residual_layer_norm(float* x, const float* y, const float* bias,
                                               const float* gamma, const float* beta, float eps,
                                               int h) {
    __shared__ float shared[BLOCK];
    long r = blockIdx.x;
    float* row = x + r * h;
    const float* add = y + r * h;
    for (int d = threadIdx.x; d < h; d += BLOCK) row[d] += add[d] + bias[d];
    __syncthreads();
    layer_norm_row(row, gamma, beta, eps, h, shared);
}

// y = GELU(y + bias) with the erf form BERT and PyTorch use; y is (rows, n).
extern "C" __global__ void bias_gelu_erf(float* y, const float* bias, long total, int n) {
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    float v = y[idx] + bias[idx % n];
    y[idx] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}

// One vector per sequence from its real tokens: mode 0 mean, 1 CLS (the first token), 2 max.
extern "C" __global__ void pool(const float* x, const int* lens, int L, int h, int mode,
                                float* out) {
    int b = blockIdx.x;
    int n = lens[b];
    const float* rows = x + (long)b * L * h;
    for (int d = threadIdx.x; d < h; d += blockDim.x) {
        float acc;
        if (mode == 1) {
            acc = rows[d];
        } else if (mode == 2) {
            acc = rows[d];
            for (int i = 1; i < n; i++) acc = fmaxf(acc, rows[(long)i * h + d]);
        } else {
            acc = 0.0f;
            for (int i = 0; i < n; i++) acc += rows[(long)i * h + d];
            acc /= n;
        }
        out[(long)b * h + d] = acc;
    }
}
