using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Activation;
using Engine.Kernels.Attention;
using Engine.Kernels.CrossEntropy;
using Engine.Kernels.Elementwise;
using Engine.Kernels.Embedding;
using Engine.Kernels.Gpu;
using Engine.Kernels.Matmul;
using Engine.Kernels.Norm;
using Engine.Kernels.Optim;
using Engine.Kernels.Reduce;
using Engine.Kernels.RL;
using Engine.Kernels.Rope;
using Engine.Kernels.Softmax;
using Engine.Kernels.Workbench;

namespace Engine.Kernels;

/// <summary>
/// The same primitives as <see cref="CpuBackend"/>, as ILGPU kernels on an accelerator (Cuda,
/// OpenCL, or ILGPU's CPU simulator). Kernels live beside their CPU reference in Kernels/&lt;Op&gt;/*Gpu.cs;
/// this class checks arguments (the shared <see cref="Validate"/>), unwraps device views and
/// launches. Buffers come from a caching pool; only batches (ids, targets, positions) go in and
/// scalars (losses, norms) come out.
/// </summary>
public sealed class GpuBackend : IBackend
{
    readonly Context context;
    public Accelerator Accelerator { get; }
    public GpuKernels Kernels { get; }
    public MemoryPool<float> Floats { get; }
    readonly MemoryPool<int> ints;
    public bool Disposed { get; private set; }

    /// <param name="kind">cuda | opencl | ilgpu-cpu</param>
    public GpuBackend(string kind)
    {
        (context, Accelerator) = GpuDevice.Open(kind);
        Kernels = new GpuKernels(Accelerator);
        Floats = new MemoryPool<float>(Accelerator);
        ints = new MemoryPool<int>(Accelerator);
    }

    public string Name
    {
        get
        {
            long mem = Accelerator.MemorySize;
            string memory = mem is > 0 and < long.MaxValue ? $"{mem / (1L << 30)} GiB" : "host memory";
            return $"ilgpu {Accelerator.AcceleratorType.ToString().ToLowerInvariant()}: {Accelerator.Name} ({memory}, warp {Accelerator.WarpSize}, max group {Accelerator.MaxNumThreadsPerGroup})";
        }
    }

    /// <summary>Which version of each op this backend runs: the default, ENGINE_KERNEL_&lt;OP&gt;=N, or one pinned with Pin.</summary>
    public KernelChoice Versions { get; } = new();

    public DeviceBuffer Allocate(int length) => new GpuBuffer(this, length);
    public void Synchronize() => Accelerator.Synchronize();

    /// <summary>
    /// Integer batch data (ids, targets, positions) on the device, returned to the pool on dispose
    /// without waiting for the kernel that reads it: kernels run in order on the default stream, and
    /// ILGPU's CopyFromCPU, the only way the next upload writes this memory, synchronises that stream
    /// before copying. So no second device-wide synchronisation per call (the upload's own remains;
    /// removing it needs pinned staging memory and an asynchronous copy).
    /// </summary>
    public sealed class IntBuffer(GpuBackend owner, MemoryBuffer1D<int, Stride1D.Dense> memory, int length) : IDisposable
    {
        public ArrayView<int> View { get; } = memory.View.SubView(0, Math.Max(1, length));
        public void Dispose() => owner.ints.Return(memory);
    }

    public IntBuffer Upload(int[] values)
    {
        var memory = ints.Rent(Math.Max(1, values.Length));
        var buffer = new IntBuffer(this, memory, values.Length);
        if (values.Length > 0) buffer.View.SubView(0, values.Length).CopyFromCPU(values);
        return buffer;
    }

    ArrayView<float> V(DeviceBuffer x, string op, string name)
    {
        if (x is GpuBuffer g && ReferenceEquals(g.Backend, this)) return g.View;
        throw new ShapeException(op, name, "a buffer of this gpu backend", x.GetType().Name);
    }

    public void Fill(DeviceBuffer x, float value) => ElementwiseGpu.Fill(Kernels, V(x, "fill", "x"), value);

