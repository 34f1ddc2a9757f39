//! The decoder of Gemma 3 and Qwen2 on the CPU: one transformer whose few differences (norms
//! around each block, query and key norms, biases, the gated activation, sliding windows) come
//! from the file's architecture. The quantised matrices go through candle's SIMD kernels; the rest
//! of a step (norms, rotary positions, attention over a growing cache, the gated activation) is
//! plain Rust over slices, which allocates little and copies nothing per token.

use std::io::{Read, Seek};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ6K, BlockQ8_0, GgmlType, QK_K};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{Device, Module, Result, Tensor};
use rayon::prelude::*;

/// The architectures this decoder runs, as GGUF names them (`general.architecture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Google's Gemma 3: norms before and after each block, query and key norms, GeGLU, scaled
    /// embeddings, five sliding-window layers to one global.
    Gemma3,
    /// Alibaba's Qwen2 (and Qwen2.5): norms before each block, biased query, key and value
    /// projections, SwiGLU, every layer global.
    Qwen2,
}

impl Architecture {
    fn from_gguf(name: &str) -> Result<Self> {
        match name {
            "gemma3" => Ok(Self::Gemma3),
            "qwen2" => Ok(Self::Qwen2),
            other => Err(candle_core::Error::Msg(format!(
                "architecture `{other}` is not supported (gemma3 and qwen2 are)"
            ))),
        }
    }

    /// The GGUF name, the prefix of its metadata keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gemma3 => "gemma3",
            Self::Qwen2 => "qwen2",
        }
    }

    /// Layers attend to the last `window` positions but every `n`-th, with this rotary base
    /// (the GGUF names only the global one).
    fn sliding_layers(self) -> Option<(usize, f32)> {
        match self {
            Self::Gemma3 => Some((6, 10_000.0)),
            Self::Qwen2 => None,
        }
    }

    /// What token embeddings are multiplied by.
    fn embedding_scale(self, hidden: usize) -> f32 {
        match self {
            Self::Gemma3 => (hidden as f32).sqrt(),
            Self::Qwen2 => 1.0,
        }
    }

    /// The gated activation's function: GELU (tanh approximation) for Gemma, SiLU for Qwen.
    fn activation(self) -> fn(f32) -> f32 {
        match self {
            Self::Gemma3 => gelu,
            Self::Qwen2 => silu,
        }
    }
}

/// The network's dimensions, from the GGUF metadata.
#[derive(Clone, Copy, Debug)]
struct Dimensions {
    architecture: Architecture,
    layers: usize,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Positions a sliding-window layer attends to.
    window: usize,
    eps: f32,
    rope_base: f32,
    context: usize,
}

impl Dimensions {
    fn read(content: &gguf_file::Content) -> Result<Self> {
        let metadata = |key: &str| {
            content
                .metadata
                .get(key)
                .ok_or_else(|| candle_core::Error::Msg(format!("no {key} in the GGUF metadata")))
        };
        let architecture = Architecture::from_gguf(metadata("general.architecture")?.to_string()?)?;
        let value = |key: &str| metadata(&format!("{}.{key}", architecture.name()));
        let size = |key: &str| value(key).and_then(|v| v.to_u32()).map(|v| v as usize);
        let (hidden, heads) = (size("embedding_length")?, size("attention.head_count")?);
        Ok(Self {
            architecture,
            layers: size("block_count")?,
            hidden,
            heads,
            kv_heads: size("attention.head_count_kv")?,
            head_dim: size("attention.key_length").unwrap_or(hidden / heads.max(1)),
            window: size("attention.sliding_window").unwrap_or(usize::MAX),
            eps: value("attention.layer_norm_rms_epsilon")?.to_f32()?,
            rope_base: value("rope.freq_base")?.to_f32()?,
            context: size("context_length")?,
        })
    }

