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
        if (destination.Length != Length) throw new ShapeException("copy_to", "destination", $"{Length} elements", $"{destination.Length} elements");
        Data.CopyTo(destination);
    }
}

/// <summary>
/// The reference backend: plain C# per op family (Kernels/&lt;Op&gt;/*Cpu.cs), readable first; the GEMM,
/// which is most of a step's time, is the packed, register-tiled one. This class only checks the
/// arguments and unwraps the arrays.
/// </summary>
public sealed class CpuBackend : IBackend
{
    public string Name => $"cpu ({(GemmMicroKernel.Wide ? "AVX-512" : "AVX2")} GEMM {GemmMicroKernel.MR}x{GemmMicroKernel.NR}, " +
                          $"{Environment.ProcessorCount} threads, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (double)(1L << 30):F1} GiB)";

    public DeviceBuffer Allocate(int length) => new CpuBuffer(this, length);

    public void Synchronize() { }

    float[] D(DeviceBuffer x, string op, string name)
    {
        if (x is CpuBuffer c && ReferenceEquals(c.Backend, this)) return c.Data;
        throw new ShapeException(op, name, "a buffer of this cpu backend", x.GetType().Name);
    }

    float[]? DOpt(DeviceBuffer? x, string op, string name) => x is null ? null : D(x, op, name);

    public void Fill(DeviceBuffer x, float value) => Array.Fill(D(x, "fill", "x"), value);

    public void Copy(DeviceBuffer source, DeviceBuffer destination)
    {
        Validate.SameLength("copy", source, destination, "source", "destination");
        D(source, "copy", "source").CopyTo(D(destination, "copy", "destination"), 0);
    }

