//! The encoder's forward pass for inference on an NVIDIA GPU (feature `cuda`): the network of
//! [`super::Bert`], with the matmuls in cuBLAS (f32) and the rest in the few kernels of
//! `cuda_kernels.cu`, which NVRTC compiles when the engine starts.
//!
//! Why not candle's CUDA backend: it links the CUDA toolkit (nvcc, cudart) at build time and
//! compiles a few dozen quantised-matmul kernels glossa never calls; through cudarc's run-time
//! loading, a machine without the toolkit (CI, this project's build machine) builds a binary
//! that runs the teacher on any machine with a driver, cuBLAS and NVRTC. docs/performance.md
//! has the measurements against the CPU engine ([`super::FastBert`]).
//!
//! A batch is padded on the right to its longest sequence (the CPU path packs sequences;
//! on the GPU one batched matmul over all heads is worth the padding), so callers should hand
//! it sequences of similar length: [`CudaBert::embed`] sorts them.

use std::sync::Arc;

use candle_core::Tensor;
use cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use super::layers::{Bert, Layer, LayerNorm, Linear};
use super::{Activation, Pooling};
use crate::{Error, Result};

const KERNELS: &str = include_str!("cuda_kernels.cu");
/// Threads per block of the row kernels: `BLOCK` in cuda_kernels.cu.
const BLOCK: u32 = 256;
/// A batch holds at most this many padded tokens (the activations of e5-small at this size
/// take ~1 GB), and its attention scores at most this many values.
const MAX_BATCH_TOKENS: usize = 1 << 16;
const MAX_BATCH_SCORES: usize = 1 << 28;

/// A CUDA, cuBLAS or NVRTC result as glossa's, saying which step failed.
macro_rules! gpu {
    ($what:expr, $e:expr) => {
        $e.map_err(|e| Error::msg(format!("GPU teacher: {}: {e}", $what)))
    };
}

/// y = x·Wᵀ (+ b, added by the kernel that reads y), W as PyTorch stores it: (out, in).
struct Dense {
    weight: CudaSlice<f32>,
    bias: CudaSlice<f32>,
    inp: usize,
    out: usize,
}

struct Norm {
    weight: CudaSlice<f32>,
    bias: CudaSlice<f32>,
    eps: f32,
}

struct GpuLayer {
    /// Q, K and V in one matmul: rows [0, h) of the weight are Q, [h, 2h) K, [2h, 3h) V.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

struct Kernels {
    embed: CudaFunction,
    split_heads: CudaFunction,
    masked_softmax: CudaFunction,
    merge_heads: CudaFunction,
    residual_layer_norm: CudaFunction,
    bias_gelu_erf: CudaFunction,
    pool: CudaFunction,
}

pub struct CudaBert {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
    word: CudaSlice<f32>,
    position: CudaSlice<f32>,
    token_type: CudaSlice<f32>,
    embedding_norm: Norm,
    layers: Vec<GpuLayer>,
    activation: Activation,
    vocab: usize,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    position_offset: usize,
    max_positions: usize,
    device_name: String,
    /// The last batch's buffers, reused by the next.
    buffers: Option<Batch>,
}

fn upload(stream: &Arc<CudaStream>, t: &Tensor) -> Result<CudaSlice<f32>> {
    let host = t.flatten_all()?.to_vec1::<f32>()?;
    gpu!("copying weights to the GPU", stream.clone_htod(&host))
}

impl Dense {
    fn new(stream: &Arc<CudaStream>, linear: &Linear) -> Result<Self> {
        Self::from_parts(stream, &linear.weight, &linear.bias)
    }