    fn query_width(&self) -> usize {
        self.heads * self.head_dim
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// A weight matrix (one or more of the file's, stacked, with their biases if the file has
/// them), applied to rows of activations.
struct Matrix {
    weights: QMatMul,
    /// Added to each output row.
    bias: Option<Vec<f32>>,
    /// Values per input row.
    inputs: usize,
    /// Columns of the stored matrix: `inputs`, or more when padded with zeros.
    stored_inputs: usize,
}

impl Matrix {
    /// The named tensors stacked into one matrix, so a step runs one parallel kernel instead of
    /// several. Tensors of one fast type whose rows are whole 256-value blocks keep their type:
    /// candle lays those out for its AVX-512 VNNI kernels. The others are brought to Q8_0
    /// ([`q8_0_blocks`]: exactly, for the Q4_0, Q5_0 and Q8_0 weights of the usual files) and
    /// each row is padded with zero blocks to a multiple of 256 values, so that prompts get those
    /// kernels too (five times faster than candle's Q5_0 products); one token at a time reads
    /// the rows without their padding ([`times_row`]). The products are the ones llama.cpp
    /// computes on the stored types.
    fn read<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R, names: &[String]) -> Result<Self> {
        let mut tensors = Vec::with_capacity(names.len());
        for name in names {
            tensors.push(content.tensor(reader, &format!("{name}.weight"), &Device::Cpu)?);
        }
        let bias = if names.iter().all(|name| content.tensor_infos.contains_key(&format!("{name}.bias"))) {
            let mut bias = Vec::new();
            for name in names {
                bias.extend(vector(content, reader, &format!("{name}.bias"))?);
            }
            Some(bias)
        } else {
            None
        };
        let inputs = tensors[0].shape().dims2()?.1;
        let dtype = tensors[0].dtype();
        if matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K)
            && tensors.iter().all(|tensor| tensor.dtype() == dtype)
            && inputs.is_multiple_of(QK_K)
        {
            let weights = match tensors.as_slice() {
                [_] => tensors.remove(0),
                _ => {
                    // Rows are whole blocks: the stacked matrix is the tensors' bytes one after another.
                    let (mut bytes, mut rows) = (Vec::new(), 0);
                    for tensor in &tensors {
                        rows += tensor.shape().dims2()?.0;
                        bytes.extend_from_slice(&tensor.data()?);
                    }
                    qtensor_from_ggml(dtype, &bytes, vec![rows, inputs], &Device::Cpu)?
                }
            };
            return Ok(Self {
                weights: QMatMul::from_qtensor(weights)?,
                bias,
                inputs,
                stored_inputs: inputs,
            });
        }
        let stored_inputs = inputs.next_multiple_of(QK_K);
        let (block_values, block_bytes) = (GgmlDType::Q8_0.block_size(), GgmlDType::Q8_0.type_size());
        let zero_blocks = vec![0u8; (stored_inputs - inputs) / block_values * block_bytes];
        let (mut bytes, mut rows) = (Vec::new(), 0);
        for tensor in tensors {
            rows += tensor.shape().dims2()?.0;
            for row in q8_0_blocks(&tensor)?.chunks_exact(inputs / block_values * block_bytes) {
                bytes.extend_from_slice(row);
                bytes.extend_from_slice(&zero_blocks);
            }
        }
        let weights = qtensor_from_ggml(GgmlDType::Q8_0, &bytes, vec![rows, stored_inputs], &Device::Cpu)?;
        Ok(Self { weights: QMatMul::from_qtensor(weights)?, bias, inputs, stored_inputs })
    }

    /// `x` holds rows of `inputs` values; returns a row of outputs for each.
    fn apply(&self, x: &[f32]) -> Result<Vec<f32>> {
        let rows = x.len() / self.inputs;
        // One row at a time the work is reading the weights: read only the stored blocks.
        let stored = match (rows, &self.weights) {
            (1, QMatMul::QTensor(weights)) => match weights.dtype() {
                GgmlDType::Q4K => Some(times_row::<BlockQ4K>(&weights.data()?, self.stored_inputs, x)),
                GgmlDType::Q6K => Some(times_row::<BlockQ6K>(&weights.data()?, self.stored_inputs, x)),
                GgmlDType::Q8_0 => Some(times_row::<BlockQ8_0>(&weights.data()?, self.stored_inputs, x)),
                _ => None,
            },
            _ => None,
        };
        let mut out = match stored {
            Some(out) => out?,
            None => self.weights.forward(&self.padded(x, rows)?)?.flatten_all()?.to_vec1()?,
        };
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
        Ok(out)
    }

