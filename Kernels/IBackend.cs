namespace Engine.Kernels;

/// <summary>
/// The contract between the engine and the hardware: one method per primitive, forward and
/// backward. Sizes are explicit ints (the engine's Tensor owns shapes); every buffer belongs to
/// this backend. Conventions, shared by every implementation:
///  - row-major, contiguous float32; the shape of each buffer is given in a comment;
///  - a forward overwrites its output; a backward ADDS into its gradient buffers (dx += ...), so
///    a tensor used twice gets the sum of both contributions, as reverse-mode autograd needs;
///  - integer inputs (token ids, targets) come from the host: they are the batch going in;
///  - a bad size throws <see cref="ShapeException"/> naming the op, the expected and received shapes.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>A human name, printed at start-up ("cpu (AVX-512, 2 threads)").</summary>
    string Name { get; }

    DeviceBuffer Allocate(int length);               // zero-filled
    /// <summary>Zero-filled buffers laid end to end in one allocation where the backend can (a GPU), so that a run of
    /// them can be viewed as one buffer (<see cref="Join"/>): one launch updates them all. Elsewhere, separate buffers.</summary>
    DeviceBuffer[] AllocateContiguous(IReadOnlyList<int> lengths);
    /// <summary>One buffer viewing <paramref name="parts"/> when they lie end to end, in order, in one contiguous
    /// allocation (no copy: writes go to the parts); null when they do not.</summary>
    DeviceBuffer? Join(IReadOnlyList<DeviceBuffer> parts);
    /// <summary>Waits until every launched op has finished (a no-op on the CPU); timers call it.</summary>
    void Synchronize();
    void Fill(DeviceBuffer x, float value);
    void Copy(DeviceBuffer source, DeviceBuffer destination);

    // ---- GEMM -------------------------------------------------------------------------------
    /// <summary>c[M,N] = op(a)[M,K]·op(b)[K,N] (+ c when accumulate); a is [K,M] when transA, b is [N,K] when transB.</summary>
    void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB, bool accumulate = false);

    // ---- elementwise --------------------------------------------------------------------------
    void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output);                     // out = a + b
    void Mul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output);                     // out = a ⊙ b
    void MulBackward(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db);
    void Scale(DeviceBuffer x, float alpha, DeviceBuffer output);                      // out = α·x
    void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y);                            // y += α·x (the add/scale backward)

    void BiasAdd(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols);   // [R,C] + [C]
    void BiasBackward(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols);                // dbias += Σ_rows dout

    void Gelu(DeviceBuffer x, DeviceBuffer output);                                    // tanh form, as GPT-2
    void GeluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx);
    void Silu(DeviceBuffer x, DeviceBuffer output);                                    // x·σ(x)
    void SiluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx);
    void SwiGlu(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output);              // silu(gate) ⊙ up
    void SwiGluBackward(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup);

    // ---- row-wise -----------------------------------------------------------------------------
    /// <summary>x,out [R,C]; weight,bias [C]; mean,rstd [R] saved for the backward.</summary>
    void LayerNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean,
        DeviceBuffer rstd, int rows, int cols, float eps);
    void LayerNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer dout,
        DeviceBuffer dx, DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols);
    /// <summary>x,out [R,C]; weight [C]; rstd [R] saved for the backward.</summary>
    void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd, int rows, int cols, float eps);
    void RmsNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout,
        DeviceBuffer dx, DeviceBuffer dweight, int rows, int cols);
    /// <summary>Softmax over the last axis of [R,C].</summary>
    void Softmax(DeviceBuffer x, DeviceBuffer output, int rows, int cols);
    void SoftmaxBackward(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols);

    // ---- attention ----------------------------------------------------------------------------
    /// <summary>
    /// Causal self-attention. q,out [B,T,Hq,D]; k,v [B,T,Hkv,D], Hq a multiple of Hkv (grouped-query:
    /// query head h reads kv head h / (Hq/Hkv)). lse [B,Hq,T], the log-sum-exp of each query's scaled
    /// scores, is saved for the backward, which recomputes the probabilities from it (as flash
    /// attention does), so no backend has to keep a [T,T] matrix.
    /// </summary>
    void Attention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim);
    /// <summary>output is the forward's result: rowsum(P ⊙ dP) = dout·output per query, as flash attention's backward uses.</summary>
    void AttentionBackward(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim);

    /// <summary>Rotary embedding on x [B,T,H,D] (halves rotated, as Llama/HF); positions [B·T] give each row's position.</summary>
    void Rope(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim, float theta);
    void RopeBackward(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps, int heads, int headDim, float theta);

    // ---- KV cache (inference only) -------------------------------------------------------------
    /// <summary>cache[b, positions[b·T+t], :] = x[b, t, :]; x [B,T,C], cache [B,Tmax,C].</summary>
    void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols);
    /// <summary>
    /// Attention of new queries against a KV cache: q,out [B,T,Hq,D]; kCache,vCache [B,Tmax,Hkv,D];
    /// query (b,t) attends to cache entries 0..positions[b·T+t] (its own position included).
    /// </summary>
    void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, int[] positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim);

    /// <summary>
    /// The next token of each row of logits [B, V]: greedy at temperature 0, else a draw with top-k and
    /// top-p from softmax(logits / T) using the row's uniform in [0, 1) (Kernels/Sampling/SamplingCpu.cs).
    /// tokens [B] (as floats, exact) and logprobs [B] (under the full softmax) are the only results.
    /// </summary>
    void SampleTokens(DeviceBuffer logits, DeviceBuffer uniforms, DeviceBuffer tokens, DeviceBuffer logprobs, int rows, int vocab,
        float temperature, int topK, float topP);

    // ---- embeddings and loss -------------------------------------------------------------------
    /// <summary>out[N,C] = table[ids[n]]; table [V,C].</summary>
    void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols);
    void EmbeddingBackward(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols);   // scatter-add

    /// <summary>
    /// Fused log-softmax + cross-entropy over logits [N,V]. Rows whose target is ignoreIndex are
    /// skipped. Returns the mean loss over counted rows and, if dlogits is given, writes
    /// dlogits = scale·(softmax − onehot)/count (zero on ignored rows), with no [N,V] temporary.
    /// dlogits may be the logits buffer itself.
    /// </summary>
    float CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab,
        int ignoreIndex = -1, float scale = 1f);

    // ---- reductions ---------------------------------------------------------------------------
    void Sum(DeviceBuffer x, DeviceBuffer output);                                 // output[1] = Σx
    void SumBackward(DeviceBuffer dout, DeviceBuffer dx, float scale);             // dx += scale·dout[0]
    /// <summary>sums[index] = Σx², left on the device: the global gradient norm reads all of them in one copy.</summary>
    void SumOfSquaresInto(DeviceBuffer x, DeviceBuffer sums, int index);

    // ---- optimiser ----------------------------------------------------------------------------
    /// <summary>
    /// One AdamW step (Loshchilov &amp; Hutter): m,v moments; step counts from 1 (bias correction);
    /// decay is decoupled: p -= lr·(m̂/(√v̂+eps) + weightDecay·p).
    /// </summary>
    void AdamW(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step);

    // ---- RL math (docs/rl-math.md; arrays row-major [batch, steps]) ------------------------
    /// <summary>Masked GAE: one reverse scan per sequence; writes advantages and returns.</summary>
    void Gae(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask, DeviceBuffer advantages, DeviceBuffer returns,
        int batch, int steps, float gamma, float lambda);
    /// <summary>In place (x − mean)/√(var + 1e-8), mean and unbiased var over entries with mask = 1.</summary>
    void MaskedWhiten(DeviceBuffer x, DeviceBuffer mask);
    /// <summary>Sequence advantages from scores, groups of groupSize consecutive responses.</summary>
    void GroupAdvantages(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, RL.GroupKind kind, float epsilon);
    /// <summary>The clipped surrogate per token: loss, ∂loss/∂logp, clipped flag, approx-KL term.</summary>
    void ClippedSurrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip);
    /// <summary>KL estimator per token and (optionally) its gradient w.r.t. logp.</summary>
    void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, RL.KlKind kind);
    /// <summary>Entropy of softmax(logits / T) per row of [N, V], and its backward (dlogits += ...).</summary>
    void Entropy(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature);
    void EntropyBackward(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits, int rows, int vocab, float temperature);
    /// <summary>
    /// The fused policy loss over logits [N, V]: per row the log-prob of ids[n] under softmax(logits/T),
    /// the clipped surrogate, optional k3 KL to refLogp, the entropy; dlogits of the weighted total
    /// written in the same kernel (no [N, V] log-softmax); per-row figures into stats [N, FusedStats.Count].
    /// </summary>
    void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, RL.FusedPolicyParams parameters);
}
