using Engine.Kernels.Activation;
using Engine.Kernels.Attention;
using Engine.Kernels.CrossEntropy;
using Engine.Kernels.Elementwise;
using Engine.Kernels.Embedding;
using Engine.Kernels.Matmul;
using Engine.Kernels.Norm;
using Engine.Kernels.Optim;
using Engine.Kernels.Reduce;
using Engine.Kernels.RL;
using Engine.Kernels.Rope;
using Engine.Kernels.Softmax;

namespace Engine.Kernels;

/// <summary>A buffer of the CpuBackend: a plain managed array.</summary>
public sealed class CpuBuffer(CpuBackend backend, int length) : DeviceBuffer(length)
{
    public float[] Data { get; } = new float[length];
    public override IBackend Backend => backend;

    public override void CopyFrom(ReadOnlySpan<float> source)
    {
        if (source.Length != Length) throw new ShapeException("copy_from", "source", $"{Length} elements", $"{source.Length} elements");
        source.CopyTo(Data);
    }

    public override void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ShapeException("copy_to", "destination", $"{Length} elements", $"{destination.Length} elements");
        Data.CopyTo(destination);
    }
}

/// <summary>
/// The reference backend: plain C# per op family (Kernels/&lt;Op&gt;/*Cpu.cs), readable first; the GEMM,
/// which is most of a step's time, is the packed, register-tiled one. The checks live in
/// <see cref="CheckedBackend"/>; each method here unwraps the arrays and calls the op.
/// </summary>
public sealed class CpuBackend : CheckedBackend
{
    public override string Name => $"cpu ({(GemmMicroKernel.Wide ? "AVX-512" : "AVX2")} GEMM {GemmMicroKernel.MR}x{GemmMicroKernel.NR}, " +
                          $"{Environment.ProcessorCount} threads, " +
                              $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30):F1} GiB)";

    public override DeviceBuffer Allocate(int length) => new CpuBuffer(this, length);

    public override void Synchronize() { }

    float[] D(DeviceBuffer x, string op, string name)
    {
        if (x is CpuBuffer c && ReferenceEquals(c.Backend, this)) return c.Data;
        throw new OpArgumentException(op, name, "a buffer of this cpu backend", x.GetType().Name);
    }

    float[]? DOpt(DeviceBuffer? x, string op, string name) => x is null ? null : D(x, op, name);

    protected override void FillCore(DeviceBuffer x, float value) =>
        Array.Fill(D(x, "fill", "x"), value);

    protected override void CopyCore(DeviceBuffer source, DeviceBuffer destination) =>
        D(source, "copy", "source").CopyTo(D(destination, "copy", "destination"), 0);

    protected override void MatMulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k,
        bool transA, bool transB, bool accumulate) =>
        MatmulCpu.Gemm(D(a, "matmul", "a"), D(b, "matmul", "b"), D(c, "matmul", "c"), m, n, k, transA, transB, accumulate);

    protected override void AddCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) =>
        ElementwiseCpu.Add(D(a, "add", "a"), D(b, "add", "b"), D(output, "add", "out"));

    protected override void MulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) =>
        ElementwiseCpu.Mul(D(a, "mul", "a"), D(b, "mul", "b"), D(output, "mul", "out"));

    protected override void MulBackwardCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db)
    {
        const string op = "mul_backward";
        ElementwiseCpu.MulBackward(D(a, op, "a"), D(b, op, "b"), D(dout, op, "dout"), DOpt(da, op, "da"), DOpt(db, op, "db"));
    }

    protected override void ScaleCore(DeviceBuffer x, float alpha, DeviceBuffer output) =>
        ElementwiseCpu.Scale(D(x, "scale", "x"), alpha, D(output, "scale", "out"));

    protected override void AxpyCore(float alpha, DeviceBuffer x, DeviceBuffer y) =>
        ElementwiseCpu.Axpy(alpha, D(x, "axpy", "x"), D(y, "axpy", "y"));

    protected override void BiasAddCore(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols) =>
        ElementwiseCpu.BiasAdd(D(x, "bias_add", "x"), D(bias, "bias_add", "bias"), D(output, "bias_add", "out"), rows, cols);

    protected override void BiasBackwardCore(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols) =>
        ElementwiseCpu.BiasBackward(D(dout, "bias_backward", "dout"), D(dbias, "bias_backward", "dbias"), rows, cols);

    protected override void GeluCore(DeviceBuffer x, DeviceBuffer output) =>
        ActivationCpu.Gelu(D(x, "gelu", "x"), D(output, "gelu", "out"));

    protected override void GeluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) =>
        ActivationCpu.GeluBackward(D(x, "gelu_backward", "x"), D(dout, "gelu_backward", "dout"), D(dx, "gelu_backward", "dx"));

    protected override void SiluCore(DeviceBuffer x, DeviceBuffer output) =>
        ActivationCpu.Silu(D(x, "silu", "x"), D(output, "silu", "out"));

    protected override void SiluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) =>
        ActivationCpu.SiluBackward(D(x, "silu_backward", "x"), D(dout, "silu_backward", "dout"), D(dx, "silu_backward", "dx"));

    protected override void SwiGluCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output) =>
        ActivationCpu.SwiGlu(D(gate, "swiglu", "gate"), D(up, "swiglu", "up"), D(output, "swiglu", "out"));

    protected override void SwiGluBackwardCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup)
    {
        const string op = "swiglu_backward";
        ActivationCpu.SwiGluBackward(D(gate, op, "gate"), D(up, op, "up"), D(dout, op, "dout"), D(dgate, op, "dgate"), D(dup, op, "dup"));
    }

    protected override void LayerNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean,
        DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "layernorm";
        LayerNormCpu.Forward(D(x, op, "x"), D(weight, op, "weight"), D(bias, op, "bias"), D(output, op, "out"),
            D(mean, op, "mean"), D(rstd, op, "rstd"), rows, cols, eps);
    }

    protected override void LayerNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean,
        DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols)
    {
        const string op = "layernorm_backward";
        LayerNormCpu.Backward(D(x, op, "x"), D(weight, op, "weight"), D(mean, op, "mean"), D(rstd, op, "rstd"), D(dout, op, "dout"),
            D(dx, op, "dx"), D(dweight, op, "dweight"), D(dbias, op, "dbias"), rows, cols);
    }

    protected override void RmsNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd,
        int rows, int cols, float eps)
    {
        const string op = "rmsnorm";
        RmsNormCpu.Forward(D(x, op, "x"), D(weight, op, "weight"), D(output, op, "out"), D(rstd, op, "rstd"), rows, cols, eps);
    }

    protected override void RmsNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, int rows, int cols)
    {
        const string op = "rmsnorm_backward";
        RmsNormCpu.Backward(D(x, op, "x"), D(weight, op, "weight"), D(rstd, op, "rstd"), D(dout, op, "dout"),
            D(dx, op, "dx"), D(dweight, op, "dweight"), rows, cols);
    }

    protected override void SoftmaxCore(DeviceBuffer x, DeviceBuffer output, int rows, int cols) =>
        SoftmaxCpu.Forward(D(x, "softmax", "x"), D(output, "softmax", "out"), rows, cols);

    protected override void SoftmaxBackwardCore(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols)
    {
        const string op = "softmax_backward";
        SoftmaxCpu.Backward(D(y, op, "y"), D(dy, op, "dy"), D(dx, op, "dx"), rows, cols);
    }

    protected override void AttentionCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, int batch, int steps,
        int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention";
        AttentionCpu.Forward(D(q, op, "q"), D(k, op, "k"), D(v, op, "v"), D(output, op, "out"), D(lse, op, "lse"),
            batch, steps, qHeads, kvHeads, headDim);
    }

    protected override void AttentionBackwardCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_backward";
        AttentionCpu.Backward(D(q, op, "q"), D(k, op, "k"), D(v, op, "v"), D(output, op, "output"), D(lse, op, "lse"), D(dout, op, "dout"),
            D(dq, op, "dq"), D(dk, op, "dk"), D(dv, op, "dv"), batch, steps, qHeads, kvHeads, headDim);
    }

    protected override void RopeCore(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim,
        float theta) =>
        RopeCpu.Forward(D(x, "rope", "x"), D(output, "rope", "out"), positions, heads, headDim, theta);

    protected override void RopeBackwardCore(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps,
        int heads, int headDim, float theta) =>
        RopeCpu.Backward(D(dout, "rope_backward", "dout"), D(dx, "rope_backward", "dx"), positions, heads, headDim, theta);

    protected override void KvCacheWriteCore(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps,
        int maxSteps, int cols) =>
        AttentionCpu.CacheWrite(D(x, "kv_cache_write", "x"), D(cache, "kv_cache_write", "cache"), positions, batch, steps, maxSteps, cols);

    protected override void AttentionCachedCore(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache,
        DeviceBuffer output, int[] positions, int batch,
        int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached";
        AttentionCpu.Cached(D(q, op, "q"), D(kCache, op, "kCache"), D(vCache, op, "vCache"), D(output, op, "out"), positions,
            batch, steps, maxSteps, qHeads, kvHeads, headDim);
    }

    protected override void EmbeddingCore(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols) =>
        EmbeddingCpu.Forward(ids, D(table, "embedding", "table"), D(output, "embedding", "out"), cols);

    protected override void EmbeddingBackwardCore(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols) =>
        EmbeddingCpu.Backward(ids, D(dout, "embedding_backward", "dout"), D(dtable, "embedding_backward", "dtable"), cols);

    protected override float CrossEntropyCore(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows,
        int vocab, int ignoreIndex, float scale) =>
        CrossEntropyCpu.Forward(D(logits, "cross_entropy", "logits"), targets,
            DOpt(dlogits, "cross_entropy", "dlogits"), rows, vocab, ignoreIndex, scale);

    protected override void SumCore(DeviceBuffer x, DeviceBuffer output) =>
        D(output, "sum", "out")[0] = (float)ReduceCpu.Sum(D(x, "sum", "x"));

    protected override void SumBackwardCore(DeviceBuffer dout, DeviceBuffer dx, float scale) =>
        ReduceCpu.SumBackward(D(dout, "sum_backward", "dout")[0], scale, D(dx, "sum_backward", "dx"));

    protected override void SampleTokensCore(DeviceBuffer logits, DeviceBuffer uniforms, DeviceBuffer tokens, DeviceBuffer logprobs,
        int rows, int vocab, float temperature, int topK, float topP) =>
        Sampling.SamplingCpu.Sample(D(logits, "sample_tokens", "logits"), D(uniforms, "sample_tokens", "uniforms"),
            D(tokens, "sample_tokens", "tokens"), D(logprobs, "sample_tokens", "logprobs"), rows, vocab, temperature, topK, topP);

    protected override void SumOfSquaresIntoCore(DeviceBuffer x, DeviceBuffer sums, int index) =>
        D(sums, "sum_of_squares_into", "sums")[index] = (float)ReduceCpu.SumOfSquares(D(x, "sum_of_squares_into", "x"));

    protected override void AdamWCore(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, float lr,
        float beta1, float beta2,
        float eps, float weightDecay, int step) =>
        AdamWCpu.Step(D(param, "adamw", "param"), D(grad, "adamw", "grad"), D(m, "adamw", "m"), D(v, "adamw", "v"), lr,
            beta1, beta2, eps, weightDecay, step);

    protected override void GaeCore(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask,
        DeviceBuffer advantages, DeviceBuffer returns,
        int batch, int steps, float gamma, float lambda)
    {
        const string op = "gae";
        RlCpu.Gae(D(rewards, op, "rewards"), D(values, op, "values"), D(mask, op, "mask"),
            D(advantages, op, "advantages"), D(returns, op, "returns"), batch, steps, gamma, lambda);
    }

    protected override void MaskedWhitenCore(DeviceBuffer x, DeviceBuffer mask) =>
        RlCpu.MaskedWhiten(D(x, "whiten", "x"), D(mask, "whiten", "mask"));

    protected override void GroupAdvantagesCore(DeviceBuffer scores, DeviceBuffer advantages, int groupSize,
        GroupKind kind, float epsilon) =>
        RlCpu.GroupAdvantages(D(scores, "group_advantages", "scores"), D(advantages, "group_advantages", "advantages"),
            groupSize, kind, epsilon);

    protected override void ClippedSurrogateCore(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages,
        DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        const string op = "policy_loss";
        RlCpu.ClippedSurrogate(D(logp, op, "logp"), D(oldLogp, op, "oldLogp"), D(advantages, op, "advantages"),
            D(loss, op, "loss"), D(grad, op, "grad"),
            D(clipped, op, "clipped"), D(approxKl, op, "approxKl"), clipLow, clipHigh, dualClip);
    }

    protected override void KlCore(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind) =>
        RlCpu.Kl(D(logp, "kl", "logp"), D(refLogp, "kl", "refLogp"), D(kl, "kl", "kl"), DOpt(grad, "kl", "grad"), kind);

    protected override void EntropyCore(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature) =>
        RlCpu.Entropy(D(logits, "entropy", "logits"), D(entropy, "entropy", "entropy"), rows, vocab, temperature);

    protected override void EntropyBackwardCore(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits,
        int rows, int vocab, float temperature)
    {
        const string op = "entropy_backward";
        RlCpu.EntropyBackward(D(logits, op, "logits"), D(dEntropy, op, "dEntropy"), D(dlogits, op, "dlogits"), rows, vocab, temperature);
    }

    protected override void FusedPolicyLossCore(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp,
        DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p)
    {
        const string op = "fused_policy_loss";
        RlCpu.FusedPolicyLoss(D(logits, op, "logits"), ids, D(oldLogp, op, "oldLogp"), D(advantages, op, "advantages"),
            D(weights, op, "weights"),
            DOpt(refLogp, op, "refLogp"), D(dlogits, op, "dlogits"), D(stats, op, "stats"), rows, vocab, p);
    }

    public override void Dispose() { }
}