    /// `rows` rows of `x` as a tensor whose rows are as long as the stored ones (zeros after).
    fn padded(&self, x: &[f32], rows: usize) -> Result<Tensor> {
        if self.stored_inputs == self.inputs {
            return Tensor::from_slice(x, (rows, self.inputs), &Device::Cpu);
        }
        let mut padded = vec![0.0; rows * self.stored_inputs];
        for (to, from) in padded.chunks_exact_mut(self.stored_inputs).zip(x.chunks_exact(self.inputs)) {
            to[..self.inputs].copy_from_slice(from);
        }
        Tensor::from_vec(padded, (rows, self.stored_inputs), &Device::Cpu)
    }
}

/// A matrix of `T` blocks (its bytes: rows of `stored_inputs` values, whole blocks) times one row
/// `x`, on the stored blocks, leaving out the zero blocks that pad rows past `x`'s length. For one
/// row at a time this reads fewer bytes than candle's AVX-512 kernels (kept for prompts), which
/// read Q4_K unpacked into tiles a third larger and Q8_0 rows padded; the dot products are
/// candle's (ggml's) own, on candle's worker threads.
fn times_row<T: GgmlType>(matrix: &[u8], stored_inputs: usize, x: &[f32]) -> Result<Vec<f32>> {
    let block_bytes = std::mem::size_of::<T>();
    let (stored_blocks, blocks) = (stored_inputs / T::BLCK_SIZE, x.len() / T::BLCK_SIZE);
    let dot_block = <T::VecDotType as GgmlType>::BLCK_SIZE;
    if blocks == 0
        || !x.len().is_multiple_of(T::BLCK_SIZE.max(dot_block))
        || stored_inputs < x.len()
        || !matrix.len().is_multiple_of(block_bytes * stored_blocks)
        || !(matrix.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        return Err(candle_core::Error::Msg(format!(
            "a {:?} matrix that is not whole aligned blocks",
            T::DTYPE
        )));
    }
    // SAFETY: candle's block types are `repr(C)` plain data (f16 scales and byte arrays, any bit
    // pattern valid) of `block_bytes` bytes; the bytes are whole, aligned blocks (checked above)
    // that live as long as `matrix`.
    let matrix =
        unsafe { std::slice::from_raw_parts(matrix.as_ptr().cast::<T>(), matrix.len() / block_bytes) };
    let mut quantized = vec![T::VecDotType::zeros(); x.len() / dot_block];
    T::VecDotType::from_float(x, &mut quantized);
    let rows = matrix.len() / stored_blocks;
    // Each row's result, written by whichever worker takes the row.
    let out: Vec<std::sync::atomic::AtomicU32> = (0..rows).map(|_| Default::default()).collect();
    candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
        for row in range {
            let dot = T::vec_dot(x.len(), &matrix[row * stored_blocks..][..blocks], &quantized);
            out[row].store(dot.to_bits(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    Ok(out.into_iter().map(|bits| f32::from_bits(bits.into_inner())).collect())
}

/// `tensor`'s values as Q8_0 blocks (32 values: an f16 scale, then 32 signed bytes). Q4_0 and
/// Q5_0 blocks share Q8_0's scale and hold small integers, so they convert exactly; other types
/// are quantised anew.
fn q8_0_blocks(tensor: &QTensor) -> Result<Vec<u8>> {
    let data = tensor.data()?;
    let (bits, stored) = match tensor.dtype() {
        GgmlDType::Q8_0 => return Ok(data.into_owned()),
        GgmlDType::Q4_0 => (4, 18),
        GgmlDType::Q5_0 => (5, 22),
        _ => {
            let requantised = QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
            return Ok(requantised.data()?.into_owned());
        }
    };
    let mut out = Vec::with_capacity(data.len() / stored * 34);
    for block in data.chunks_exact(stored) {
        let (scale, rest) = block.split_at(2);
        // Q5_0 keeps each value's fifth bit in a 32-bit word before the nibbles.
        let (high, nibbles) = if bits == 5 { rest.split_at(4) } else { rest.split_at(0) };
        let high = high.try_into().map_or(0, u32::from_le_bytes);
        let offset = 1i16 << (bits - 1);
        let value = |j: usize, nibble: u8| {
            let fifth = ((high >> j) & 1) as u8;
            let unsigned = i16::from(nibble | if bits == 5 { fifth << 4 } else { 0 });
            // Within -16..=15: fits a byte.
            (unsigned - offset) as i8 as u8
        };
        out.extend_from_slice(scale);
        out.extend(nibbles.iter().enumerate().map(|(j, &q)| value(j, q & 0x0F)));
        out.extend(nibbles.iter().enumerate().map(|(j, &q)| value(j + 16, q >> 4)));
    }
    Ok(out)
}

/// A one-dimensional tensor of the file (a norm's weights, a bias), as numbers.
fn vector<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R, name: &str) -> Result<Vec<f32>> {
    content.tensor(reader, name, &Device::Cpu)?.dequantize(&Device::Cpu)?.to_vec1()
}

struct Layer {
    attention_norm: Vec<f32>,
    /// Queries, keys and values stacked.
    qkv: Matrix,
    /// Gemma normalises each head's query and key.
    query_norm: Option<Vec<f32>>,
    key_norm: Option<Vec<f32>>,
    attention_output: Matrix,
    /// Gemma also normalises each block's output before adding it.
    post_attention_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    /// The gated activation's gate and up projections stacked.
    gate_up: Matrix,
    down: Matrix,
    post_ffn_norm: Option<Vec<f32>>,
    /// Attends to the last `window` positions only.
    sliding: bool,
}

/// A model's weights, shared by every generation.
pub(crate) struct Decoder {
    dims: Dimensions,
    /// The token embeddings, quantised.
    embeddings: Matrix,
    /// The output projection, when not tied to the embeddings.
    output: Option<Matrix>,
    layers: Vec<Layer>,
    final_norm: Vec<f32>,
}

/// One generation's keys and values so far, per layer.
pub(crate) struct Cache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    positions: usize,
}

impl Cache {
    /// How many positions it holds.
    pub(crate) fn positions(&self) -> usize {
        self.positions
    }

    /// Forgets the positions from `positions` on.
    pub(crate) fn truncate(&mut self, positions: usize) {
        if positions >= self.positions {
            return;
        }
        for (keys, values) in self.keys.iter_mut().zip(&mut self.values) {
            let width = keys.len() / self.positions;
            keys.truncate(positions * width);
            values.truncate(positions * width);
        }
        self.positions = positions;
    }

    /// A copy of its first `positions` positions (all it has, when it has fewer).
    pub(crate) fn copy_of_first(&self, positions: usize) -> Self {
        let positions = positions.min(self.positions);
        let first = |rows: &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            rows.iter()
                .map(|layer| {
                    let width = layer.len().checked_div(self.positions).unwrap_or(0);
                    layer[..positions * width].to_vec()
                })
                .collect()
        };
        Self { keys: first(&self.keys), values: first(&self.values), positions }
    }

    /// The memory its keys and values take, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        let floats: usize = self.keys.iter().chain(&self.values).map(Vec::len).sum();
        floats * std::mem::size_of::<f32>()
    }
}