    public void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB, bool accumulate = false)
    {
        Validate.MatMul(a, b, c, m, n, k, transA, transB);
        MatmulCpu.Gemm(D(a, "matmul", "a"), D(b, "matmul", "b"), D(c, "matmul", "c"), m, n, k, transA, transB, accumulate);
    }

    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("add", a, b); Validate.SameLength("add", a, output, "a", "out");
        ElementwiseCpu.Add(D(a, "add", "a"), D(b, "add", "b"), D(output, "add", "out"));
    }

    public void Mul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("mul", a, b); Validate.SameLength("mul", a, output, "a", "out");
        ElementwiseCpu.Mul(D(a, "mul", "a"), D(b, "mul", "b"), D(output, "mul", "out"));
    }

    public void MulBackward(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db)
    {
        const string op = "mul_backward";
        Validate.SameLength(op, a, b); Validate.SameLength(op, a, dout, "a", "dout");
        if (da is not null) Validate.SameLength(op, a, da, "a", "da");
        if (db is not null) Validate.SameLength(op, a, db, "a", "db");
        ElementwiseCpu.MulBackward(D(a, op, "a"), D(b, op, "b"), D(dout, op, "dout"), DOpt(da, op, "da"), DOpt(db, op, "db"));
    }

    public void Scale(DeviceBuffer x, float alpha, DeviceBuffer output)
    {
        Validate.SameLength("scale", x, output, "x", "out");
        ElementwiseCpu.Scale(D(x, "scale", "x"), alpha, D(output, "scale", "out"));
    }

    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y)
    {
        Validate.SameLength("axpy", x, y, "x", "y");
        ElementwiseCpu.Axpy(alpha, D(x, "axpy", "x"), D(y, "axpy", "y"));
    }

    public void BiasAdd(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("bias_add", x, output, rows, cols); Validate.Vector("bias_add", "bias", bias, cols);
        ElementwiseCpu.BiasAdd(D(x, "bias_add", "x"), D(bias, "bias_add", "bias"), D(output, "bias_add", "out"), rows, cols);
    }

    public void BiasBackward(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols)
    {
        Validate.Rows("bias_backward", dout, dout, rows, cols, "dout", "dout"); Validate.Vector("bias_backward", "dbias", dbias, cols);
        ElementwiseCpu.BiasBackward(D(dout, "bias_backward", "dout"), D(dbias, "bias_backward", "dbias"), rows, cols);
    }

    public void Gelu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("gelu", x, output, "x", "out");
        ActivationCpu.Gelu(D(x, "gelu", "x"), D(output, "gelu", "out"));
    }

    public void GeluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("gelu_backward", x, dout, "x", "dout"); Validate.SameLength("gelu_backward", x, dx, "x", "dx");
        ActivationCpu.GeluBackward(D(x, "gelu_backward", "x"), D(dout, "gelu_backward", "dout"), D(dx, "gelu_backward", "dx"));
    }

    public void Silu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("silu", x, output, "x", "out");
        ActivationCpu.Silu(D(x, "silu", "x"), D(output, "silu", "out"));
    }

    public void SiluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("silu_backward", x, dout, "x", "dout"); Validate.SameLength("silu_backward", x, dx, "x", "dx");
        ActivationCpu.SiluBackward(D(x, "silu_backward", "x"), D(dout, "silu_backward", "dout"), D(dx, "silu_backward", "dx"));
    }

    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output)
    {
        Validate.SameLength("swiglu", gate, up, "gate", "up"); Validate.SameLength("swiglu", gate, output, "gate", "out");
        ActivationCpu.SwiGlu(D(gate, "swiglu", "gate"), D(up, "swiglu", "up"), D(output, "swiglu", "out"));
    }

    public void SwiGluBackward(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup)
    {
        const string op = "swiglu_backward";
        Validate.SameLength(op, gate, up, "gate", "up"); Validate.SameLength(op, gate, dout, "gate", "dout");
        Validate.SameLength(op, gate, dgate, "gate", "dgate"); Validate.SameLength(op, gate, dup, "gate", "dup");
        ActivationCpu.SwiGluBackward(D(gate, op, "gate"), D(up, op, "up"), D(dout, op, "dout"), D(dgate, op, "dgate"), D(dup, op, "dup"));
    }

    public void LayerNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean, DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "layernorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "bias", bias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        LayerNormCpu.Forward(D(x, op, "x"), D(weight, op, "weight"), D(bias, op, "bias"), D(output, op, "out"), D(mean, op, "mean"), D(rstd, op, "rstd"), rows, cols, eps);
    }

    public void LayerNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer dout,
        DeviceBuffer dx, DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols)
    {
        const string op = "layernorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols); Validate.Vector(op, "dbias", dbias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        LayerNormCpu.Backward(D(x, op, "x"), D(weight, op, "weight"), D(mean, op, "mean"), D(rstd, op, "rstd"), D(dout, op, "dout"),
            D(dx, op, "dx"), D(dweight, op, "dweight"), D(dbias, op, "dbias"), rows, cols);
    }

    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "rmsnorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "rstd", rstd, rows);
        RmsNormCpu.Forward(D(x, op, "x"), D(weight, op, "weight"), D(output, op, "out"), D(rstd, op, "rstd"), rows, cols, eps);
    }

    public void RmsNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx, DeviceBuffer dweight, int rows, int cols)
    {
        const string op = "rmsnorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols); Validate.Vector(op, "rstd", rstd, rows);
        RmsNormCpu.Backward(D(x, op, "x"), D(weight, op, "weight"), D(rstd, op, "rstd"), D(dout, op, "dout"), D(dx, op, "dx"), D(dweight, op, "dweight"), rows, cols);
    }

    public void Softmax(DeviceBuffer x, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("softmax", x, output, rows, cols);
        SoftmaxCpu.Forward(D(x, "softmax", "x"), D(output, "softmax", "out"), rows, cols);
    }

    public void SoftmaxBackward(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols)
    {
        const string op = "softmax_backward";
        Validate.Rows(op, y, dy, rows, cols, "y", "dy"); Validate.Rows(op, y, dx, rows, cols, "y", "dx");
        SoftmaxCpu.Backward(D(y, op, "y"), D(dy, op, "dy"), D(dx, op, "dx"), rows, cols);
    }

    public void Attention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention";
        Validate.Attention(op, q, k, v, output, lse, batch, steps, qHeads, kvHeads, headDim);
        AttentionCpu.Forward(D(q, op, "q"), D(k, op, "k"), D(v, op, "v"), D(output, op, "out"), D(lse, op, "lse"), batch, steps, qHeads, kvHeads, headDim);
    }

    public void AttentionBackward(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_backward";
        Validate.Attention(op, q, k, v, dout, lse, batch, steps, qHeads, kvHeads, headDim);
        Validate.SameLength(op, q, output, "q", "output");
        Validate.SameLength(op, q, dq, "q", "dq"); Validate.SameLength(op, k, dk, "k", "dk"); Validate.SameLength(op, v, dv, "v", "dv");
        AttentionCpu.Backward(D(q, op, "q"), D(k, op, "k"), D(v, op, "v"), D(output, op, "output"), D(lse, op, "lse"), D(dout, op, "dout"),
            D(dq, op, "dq"), D(dk, op, "dk"), D(dv, op, "dv"), batch, steps, qHeads, kvHeads, headDim);
    }

    public void Rope(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim, float theta)
    {
        Validate.Rope(x, output, positions, batch, steps, heads, headDim);
        RopeCpu.Forward(D(x, "rope", "x"), D(output, "rope", "out"), positions, heads, headDim, theta);
    }

    public void RopeBackward(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps, int heads, int headDim, float theta)
    {
        Validate.Rope(dout, dx, positions, batch, steps, heads, headDim);
        RopeCpu.Backward(D(dout, "rope_backward", "dout"), D(dx, "rope_backward", "dx"), positions, heads, headDim, theta);
    }

    public void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols)
    {
        Validate.KvCacheWrite(x, cache, positions, batch, steps, maxSteps, cols);
        AttentionCpu.CacheWrite(D(x, "kv_cache_write", "x"), D(cache, "kv_cache_write", "cache"), positions, batch, steps, maxSteps, cols);
    }

    public void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, int[] positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached";
        Validate.AttentionCached(q, kCache, vCache, output, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
        AttentionCpu.Cached(D(q, op, "q"), D(kCache, op, "kCache"), D(vCache, op, "vCache"), D(output, op, "out"), positions,
            batch, steps, maxSteps, qHeads, kvHeads, headDim);
    }

    public void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols)
    {
        Validate.Embedding(ids, table, output, vocab, cols);
        EmbeddingCpu.Forward(ids, D(table, "embedding", "table"), D(output, "embedding", "out"), cols);
    }

    public void EmbeddingBackward(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols)
    {
        Validate.Embedding(ids, dtable, dout, vocab, cols);
        EmbeddingCpu.Backward(ids, D(dout, "embedding_backward", "dout"), D(dtable, "embedding_backward", "dtable"), cols);
    }

    public float CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab, int ignoreIndex = -1, float scale = 1f)
    {
        Validate.CrossEntropy(logits, targets, dlogits, rows, vocab, ignoreIndex);
        return CrossEntropyCpu.Forward(D(logits, "cross_entropy", "logits"), targets, DOpt(dlogits, "cross_entropy", "dlogits"), rows, vocab, ignoreIndex, scale);
    }

    public void Sum(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.Vector("sum", "out", output, 1);
        D(output, "sum", "out")[0] = (float)ReduceCpu.Sum(D(x, "sum", "x"));
    }

    public void SumBackward(DeviceBuffer dout, DeviceBuffer dx, float scale)
    {
        Validate.Vector("sum_backward", "dout", dout, 1);
        ReduceCpu.SumBackward(D(dout, "sum_backward", "dout")[0], scale, D(dx, "sum_backward", "dx"));
    }

    public float SumOfSquares(DeviceBuffer x) => (float)ReduceCpu.SumOfSquares(D(x, "sum_of_squares", "x"));

    public void AdamW(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        Validate.AdamW(param, grad, m, v, step);
        AdamWCpu.Step(D(param, "adamw", "param"), D(grad, "adamw", "grad"), D(m, "adamw", "m"), D(v, "adamw", "v"), lr, beta1, beta2, eps, weightDecay, step);
    }

    public void Gae(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask, DeviceBuffer advantages, DeviceBuffer returns, int batch, int steps, float gamma, float lambda)
    {
        const string op = "gae";
        Validate.Gae(rewards, values, mask, advantages, returns, batch, steps);
        RlCpu.Gae(D(rewards, op, "rewards"), D(values, op, "values"), D(mask, op, "mask"), D(advantages, op, "advantages"), D(returns, op, "returns"), batch, steps, gamma, lambda);
    }

    public void MaskedWhiten(DeviceBuffer x, DeviceBuffer mask)
    {
        Validate.SameLength("whiten", x, mask, "x", "mask");
        RlCpu.MaskedWhiten(D(x, "whiten", "x"), D(mask, "whiten", "mask"));
    }

    public void GroupAdvantages(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, GroupKind kind, float epsilon)
    {
        Validate.Group(scores, advantages, groupSize);
        RlCpu.GroupAdvantages(D(scores, "group_advantages", "scores"), D(advantages, "group_advantages", "advantages"), groupSize, kind, epsilon);
    }

    public void ClippedSurrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        const string op = "policy_loss";
        Validate.Surrogate(logp, oldLogp, advantages, loss, grad, clipped, approxKl, clipLow, clipHigh, dualClip);
        RlCpu.ClippedSurrogate(D(logp, op, "logp"), D(oldLogp, op, "oldLogp"), D(advantages, op, "advantages"), D(loss, op, "loss"), D(grad, op, "grad"),
            D(clipped, op, "clipped"), D(approxKl, op, "approxKl"), clipLow, clipHigh, dualClip);
    }

    public void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind)
    {
        Validate.Kl(logp, refLogp, kl, grad);
        RlCpu.Kl(D(logp, "kl", "logp"), D(refLogp, "kl", "refLogp"), D(kl, "kl", "kl"), DOpt(grad, "kl", "grad"), kind);
    }

    public void Entropy(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature)
    {
        Validate.Rows("entropy", logits, rows, vocab, temperature); Validate.Vector("entropy", "entropy", entropy, rows);
        RlCpu.Entropy(D(logits, "entropy", "logits"), D(entropy, "entropy", "entropy"), rows, vocab, temperature);
    }

    public void EntropyBackward(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits, int rows, int vocab, float temperature)
    {
        const string op = "entropy_backward";
        Validate.Rows(op, logits, rows, vocab, temperature); Validate.Vector(op, "dEntropy", dEntropy, rows); Validate.SameLength(op, logits, dlogits, "logits", "dlogits");
        RlCpu.EntropyBackward(D(logits, op, "logits"), D(dEntropy, op, "dEntropy"), D(dlogits, op, "dlogits"), rows, vocab, temperature);
    }

    public void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p)
    {
        const string op = "fused_policy_loss";
        Validate.FusedPolicyLoss(logits, ids, oldLogp, advantages, weights, refLogp, dlogits, stats, rows, vocab, p);
        RlCpu.FusedPolicyLoss(D(logits, op, "logits"), ids, D(oldLogp, op, "oldLogp"), D(advantages, op, "advantages"), D(weights, op, "weights"),
            DOpt(refLogp, op, "refLogp"), D(dlogits, op, "dlogits"), D(stats, op, "stats"), rows, vocab, p);
    }

    public void Dispose() { }
}