    public void Copy(DeviceBuffer source, DeviceBuffer destination)
    {
        Validate.SameLength("copy", source, destination, "source", "destination");
        if (source.Length > 0) V(source, "copy", "source").CopyTo(V(destination, "copy", "destination"));
    }

    public void MatMul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k, bool transA, bool transB, bool accumulate = false)
    {
        Validate.MatMul(a, b, c, m, n, k, transA, transB);
        MatmulOps.Gpu[Versions.Of(MatmulOps.MatMul) - 1].Run(Kernels, V(a, "matmul", "a"), V(b, "matmul", "b"), V(c, "matmul", "c"),
            m, n, k, transA, transB, accumulate);
    }

    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("add", a, b); Validate.SameLength("add", a, output, "a", "out");
        ElementwiseGpu.Add(Kernels, V(a, "add", "a"), V(b, "add", "b"), V(output, "add", "out"));
    }

    public void Mul(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output)
    {
        Validate.SameLength("mul", a, b); Validate.SameLength("mul", a, output, "a", "out");
        ElementwiseGpu.Mul(Kernels, V(a, "mul", "a"), V(b, "mul", "b"), V(output, "mul", "out"));
    }

    public void MulBackward(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db)
    {
        const string op = "mul_backward";
        Validate.SameLength(op, a, b); Validate.SameLength(op, a, dout, "a", "dout");
        if (da is not null) Validate.SameLength(op, a, da, "a", "da");
        if (db is not null) Validate.SameLength(op, a, db, "a", "db");
        ElementwiseGpu.MulBackward(Kernels, V(a, op, "a"), V(b, op, "b"), V(dout, op, "dout"), da is null ? null : V(da, op, "da"), db is null ? null : V(db, op, "db"));
    }

    public void Scale(DeviceBuffer x, float alpha, DeviceBuffer output)
    {
        Validate.SameLength("scale", x, output, "x", "out");
        ElementwiseGpu.Scale(Kernels, V(x, "scale", "x"), alpha, V(output, "scale", "out"));
    }

    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y)
    {
        Validate.SameLength("axpy", x, y, "x", "y");
        ElementwiseGpu.Axpy(Kernels, alpha, V(x, "axpy", "x"), V(y, "axpy", "y"));
    }

    public void BiasAdd(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("bias_add", x, output, rows, cols); Validate.Vector("bias_add", "bias", bias, cols);
        ElementwiseGpu.BiasAdd(Kernels, V(x, "bias_add", "x"), V(bias, "bias_add", "bias"), V(output, "bias_add", "out"), rows, cols);
    }

    public void BiasBackward(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols)
    {
        Validate.Rows("bias_backward", dout, dout, rows, cols, "dout", "dout"); Validate.Vector("bias_backward", "dbias", dbias, cols);
        ElementwiseGpu.ColumnSum(Kernels, V(dout, "bias_backward", "dout"), V(dbias, "bias_backward", "dbias"), rows, cols);
    }

    public void Gelu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("gelu", x, output, "x", "out");
        ActivationGpu.Gelu(Kernels, V(x, "gelu", "x"), V(output, "gelu", "out"));
    }

    public void GeluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("gelu_backward", x, dout, "x", "dout"); Validate.SameLength("gelu_backward", x, dx, "x", "dx");
        ActivationGpu.GeluBackward(Kernels, V(x, "gelu_backward", "x"), V(dout, "gelu_backward", "dout"), V(dx, "gelu_backward", "dx"));
    }

    public void Silu(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.SameLength("silu", x, output, "x", "out");
        ActivationGpu.Silu(Kernels, V(x, "silu", "x"), V(output, "silu", "out"));
    }

    public void SiluBackward(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx)
    {
        Validate.SameLength("silu_backward", x, dout, "x", "dout"); Validate.SameLength("silu_backward", x, dx, "x", "dx");
        ActivationGpu.SiluBackward(Kernels, V(x, "silu_backward", "x"), V(dout, "silu_backward", "dout"), V(dx, "silu_backward", "dx"));
    }

    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output)
    {
        Validate.SameLength("swiglu", gate, up, "gate", "up"); Validate.SameLength("swiglu", gate, output, "gate", "out");
        ActivationGpu.SwiGlu(Kernels, V(gate, "swiglu", "gate"), V(up, "swiglu", "up"), V(output, "swiglu", "out"));
    }

    public void SwiGluBackward(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup)
    {
        const string op = "swiglu_backward";
        Validate.SameLength(op, gate, up, "gate", "up"); Validate.SameLength(op, gate, dout, "gate", "dout");
        Validate.SameLength(op, gate, dgate, "gate", "dgate"); Validate.SameLength(op, gate, dup, "gate", "dup");
        ActivationGpu.SwiGluBackward(Kernels, V(gate, op, "gate"), V(up, op, "up"), V(dout, op, "dout"), V(dgate, op, "dgate"), V(dup, op, "dup"));
    }

    public void LayerNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean, DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "layernorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "bias", bias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        NormGpu.LayerNorm(Kernels, V(x, op, "x"), V(weight, op, "weight"), V(bias, op, "bias"), V(output, op, "out"), V(mean, op, "mean"), V(rstd, op, "rstd"), rows, cols, eps);
    }

    public void LayerNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer dout,
        DeviceBuffer dx, DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols)
    {
        const string op = "layernorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols); Validate.Vector(op, "dbias", dbias, cols);
        Validate.Vector(op, "mean", mean, rows); Validate.Vector(op, "rstd", rstd, rows);
        NormGpu.LayerNormBackward(Kernels, V(x, op, "x"), V(weight, op, "weight"), V(mean, op, "mean"), V(rstd, op, "rstd"), V(dout, op, "dout"),
            V(dx, op, "dx"), V(dweight, op, "dweight"), V(dbias, op, "dbias"), rows, cols);
    }

    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "rmsnorm";
        Validate.Rows(op, x, output, rows, cols); Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "rstd", rstd, rows);
        NormGpu.RmsNorm(Kernels, V(x, op, "x"), V(weight, op, "weight"), V(output, op, "out"), V(rstd, op, "rstd"), rows, cols, eps);
    }

    public void RmsNormBackward(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx, DeviceBuffer dweight, int rows, int cols)
    {
        const string op = "rmsnorm_backward";
        Validate.Rows(op, x, dout, rows, cols, "x", "dout"); Validate.Rows(op, x, dx, rows, cols, "x", "dx");
        Validate.Vector(op, "weight", weight, cols); Validate.Vector(op, "dweight", dweight, cols); Validate.Vector(op, "rstd", rstd, rows);
        NormGpu.RmsNormBackward(Kernels, V(x, op, "x"), V(weight, op, "weight"), V(rstd, op, "rstd"), V(dout, op, "dout"), V(dx, op, "dx"), V(dweight, op, "dweight"), rows, cols);
    }

    public void Softmax(DeviceBuffer x, DeviceBuffer output, int rows, int cols)
    {
        Validate.Rows("softmax", x, output, rows, cols);
        SoftmaxGpu.Forward(Kernels, V(x, "softmax", "x"), V(output, "softmax", "out"), rows, cols);
    }

    public void SoftmaxBackward(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols)
    {
        const string op = "softmax_backward";
        Validate.Rows(op, y, dy, rows, cols, "y", "dy"); Validate.Rows(op, y, dx, rows, cols, "y", "dx");
        SoftmaxGpu.Backward(Kernels, V(y, op, "y"), V(dy, op, "dy"), V(dx, op, "dx"), rows, cols);
    }

    static void HeadDim(string op, int headDim)
    {
        if (headDim > AttentionGpu.MaxHeadDim)
            throw new ShapeException(op, "headDim", $"a head size <= {AttentionGpu.MaxHeadDim} on the gpu backend", headDim.ToString());
    }

    public void Attention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention";
        Validate.Attention(op, q, k, v, output, lse, batch, steps, qHeads, kvHeads, headDim);
        HeadDim(op, headDim);
        AttentionGpu.Forward(Kernels, V(q, op, "q"), V(k, op, "k"), V(v, op, "v"), V(output, op, "out"), V(lse, op, "lse"), batch, steps, qHeads, kvHeads, headDim);
    }

    public void AttentionBackward(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output, DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_backward";
        Validate.Attention(op, q, k, v, dout, lse, batch, steps, qHeads, kvHeads, headDim);
        Validate.SameLength(op, q, output, "q", "output");
        Validate.SameLength(op, q, dq, "q", "dq"); Validate.SameLength(op, k, dk, "k", "dk"); Validate.SameLength(op, v, dv, "v", "dv");
        HeadDim(op, headDim);
        AttentionGpu.Backward(this, V(q, op, "q"), V(k, op, "k"), V(v, op, "v"), V(output, op, "output"), V(lse, op, "lse"), V(dout, op, "dout"),
            V(dq, op, "dq"), V(dk, op, "dk"), V(dv, op, "dv"), batch, steps, qHeads, kvHeads, headDim);
    }

    public void Rope(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim, float theta)
    {
        Validate.Rope(x, output, positions, batch, steps, heads, headDim);
        RopeGpu.Run(this, V(x, "rope", "x"), V(output, "rope", "out"), positions, heads, headDim, theta, backward: false);
    }

    public void RopeBackward(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps, int heads, int headDim, float theta)
    {
        Validate.Rope(dout, dx, positions, batch, steps, heads, headDim);
        RopeGpu.Run(this, V(dout, "rope_backward", "dout"), V(dx, "rope_backward", "dx"), positions, heads, headDim, theta, backward: true);
    }

    public void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps, int maxSteps, int cols)
    {
        Validate.KvCacheWrite(x, cache, positions, batch, steps, maxSteps, cols);
        AttentionGpu.CacheWrite(this, V(x, "kv_cache_write", "x"), V(cache, "kv_cache_write", "cache"), positions, batch, steps, maxSteps, cols);
    }

    public void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, int[] positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached";
        Validate.AttentionCached(q, kCache, vCache, output, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
        HeadDim(op, headDim);
        AttentionGpu.Cached(this, V(q, op, "q"), V(kCache, op, "kCache"), V(vCache, op, "vCache"), V(output, op, "out"), positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
    }

    public void Embedding(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols)
    {
        Validate.Embedding(ids, table, output, vocab, cols);
        EmbeddingGpu.Forward(this, ids, V(table, "embedding", "table"), V(output, "embedding", "out"), cols);
    }

    public void EmbeddingBackward(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols)
    {
        Validate.Embedding(ids, dtable, dout, vocab, cols);
        EmbeddingGpu.Backward(this, ids, V(dout, "embedding_backward", "dout"), V(dtable, "embedding_backward", "dtable"), cols);
    }

    public float CrossEntropy(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows, int vocab, int ignoreIndex = -1, float scale = 1f)
    {
        Validate.CrossEntropy(logits, targets, dlogits, rows, vocab, ignoreIndex);
        return CrossEntropyGpu.Forward(this, V(logits, "cross_entropy", "logits"), targets, dlogits is null ? null : V(dlogits, "cross_entropy", "dlogits"), rows, vocab, ignoreIndex, scale);
    }

    public void Sum(DeviceBuffer x, DeviceBuffer output)
    {
        Validate.Vector("sum", "out", output, 1);
        ReduceGpu.Sum(this, V(x, "sum", "x"), V(output, "sum", "out"));
    }

    public void SumBackward(DeviceBuffer dout, DeviceBuffer dx, float scale)
    {
        Validate.Vector("sum_backward", "dout", dout, 1);
        ReduceGpu.SumBackward(Kernels, V(dout, "sum_backward", "dout"), V(dx, "sum_backward", "dx"), scale);
    }

    public float SumOfSquares(DeviceBuffer x)
    {
        using var result = (GpuBuffer)Allocate(1);
        ReduceGpu.Sum(this, V(x, "sum_of_squares", "x"), result.View, square: true);
        return result.ToArray()[0];
    }

    public void AdamW(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        Validate.AdamW(param, grad, m, v, step);
        AdamWGpu.Step(Kernels, V(param, "adamw", "param"), V(grad, "adamw", "grad"), V(m, "adamw", "m"), V(v, "adamw", "v"), lr, beta1, beta2, eps, weightDecay, step);
    }

    public void Gae(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask, DeviceBuffer advantages, DeviceBuffer returns, int batch, int steps, float gamma, float lambda)
    {
        const string op = "gae";
        Validate.Gae(rewards, values, mask, advantages, returns, batch, steps);
        RlGpu.Gae(Kernels, V(rewards, op, "rewards"), V(values, op, "values"), V(mask, op, "mask"), V(advantages, op, "advantages"), V(returns, op, "returns"), batch, steps, gamma, lambda);
    }

    public void MaskedWhiten(DeviceBuffer x, DeviceBuffer mask)
    {
        Validate.SameLength("whiten", x, mask, "x", "mask");
        RlGpu.MaskedWhiten(this, V(x, "whiten", "x"), V(mask, "whiten", "mask"));
    }

    public void GroupAdvantages(DeviceBuffer scores, DeviceBuffer advantages, int groupSize, GroupKind kind, float epsilon)
    {
        Validate.Group(scores, advantages, groupSize);
        RlGpu.GroupAdvantages(Kernels, V(scores, "group_advantages", "scores"), V(advantages, "group_advantages", "advantages"), groupSize, kind, epsilon);
    }

    public void ClippedSurrogate(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        const string op = "policy_loss";
        Validate.Surrogate(logp, oldLogp, advantages, loss, grad, clipped, approxKl, clipLow, clipHigh, dualClip);
        RlGpu.ClippedSurrogate(Kernels, V(logp, op, "logp"), V(oldLogp, op, "oldLogp"), V(advantages, op, "advantages"), V(loss, op, "loss"), V(grad, op, "grad"),
            V(clipped, op, "clipped"), V(approxKl, op, "approxKl"), clipLow, clipHigh, dualClip);
    }

    public void Kl(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind)
    {
        Validate.Kl(logp, refLogp, kl, grad);
        RlGpu.Kl(Kernels, V(logp, "kl", "logp"), V(refLogp, "kl", "refLogp"), V(kl, "kl", "kl"), grad is null ? null : V(grad, "kl", "grad"), kind);
    }

    public void Entropy(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature)
    {
        Validate.Rows("entropy", logits, rows, vocab, temperature); Validate.Vector("entropy", "entropy", entropy, rows);
        RlGpu.Entropy(Kernels, V(logits, "entropy", "logits"), V(entropy, "entropy", "entropy"), rows, vocab, temperature);
    }

    public void EntropyBackward(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits, int rows, int vocab, float temperature)
    {
        const string op = "entropy_backward";
        Validate.Rows(op, logits, rows, vocab, temperature); Validate.Vector(op, "dEntropy", dEntropy, rows); Validate.SameLength(op, logits, dlogits, "logits", "dlogits");
        RlGpu.EntropyBackward(Kernels, V(logits, op, "logits"), V(dEntropy, op, "dEntropy"), V(dlogits, op, "dlogits"), rows, vocab, temperature);
    }

    public void FusedPolicyLoss(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp, DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p)
    {
        const string op = "fused_policy_loss";
        Validate.FusedPolicyLoss(logits, ids, oldLogp, advantages, weights, refLogp, dlogits, stats, rows, vocab, p);
        RlGpu.FusedPolicyLoss(this, V(logits, op, "logits"), ids, V(oldLogp, op, "oldLogp"), V(advantages, op, "advantages"), V(weights, op, "weights"),
            refLogp is null ? null : V(refLogp, op, "refLogp"), V(dlogits, op, "dlogits"), V(stats, op, "stats"), rows, vocab, p);
    }

    public void Dispose()
    {
        if (Disposed) return;
        Disposed = true;
        Accelerator.Synchronize();
        Floats.Dispose();
        ints.Dispose();
        Accelerator.Dispose();
        context.Dispose();
    }
}