impl Decoder {
    /// Reads the weights of the GGUF file whose header is `content`.
    pub(crate) fn read<R: Read + Seek>(content: &gguf_file::Content, reader: &mut R) -> Result<Self> {
        let dims = Dimensions::read(content)?;
        let has = |name: &str| content.tensor_infos.contains_key(&format!("{name}.weight"));
        let norm = |reader: &mut R, name: &str| vector(content, reader, &format!("{name}.weight"));
        let optional_norm =
            |reader: &mut R, name: &str| if has(name) { norm(reader, name).map(Some) } else { Ok(None) };
        let global_every = dims.architecture.sliding_layers().map_or(1, |(every, _)| every);
        let mut layers = Vec::with_capacity(dims.layers);
        for index in 0..dims.layers {
            let name = |part: &str| format!("blk.{index}.{part}");
            let names = |parts: &[&str]| parts.iter().map(|p| name(p)).collect::<Vec<_>>();
            layers.push(Layer {
                attention_norm: norm(reader, &name("attn_norm"))?,
                qkv: Matrix::read(content, reader, &names(&["attn_q", "attn_k", "attn_v"]))?,
                query_norm: optional_norm(reader, &name("attn_q_norm"))?,
                key_norm: optional_norm(reader, &name("attn_k_norm"))?,
                attention_output: Matrix::read(content, reader, &names(&["attn_output"]))?,
                post_attention_norm: optional_norm(reader, &name("post_attention_norm"))?,
                ffn_norm: norm(reader, &name("ffn_norm"))?,
                gate_up: Matrix::read(content, reader, &names(&["ffn_gate", "ffn_up"]))?,
                down: Matrix::read(content, reader, &names(&["ffn_down"]))?,
                post_ffn_norm: optional_norm(reader, &name("post_ffw_norm"))?,
                sliding: (index + 1) % global_every != 0,
            });
        }
        let output =
            if has("output") { Some(Matrix::read(content, reader, &["output".to_owned()])?) } else { None };
        let model = Self {
            dims,
            embeddings: Matrix::read(content, reader, &["token_embd".to_owned()])?,
            output,
            layers,
            final_norm: norm(reader, "output_norm")?,
        };
        // candle lays the weights out for its kernels on first use, once for a batch of
        // positions and once for a single one: do it now rather than in the first reply.
        let mut cache = model.cache();
        model.forward(&[0, 0], &mut cache)?;
        model.forward(&[0], &mut cache)?;
        Ok(model)
    }