    fn from_parts(stream: &Arc<CudaStream>, weight: &Tensor, bias: &Tensor) -> Result<Self> {
        let (out, inp) = weight.dims2()?;
        Ok(Dense {
            weight: upload(stream, weight)?,
            bias: upload(stream, bias)?,
            inp,
            out,
        })
    }
}

impl Norm {
    fn new(stream: &Arc<CudaStream>, norm: &LayerNorm) -> Result<Self> {
        Ok(Norm {
            weight: upload(stream, &norm.weight)?,
            bias: upload(stream, &norm.bias)?,
            eps: norm.eps as f32,
        })
    }
}

impl GpuLayer {
    fn new(stream: &Arc<CudaStream>, layer: &Layer) -> Result<Self> {
        let (weight, bias) = layer.fused_qkv()?;
        Ok(GpuLayer {
            qkv: Dense::from_parts(stream, &weight, &bias)?,
            attention_out: Dense::new(stream, &layer.attention_out)?,
            attention_norm: Norm::new(stream, &layer.attention_norm)?,
            intermediate: Dense::new(stream, &layer.intermediate)?,
            output: Dense::new(stream, &layer.output)?,
            output_norm: Norm::new(stream, &layer.output_norm)?,
        })
    }
}

impl Kernels {
    fn compile(ctx: &Arc<CudaContext>) -> Result<Self> {
        let ptx = gpu!(
            "compiling the kernels with NVRTC",
            cudarc::nvrtc::compile_ptx(KERNELS)
        )?;
        let module = gpu!("loading the kernels", ctx.load_module(ptx))?;
        let f = |name: &str| gpu!("loading a kernel", module.load_function(name));
        Ok(Kernels {
            embed: f("embed")?,
            split_heads: f("split_heads")?,
            masked_softmax: f("masked_softmax")?,
            merge_heads: f("merge_heads")?,
            residual_layer_norm: f("residual_layer_norm")?,
            bias_gelu_erf: f("bias_gelu_erf")?,
            pool: f("pool")?,
        })
    }
}

/// The buffers of a padded batch of `b` sequences of `l` tokens, kept from batch to batch
/// (allocating them per call cost more than the forward pass of a few hundred short texts) and
/// grown when a batch needs more.
struct Batch {
    b: usize,
    l: usize,
    /// Capacities: tokens (b·l), sequences, attention scores (b·heads·l·l).
    tokens: usize,
    seqs: usize,
    score_values: usize,
    ids: CudaSlice<u32>,
    lens: CudaSlice<i32>,
    x: CudaSlice<f32>,
    qkv: CudaSlice<f32>,
    q: CudaSlice<f32>,
    k: CudaSlice<f32>,
    v: CudaSlice<f32>,
    scores: CudaSlice<f32>,
    heads_out: CudaSlice<f32>,
    context: CudaSlice<f32>,
    sublayer: CudaSlice<f32>,
    inner: CudaSlice<f32>,
    pooled: CudaSlice<f32>,
}

impl Batch {
    fn fits(&self, b: usize, l: usize, heads: usize) -> bool {
        b * l <= self.tokens && b <= self.seqs && b * heads * l * l <= self.score_values
    }
}

fn rows_launch(rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn elements_launch(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(BLOCK as usize) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl CudaBert {
    /// The same network as `bert`, its weights copied to GPU `ordinal`.
    pub fn new(bert: &Bert, ordinal: usize) -> Result<Self> {
        let ctx = gpu!(
            &format!("opening CUDA device {ordinal} (is the NVIDIA driver installed and the GPU visible?)"),
            CudaContext::new(ordinal)
        )?;
        // One stream, used in order: no events between buffers are needed.
        // SAFETY: nothing here uses a second stream.
        unsafe { ctx.disable_event_tracking() };
        let device_name = ctx
            .name()
            .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        let stream = ctx.default_stream();
        let blas = gpu!(
            "loading cuBLAS (libcublas must be on the library path)",
            CudaBlas::new(stream.clone())
        )?;
        let kernels = Kernels::compile(&ctx)?;
        let cfg = &bert.config;
        let emb = &bert.embeddings;
        let layers = bert
            .layers
            .iter()
            .map(|layer| GpuLayer::new(&stream, layer))
            .collect::<Result<_>>()?;
        Ok(CudaBert {
            word: upload(&stream, &emb.word)?,
            position: upload(&stream, &emb.position)?,
            token_type: upload(&stream, &emb.token_type.narrow(0, 0, 1)?)?,
            embedding_norm: Norm::new(&stream, &emb.norm)?,
            layers,
            stream,
            blas,
            kernels,
            activation: cfg.hidden_act,
            vocab: cfg.vocab_size,
            hidden: cfg.hidden_size,
            heads: cfg.num_attention_heads,
            intermediate: cfg.intermediate_size,
            position_offset: cfg.position_offset,
            max_positions: cfg.max_tokens(),
            device_name,
            buffers: None,
        })
    }

    /// The GPU's name, as the driver reports it.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// One pooled vector per sequence, `hidden` values each, row after row, as
    /// [`super::FastBert::embed`]; a sequence without tokens gets a zero vector.
    pub fn embed(&mut self, seqs: &[&[u32]], pooling: Pooling) -> Result<Vec<f32>> {
        let h = self.hidden;
        self.check(seqs)?;
        let mut pooled = vec![0f32; seqs.len() * h];
        // Longest first, so each padded batch holds sequences of about one length.
        let mut order: Vec<usize> = (0..seqs.len()).filter(|&i| !seqs[i].is_empty()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
        let mut rest = &order[..];
        while !rest.is_empty() {
            let l = seqs[rest[0]].len();
            let fit = (MAX_BATCH_TOKENS / l)
                .min(MAX_BATCH_SCORES / (self.heads * l * l))
                .max(1);
            let (batch, after) = rest.split_at(fit.min(rest.len()));
            let picked: Vec<&[u32]> = batch.iter().map(|&i| seqs[i]).collect();
            let rows = self.embed_padded(&picked, pooling)?;
            for (&i, row) in batch.iter().zip(rows.chunks_exact(h)) {
                pooled[i * h..(i + 1) * h].copy_from_slice(row);
            }
            rest = after;
        }
        Ok(pooled)
    }

    fn check(&self, seqs: &[&[u32]]) -> Result<()> {
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if longest > self.max_positions {
            return Err(Error::msg(format!(
                "a sequence of {longest} tokens is longer than the model's {} positions",
                self.max_positions
            )));
        }
        // The embedding kernel reads row `id` unchecked: refuse what the CPU's lookup refuses.
        if let Some(id) = seqs
            .iter()
            .flat_map(|s| s.iter())
            .find(|&&id| id as usize >= self.vocab)
        {
            return Err(Error::msg(format!(
                "token id {id} is outside the model's vocabulary of {}",
                self.vocab
            )));
        }
        Ok(())
    }

    fn alloc(&self, n: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: every buffer is written by a kernel or a matmul before it is read.
        gpu!("allocating GPU memory", unsafe {
            self.stream.alloc::<f32>(n)
        })
    }

    /// Buffers for `seqs` (the longest first), holding their ids and lengths: the last
    /// batch's if they fit, else new ones with room to spare.
    fn batch(&mut self, seqs: &[&[u32]]) -> Result<Batch> {
        let (b, l) = (seqs.len(), seqs[0].len());
        let mut t = match self.buffers.take() {
            Some(t) if t.fits(b, l, self.heads) => t,
            old => {
                let grow = |need: usize, had: usize| need.max(2 * had);
                let (tokens, nseqs, scores) =
                    old.map_or((0, 0, 0), |t| (t.tokens, t.seqs, t.score_values));
                self.allocate(
                    grow(b * l, tokens).min(MAX_BATCH_TOKENS.max(b * l)),
                    grow(b, nseqs).min(MAX_BATCH_TOKENS),
                    grow(b * self.heads * l * l, scores)
                        .min(MAX_BATCH_SCORES.max(b * self.heads * l * l)),
                )?
            }
        };
        let mut ids = vec![0u32; b * l];
        for (row, s) in ids.chunks_exact_mut(l).zip(seqs) {
            row[..s.len()].copy_from_slice(s);
        }
        let lens: Vec<i32> = seqs.iter().map(|s| s.len() as i32).collect();
        gpu!(
            "copying token ids",
            self.stream.memcpy_htod(&ids, &mut t.ids)
        )?;
        gpu!(
            "copying lengths",
            self.stream.memcpy_htod(&lens, &mut t.lens)
        )?;
        (t.b, t.l) = (b, l);
        Ok(t)
    }

    fn allocate(&self, tokens: usize, seqs: usize, score_values: usize) -> Result<Batch> {
        let h = self.hidden;
        // SAFETY (both): every buffer is written by a copy, a kernel or a matmul before it is read.
        let ints = |n| {
            gpu!("allocating GPU memory", unsafe {
                self.stream.alloc::<i32>(n)
            })
        };
        Ok(Batch {
            b: 0,
            l: 0,
            tokens,
            seqs,
            score_values,
            ids: gpu!("allocating GPU memory", unsafe {
                self.stream.alloc::<u32>(tokens)
            })?,
            lens: ints(seqs)?,
            x: self.alloc(tokens * h)?,
            qkv: self.alloc(tokens * 3 * h)?,
            q: self.alloc(tokens * h)?,
            k: self.alloc(tokens * h)?,
            v: self.alloc(tokens * h)?,
            scores: self.alloc(score_values)?,
            heads_out: self.alloc(tokens * h)?,
            context: self.alloc(tokens * h)?,
            sublayer: self.alloc(tokens * h)?,
            inner: self.alloc(tokens * self.intermediate)?,
            pooled: self.alloc(seqs * h)?,
        })
    }

    /// One batch of non-empty sequences, the longest first.
    fn embed_padded(&mut self, seqs: &[&[u32]], pooling: Pooling) -> Result<Vec<f32>> {
        let mut t = self.batch(seqs)?;
        let result = self.forward(&mut t, pooling);
        self.buffers = Some(t);
        result
    }

    fn forward(&self, t: &mut Batch, pooling: Pooling) -> Result<Vec<f32>> {
        let (h, rows) = (self.hidden as i32, t.b * t.l);
        let (l, offset) = (t.l as i32, self.position_offset as i32);
        let n = &self.embedding_norm;
        let mut launch = self.stream.launch_builder(&self.kernels.embed);
        launch
            .arg(&t.ids)
            .arg(&self.word)
            .arg(&self.position)
            .arg(&self.token_type)
            .arg(&n.weight)
            .arg(&n.bias)
            .arg(&n.eps)
            .arg(&h)
            .arg(&l)
            .arg(&offset)
            .arg(&mut t.x);
        gpu!("embedding", unsafe { launch.launch(rows_launch(rows)) })?;
        for layer in &self.layers {
            self.layer(layer, t)?;
        }
        let mode: i32 = match pooling {
            Pooling::Mean => 0,
            Pooling::Cls => 1,
            Pooling::Max => 2,
        };
        let mut launch = self.stream.launch_builder(&self.kernels.pool);
        launch
            .arg(&t.x)
            .arg(&t.lens)
            .arg(&l)
            .arg(&h)
            .arg(&mode)
            .arg(&mut t.pooled);
        gpu!("pooling", unsafe { launch.launch(rows_launch(t.b)) })?;
        let pooled = t.pooled.slice(..t.b * self.hidden);
        gpu!("copying vectors back", self.stream.clone_dtoh(&pooled))
    }

    fn layer(&self, layer: &GpuLayer, t: &mut Batch) -> Result<()> {
        let rows = t.b * t.l;
        self.dense(&layer.qkv, &t.x, &mut t.qkv, rows)?;
        self.attention(&layer.qkv.bias, t)?;
        self.dense(&layer.attention_out, &t.context, &mut t.sublayer, rows)?;
        self.residual_norm(
            &mut t.x,
            &t.sublayer,
            &layer.attention_out.bias,
            &layer.attention_norm,
            rows,
        )?;
        self.dense(&layer.intermediate, &t.x, &mut t.inner, rows)?;
        match self.activation {
            Activation::GeluErf => {
                let total = rows * self.intermediate;
                let (n, width) = (total as i64, self.intermediate as i32);
                let mut launch = self.stream.launch_builder(&self.kernels.bias_gelu_erf);
                launch
                    .arg(&mut t.inner)
                    .arg(&layer.intermediate.bias)
                    .arg(&n)
                    .arg(&width);
                gpu!("GELU", unsafe { launch.launch(elements_launch(total)) })?;
            }
        }
        self.dense(&layer.output, &t.inner, &mut t.sublayer, rows)?;
        self.residual_norm(
            &mut t.x,
            &t.sublayer,
            &layer.output.bias,
            &layer.output_norm,
            rows,
        )
    }

    /// `y` (rows, out) = x (rows, in)·Wᵀ, without the bias. cuBLAS is column-major: a row-major
    /// (r, c) matrix is its (c, r) transpose there, so this asks for yᵀ = W·xᵀ.
    fn dense(
        &self,
        d: &Dense,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        rows: usize,
    ) -> Result<()> {
        let cfg = GemmConfig {
            transa: CUBLAS_OP_T,
            transb: CUBLAS_OP_N,
            m: d.out as i32,
            n: rows as i32,
            k: d.inp as i32,
            alpha: 1.0f32,
            lda: d.inp as i32,
            ldb: d.inp as i32,
            beta: 0.0f32,
            ldc: d.out as i32,
        };
        gpu!("matmul", unsafe { self.blas.gemm(cfg, &d.weight, x, y) })
    }

    fn residual_norm(
        &self,
        x: &mut CudaSlice<f32>,
        y: &CudaSlice<f32>,
        bias: &CudaSlice<f32>,
        norm: &Norm,
        rows: usize,
    ) -> Result<()> {
        let h = self.hidden as i32;
        let mut launch = self
            .stream
            .launch_builder(&self.kernels.residual_layer_norm);
        launch
            .arg(x)
            .arg(y)
            .arg(bias)
            .arg(&norm.weight)
            .arg(&norm.bias)
            .arg(&norm.eps)
            .arg(&h);
        gpu!("layer norm", unsafe { launch.launch(rows_launch(rows)) }).map(drop)
    }

    /// Self-attention of `t.qkv` (bias not yet added) into `t.context`.
    fn attention(&self, qkv_bias: &CudaSlice<f32>, t: &mut Batch) -> Result<()> {
        let (b, l, h, heads) = (t.b, t.l, self.hidden, self.heads);
        let hd = h / heads;
        let shape = [b as i32, l as i32, h as i32, heads as i32];
        let mut launch = self.stream.launch_builder(&self.kernels.split_heads);
        launch.arg(&t.qkv).arg(qkv_bias);
        shape.iter().for_each(|v| {
            launch.arg(v);
        });
        launch.arg(&mut t.q).arg(&mut t.k).arg(&mut t.v);
        gpu!("splitting heads", unsafe {
            launch.launch(elements_launch(b * l * 3 * h))
        })?;

        let (li, hdi, per_head) = (l as i32, hd as i32, (l * hd) as i64);
        // scores (l, l) = scale · Q (l, hd) · Kᵀ, per (sequence, head): column-major scoresᵀ = K·Qᵀ.
        let scores = StridedBatchedConfig {
            gemm: GemmConfig {
                transa: CUBLAS_OP_T,
                transb: CUBLAS_OP_N,
                m: li,
                n: li,
                k: hdi,
                alpha: 1.0 / (hd as f32).sqrt(),
                lda: hdi,
                ldb: hdi,
                beta: 0.0,
                ldc: li,
            },
            batch_size: (b * heads) as i32,
            stride_a: per_head,
            stride_b: per_head,
            stride_c: (l * l) as i64,
        };
        gpu!("attention scores", unsafe {
            self.blas
                .gemm_strided_batched(scores, &t.k, &t.q, &mut t.scores)
        })?;
        let heads_i = heads as i32;
        let mut launch = self.stream.launch_builder(&self.kernels.masked_softmax);
        launch
            .arg(&mut t.scores)
            .arg(&t.lens)
            .arg(&heads_i)
            .arg(&li);
        gpu!("softmax", unsafe {
            launch.launch(rows_launch(b * heads * l))
        })?;
        // context (l, hd) = P (l, l) · V (l, hd): column-major contextᵀ = Vᵀ·Pᵀ.
        let context = StridedBatchedConfig {
            gemm: GemmConfig {
                transa: CUBLAS_OP_N,
                transb: CUBLAS_OP_N,
                m: hdi,
                n: li,
                k: li,
                alpha: 1.0,
                lda: hdi,
                ldb: li,
                beta: 0.0,
                ldc: hdi,
            },
            batch_size: (b * heads) as i32,
            stride_a: per_head,
            stride_b: (l * l) as i64,
            stride_c: per_head,
        };
        gpu!("attention context", unsafe {
            self.blas
                .gemm_strided_batched(context, &t.v, &t.scores, &mut t.heads_out)
        })?;
        let mut launch = self.stream.launch_builder(&self.kernels.merge_heads);
        launch.arg(&t.heads_out);
        shape.iter().for_each(|v| {
            launch.arg(v);
        });
        launch.arg(&mut t.context);
        gpu!("merging heads", unsafe {
            launch.launch(elements_launch(b * l * h))
        })
        .map(drop)
    }
}