    /// An empty cache for a new generation.
    pub(crate) fn cache(&self) -> Cache {
        Cache {
            keys: vec![Vec::new(); self.layers.len()],
            values: vec![Vec::new(); self.layers.len()],
            positions: 0,
        }
    }

    /// Reads `tokens` after those already in `cache`; returns the logits of the next token.
    pub(crate) fn forward(&self, tokens: &[u32], cache: &mut Cache) -> Result<Vec<f32>> {
        let Dimensions { hidden, head_dim, eps, .. } = self.dims;
        if tokens.is_empty() {
            return Err(candle_core::Error::Msg("no tokens to read".into()));
        }
        let ids = Tensor::from_slice(tokens, tokens.len(), &Device::Cpu)?;
        let rows: Vec<f32> = self.embeddings.weights.embedding(&ids)?.flatten_all()?.to_vec1()?;
        let architecture = self.dims.architecture;
        let scale = architecture.embedding_scale(hidden);
        let mut x: Vec<f32> = rows
            .chunks_exact(self.embeddings.stored_inputs)
            .flat_map(|row| row[..hidden].iter().map(|v| v * scale))
            .collect();
        let positions = cache.positions..cache.positions + tokens.len();
        let global = Rotation::new(self.dims.rope_base, head_dim, positions.clone());
        let local = architecture.sliding_layers().map(|(_, base)| Rotation::new(base, head_dim, positions));
        let activation = architecture.activation();
        for (index, layer) in self.layers.iter().enumerate() {
            let rotation = local.as_ref().filter(|_| layer.sliding).unwrap_or(&global);
            let attended = self.attend(layer, &x, rotation, cache, index)?;
            let out = layer.attention_output.apply(&attended)?;
            add_residual(&mut x, out, layer.post_attention_norm.as_deref(), eps);

            let mut h = x.clone();
            rms_norm_rows(&mut h, &layer.ffn_norm, eps);
            let gate_up = layer.gate_up.apply(&h)?;
            let width = gate_up.len() / tokens.len() / 2;
            let activated: Vec<f32> = gate_up
                .chunks_exact(2 * width)
                .flat_map(|row| row[..width].iter().zip(&row[width..]).map(|(&g, &u)| activation(g) * u))
                .collect();
            let out = layer.down.apply(&activated)?;
            add_residual(&mut x, out, layer.post_ffn_norm.as_deref(), eps);
        }
        cache.positions += tokens.len();
        let mut last = x.split_off(x.len() - hidden);
        rms_norm_rows(&mut last, &self.final_norm, eps);
        self.output.as_ref().unwrap_or(&self.embeddings).apply(&last)
    }

    /// Tokens of context the model was trained on.
    pub(crate) fn context_length(&self) -> usize {
        self.dims.context
    }

    /// The model's architecture.
    pub(crate) fn architecture(&self) -> Architecture {
        self.dims.architecture
    }

    /// The attention block up to its output projection: each new position attends to the
    /// cached ones (the last `window` in sliding layers) and to itself.
    fn attend(
        &self,
        layer: &Layer,
        x: &[f32],
        rotation: &Rotation,
        cache: &mut Cache,
        index: usize,
    ) -> Result<Vec<f32>> {
        let Dimensions { heads, kv_heads, head_dim, window, eps, .. } = self.dims;
        let (query_width, kv_width) = (self.dims.query_width(), self.dims.kv_width());
        let mut h = x.to_vec();
        rms_norm_rows(&mut h, &layer.attention_norm, eps);
        let qkv = layer.qkv.apply(&h)?;
        let rows = qkv.len() / (query_width + 2 * kv_width);
        let mut queries = Vec::with_capacity(rows * query_width);
        let (keys, values) = (&mut cache.keys[index], &mut cache.values[index]);
        for (row, projected) in qkv.chunks_exact(query_width + 2 * kv_width).enumerate() {
            let (query, rest) = projected.split_at(query_width);
            let (key, value) = rest.split_at(kv_width);
            let start = queries.len();
            queries.extend_from_slice(query);
            for head in queries[start..].chunks_exact_mut(head_dim) {
                if let Some(norm) = &layer.query_norm {
                    rms_norm_rows(head, norm, eps);
                }
                rotation.apply(head, row);
            }
            let start = keys.len();
            keys.extend_from_slice(key);
            for head in keys[start..].chunks_exact_mut(head_dim) {
                if let Some(norm) = &layer.key_norm {
                    rms_norm_rows(head, norm, eps);
                }
                rotation.apply(head, row);
            }
            values.extend_from_slice(value);
        }
        let scale = 1.0 / (head_dim as f32).sqrt();
        let group = heads / kv_heads;
        let first_new = keys.len() / kv_width - rows;
        let mut attended = vec![0.0; rows * query_width];
        let (keys, values) = (&*keys, &*values);
        // Each head of each row on its own: over a long context this is most of a step's work.
        attended.par_chunks_mut(head_dim).enumerate().for_each_init(Vec::new, |weights, (n, out)| {
            let (row, head) = (n / heads, n % heads);
            let position = first_new + row;
            let from = if layer.sliding { (position + 1).saturating_sub(window) } else { 0 };
            let query = &queries[row * query_width + head * head_dim..][..head_dim];
            let kv_offset = (head / group) * head_dim;
            weights.clear();
            weights.extend(
                (from..=position).map(|p| dot(query, &keys[p * kv_width + kv_offset..][..head_dim]) * scale),
            );
            softmax(weights);
            for (p, &weight) in (from..=position).zip(weights.iter()) {
                add_scaled(out, &values[p * kv_width + kv_offset..][..head_dim], weight);
            }
        });
        Ok(attended)
    }
}

/// Rotary position embedding angles for a run of positions (halves rotated, as in Gemma and
/// Qwen).
struct Rotation {
    /// Per position, `head_dim / 2` cosines then as many sines.
    table: Vec<f32>,
    half: usize,
}

impl Rotation {
    fn new(base: f32, head_dim: usize, positions: std::ops::Range<usize>) -> Self {
        let half = head_dim / 2;
        let frequencies: Vec<f32> = (0..half).map(|i| base.powf(-2.0 * i as f32 / head_dim as f32)).collect();
        let mut table = Vec::with_capacity(positions.len() * head_dim);
        for position in positions {
            let angles: Vec<f32> = frequencies.iter().map(|f| position as f32 * f).collect();
            table.extend(angles.iter().map(|a| a.cos()));
            table.extend(angles.iter().map(|a| a.sin()));
        }
        Self { table, half }
    }

    /// Rotates one head's vector for the `row`-th position of the run.
    fn apply(&self, head: &mut [f32], row: usize) {
        let (cos, sin) = self.table[row * 2 * self.half..][..2 * self.half].split_at(self.half);
        let (low, high) = head.split_at_mut(self.half);
        for i in 0..self.half {
            let (a, b) = (low[i], high[i]);
            low[i] = a * cos[i] - b * sin[i];
            high[i] = a * sin[i] + b * cos[i];
        }
    }
}

/// RMS-normalises each row of `weight.len()` values in place and scales it by `weight`.
fn rms_norm_rows(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let mean_square = dot(row, row) / row.len() as f32;
        let factor = 1.0 / (mean_square + eps).sqrt();
        row.iter_mut().zip(weight).for_each(|(v, w)| *v *= factor * w);
    }
}

/// The residual step: `x += update`, normalised first if the block has a norm after it.
fn add_residual(x: &mut [f32], mut update: Vec<f32>, norm: Option<&[f32]>, eps: f32) {
    if let Some(weight) = norm {
        rms_norm_rows(&mut update, weight, eps);
    }
    x.iter_mut().zip(&update).for_each(|(v, u)| *v += u);
}

/// GELU, tanh approximation (Gemma's activation).
fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh())
}

/// SiLU (Qwen's activation).
fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// A dot product written so the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `out += v * weight`.
fn add_scaled(out: &mut [f32], v: &[f32], weight: f32) {
    out.iter_mut().zip(v).for_each(|(o, x)| *o += x * weight);
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    x.iter_mut().for_each(|v| *v = (*v - max).exp());
    let sum: f32 = x.iter().sum();
    x.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_and_q5_0_weights_become_the_same_q8_0_values() {
        let values: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let x = Tensor::from_vec(values, (4, 64), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q5_0] {
            let stored = QTensor::quantize(&x, dtype).unwrap();
            let converted = q8_0_blocks(&stored).unwrap();
            let as_q8 = qtensor_from_ggml(GgmlDType::Q8_0, &converted, vec![4, 64], &Device::Cpu).unwrap();
            let (a, b) = (stored.dequantize(&Device::Cpu).unwrap(), as_q8.dequantize(&Device::Cpu).unwrap());
            let (a, b): (Vec<f32>, Vec<f32>) =
                (a.flatten_all().unwrap().to_vec1().unwrap(), b.flatten_all().unwrap().to_vec1().unwrap());
            assert_eq!(a, b, "{dtype:?}");
        }
    }

    #[test]
    fn a_q4k_product_for_one_row_equals_the_product_of_the_stored_values() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/gemma-3-270m-q4_k_m.gguf");
        let mut file = std::fs::File::open(path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        let name = (0..18)
            .flat_map(|n| {
                ["ffn_down", "ffn_gate", "ffn_up", "attn_q", "attn_output"]
                    .map(|m| format!("blk.{n}.{m}.weight"))
            })
            .find(|name| content.tensor_infos[name].ggml_dtype == GgmlDType::Q4K)
            .expect("a Q4_K matrix");
        let matrix = content.tensor(&mut file, &name, &Device::Cpu).unwrap();
        assert_eq!(matrix.dtype(), GgmlDType::Q4K);
        let (rows, inputs) = matrix.shape().dims2().unwrap();
        let x: Vec<f32> = (0..inputs).map(|i| ((i * 7919 % 2003) as f32 / 1001.5 - 1.0) * 3.0).collect();
        let weights: Vec<f32> =
            matrix.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let exact: Vec<f32> =
            weights.chunks_exact(inputs).map(|row| row.iter().zip(&x).map(|(w, v)| w * v).sum()).collect();
        let ours = times_row::<BlockQ4K>(&matrix.data().unwrap(), inputs, &x).unwrap();
        let theirs: Vec<f32> = QMatMul::from_qtensor(matrix)
            .unwrap()
            .forward(&Tensor::from_slice(&x, (1, inputs), &Device::Cpu).unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let error = |got: &[f32]| got.iter().zip(&exact).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let scale = exact.iter().map(|v| v.abs()).fold(0f32, f32::max);
        eprintln!("rows {rows}, scale {scale}, ours {} candle {}", error(&ours), error(&theirs));
        assert!(
            error(&ours) <= error(&theirs) * 1.5 + 1e-3,
            "ours {} candle {}",
            error(&ours),
            error(&theirs)
        );
    }
}
