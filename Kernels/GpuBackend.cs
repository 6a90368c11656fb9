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
/// the checks live in <see cref="CheckedBackend"/>; this class unwraps device views and launches
/// the chosen version of each op (<see cref="Versions"/>). Buffers come from a caching pool; only batches (ids,
/// targets, positions) go in and
/// scalars (losses, norms) come out.
/// </summary>
public sealed partial class GpuBackend : CheckedBackend
{
    readonly Context context;
    public Accelerator Accelerator { get; }
    public LaunchContext Launch { get; }
    public MemoryPool<float> Floats { get; }
    readonly MemoryPool<int> ints;
    internal MemoryPool<int> Ints => ints;
    public bool Disposed { get; private set; }

    /// <param name="kind">cuda | opencl | ilgpu-cpu</param>
    /// <param name="deviceTiming">Let <see cref="Mark"/> record device events (--profile times kernels with them).</param>
    public GpuBackend(string kind, bool deviceTiming = false)
    {
        (context, Accelerator) = GpuDevice.Open(kind, deviceTiming);
        DeviceTiming = deviceTiming;
        Floats = new MemoryPool<float>(Accelerator);
        ints = new MemoryPool<int>(Accelerator);
        Launch = new LaunchContext(Accelerator, Floats, ints, Transfers);
    }

    public override string Name
    {
        get
        {
            long mem = Accelerator.MemorySize;
            string memory = mem is > 0 and < long.MaxValue ? $"{mem / (1L << 30)} GiB" : "host memory";
            return $"ilgpu {Accelerator.AcceleratorType.ToString().ToLowerInvariant()}: " +
                $"{Accelerator.Name} ({memory}, warp {Accelerator.WarpSize}, max group " +
                $"{Accelerator.MaxNumThreadsPerGroup})";
        }
    }

    /// <summary>Which version of each op this backend runs: the default, ENGINE_KERNEL_&lt;OP&gt;=N, or one pinned with Pin.</summary>
    public KernelChoice Versions { get; } = new();

    public bool DeviceTiming { get; }

    /// <summary>A timestamp recorded on the device's stream when the work launched before it has run (an event on
    /// CUDA); null unless the backend was opened with deviceTiming. Marking does not wait for the device.</summary>
    public ProfilingMarker? Mark() => DeviceTiming ? Accelerator.DefaultStream.AddProfilingMarker() : null;

    /// <summary>How matmuls and attention multiply (--precision); fp32 unless set.</summary>
    public Precision Precision { get; set; } = Precision.Fp32;

    public override DeviceBuffer Allocate(int length) => new GpuBuffer(this, length);

    public override DeviceBuffer[] AllocateContiguous(IReadOnlyList<int> lengths)
    {
        var arena = new GpuArena(this, lengths.Sum(l => (long)l));
        var parts = new DeviceBuffer[lengths.Count];
        long at = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = new GpuBuffer(this, arena, at, lengths[i]);
            at += lengths[i];
        }
        return parts;
    }

    public override DeviceBuffer? Join(IReadOnlyList<DeviceBuffer> parts)
    {
        if (parts.Count == 0) return null;
        if (parts.Count == 1) return parts[0];
        if (parts[0] is not GpuBuffer { Arena: { } arena } first || !ReferenceEquals(first.Backend, this)) return null;
        long end = first.Offset, length = 0;
        foreach (var part in parts)
        {
            if (part is not GpuBuffer g || !ReferenceEquals(g.Arena, arena) || g.Offset != end) return null;
            end += g.Length;
            length += g.Length;
        }
        return length > int.MaxValue ? null : new GpuBuffer(this, arena, first.Offset, (int)length);
    }
    public override void Synchronize()
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Accelerator.Synchronize();
        Transfers.Synchronized(start);
    }

    /// <summary>Host↔device copies and synchronisations so far (for --profile and for tests).</summary>
    public Transfers Transfers { get; } = new();

    ArrayView<float> V(DeviceBuffer x, string op, string name)
    {
        if (x is GpuBuffer g && ReferenceEquals(g.Backend, this)) return g.View;
        throw new OpArgumentException(op, name, "a buffer of this gpu backend", x.GetType().Name);
    }

    protected override void FillCore(DeviceBuffer x, float value) =>
        ElementwiseGpu.Fill(Launch, V(x, "fill", "x"), value);

    protected override void CopyCore(DeviceBuffer source, DeviceBuffer destination)
    {
        if (source.Length > 0) V(source, "copy", "source").CopyTo(Launch.Stream, V(destination, "copy", "destination"));
    }

    protected override void MatMulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer c, int m, int n, int k,
        bool transA, bool transB, bool accumulate)
    {
        int version = Versions.Explicit(MatmulOps.MatMul) ?? MatmulOps.Choose(Precision, m, transB, Launch.MaxGroup);
        MatmulOps.Gpu[version - 1].Run(Launch, V(a, "matmul", "a"), V(b, "matmul", "b"), V(c, "matmul", "c"),
            m, n, k, transA, transB, accumulate);
    }

    protected override void AddCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) =>
        ElementwiseGpu.Add(Launch, V(a, "add", "a"), V(b, "add", "b"), V(output, "add", "out"));

    protected override void MulCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output) =>
        ElementwiseGpu.Mul(Launch, V(a, "mul", "a"), V(b, "mul", "b"), V(output, "mul", "out"));

    protected override void MulBackwardCore(DeviceBuffer a, DeviceBuffer b, DeviceBuffer dout, DeviceBuffer? da, DeviceBuffer? db)
    {
        const string op = "mul_backward";
        ElementwiseGpu.MulBackward(Launch, V(a, op, "a"), V(b, op, "b"), V(dout, op, "dout"),
            da is null ? null : V(da, op, "da"), db is null ? null : V(db, op, "db"));
    }

    protected override void ScaleCore(DeviceBuffer x, float alpha, DeviceBuffer output) =>
        ElementwiseGpu.Scale(Launch, V(x, "scale", "x"), alpha, V(output, "scale", "out"));

    protected override void AxpyCore(float alpha, DeviceBuffer x, DeviceBuffer y) =>
        ElementwiseGpu.Axpy(Launch, alpha, V(x, "axpy", "x"), V(y, "axpy", "y"));

    protected override void BiasAddCore(DeviceBuffer x, DeviceBuffer bias, DeviceBuffer output, int rows, int cols) =>
        ElementwiseGpu.BiasAdd(Launch, V(x, "bias_add", "x"), V(bias, "bias_add", "bias"), V(output, "bias_add", "out"), rows, cols);

    protected override void BiasBackwardCore(DeviceBuffer dout, DeviceBuffer dbias, int rows, int cols) =>
        ElementwiseOps.BiasBackwardGpu[Versions.Of(ElementwiseOps.BiasBackward) - 1].Run(Launch,
            V(dout, "bias_backward", "dout"), V(dbias, "bias_backward", "dbias"), rows, cols);

    protected override void GeluCore(DeviceBuffer x, DeviceBuffer output) =>
        ActivationGpu.Gelu(Launch, V(x, "gelu", "x"), V(output, "gelu", "out"));

    protected override void GeluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) =>
        ActivationGpu.GeluBackward(Launch, V(x, "gelu_backward", "x"), V(dout, "gelu_backward", "dout"), V(dx, "gelu_backward", "dx"));

    protected override void SiluCore(DeviceBuffer x, DeviceBuffer output) =>
        ActivationGpu.Silu(Launch, V(x, "silu", "x"), V(output, "silu", "out"));

    protected override void SiluBackwardCore(DeviceBuffer x, DeviceBuffer dout, DeviceBuffer dx) =>
        ActivationGpu.SiluBackward(Launch, V(x, "silu_backward", "x"), V(dout, "silu_backward", "dout"), V(dx, "silu_backward", "dx"));

    protected override void SwiGluCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output) =>
        ActivationGpu.SwiGlu(Launch, V(gate, "swiglu", "gate"), V(up, "swiglu", "up"), V(output, "swiglu", "out"));

    protected override void SwiGluBackwardCore(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer dout, DeviceBuffer dgate, DeviceBuffer dup)
    {
        const string op = "swiglu_backward";
        ActivationGpu.SwiGluBackward(Launch, V(gate, op, "gate"), V(up, op, "up"), V(dout, op, "dout"),
            V(dgate, op, "dgate"), V(dup, op, "dup"));
    }

    protected override void LayerNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer bias, DeviceBuffer output, DeviceBuffer mean,
        DeviceBuffer rstd, int rows, int cols, float eps)
    {
        const string op = "layernorm";
        NormOps.LayerNormGpu[Versions.Of(NormOps.LayerNorm) - 1].Run(Launch, V(x, op, "x"), V(weight, op, "weight"),
            V(bias, op, "bias"), V(output, op, "out"),
            V(mean, op, "mean"), V(rstd, op, "rstd"), rows, cols, eps);
    }

    protected override void LayerNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer mean,
        DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, DeviceBuffer dbias, int rows, int cols)
    {
        const string op = "layernorm_backward";
        NormOps.LayerNormBackwardGpu[Versions.Of(NormOps.LayerNormBackward) - 1].Run(Launch, V(x, op, "x"),
            V(weight, op, "weight"), V(mean, op, "mean"),
            V(rstd, op, "rstd"), V(dout, op, "dout"),
            V(dx, op, "dx"), V(dweight, op, "dweight"), V(dbias, op, "dbias"), rows, cols);
    }

    protected override void RmsNormCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer output, DeviceBuffer rstd,
        int rows, int cols, float eps)
    {
        const string op = "rmsnorm";
        NormOps.RmsNormGpu[Versions.Of(NormOps.RmsNorm) - 1].Run(Launch, V(x, op, "x"), V(weight, op, "weight"),
            V(output, op, "out"), V(rstd, op, "rstd"), rows, cols, eps);
    }

    protected override void RmsNormBackwardCore(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer rstd, DeviceBuffer dout, DeviceBuffer dx,
        DeviceBuffer dweight, int rows, int cols)
    {
        const string op = "rmsnorm_backward";
        NormOps.RmsNormBackwardGpu[Versions.Of(NormOps.RmsNormBackward) - 1].Run(Launch, V(x, op, "x"),
            V(weight, op, "weight"), V(rstd, op, "rstd"),
            V(dout, op, "dout"), V(dx, op, "dx"), V(dweight, op, "dweight"), rows, cols);
    }

    protected override void SoftmaxCore(DeviceBuffer x, DeviceBuffer output, int rows, int cols) =>
        SoftmaxOps.ForwardGpu[Versions.Of(SoftmaxOps.Forward) - 1].Run(Launch, V(x, "softmax", "x"),
            V(output, "softmax", "out"), rows, cols);

    protected override void SoftmaxBackwardCore(DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx, int rows, int cols)
    {
        const string op = "softmax_backward";
        SoftmaxOps.BackwardGpu[Versions.Of(SoftmaxOps.Backward) - 1].Run(Launch, V(y, op, "y"), V(dy, op, "dy"),
            V(dx, op, "dx"), rows, cols);
    }

    static void HeadDim(string op, int headDim)
    {
        if (headDim > AttentionGpu.MaxHeadDim)
            throw new ShapeException(op, "headDim", $"a head size <= {AttentionGpu.MaxHeadDim} on the gpu backend", headDim.ToString());
    }

    /// <summary>The attention version that runs (<see cref="AttentionOps.Choose"/>).</summary>
    int AttentionVersion(OpDeclaration op) =>
        AttentionOps.Choose(op, Precision, Versions.Explicit(op), Launch.WarpSize, Launch.MaxGroup);

    protected override void AttentionCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, int batch, int steps,
        int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention";
        HeadDim(op, headDim);
        AttentionOps.ForwardGpu[AttentionVersion(AttentionOps.Forward) - 1].Run(Launch, V(q, op, "q"), V(k, op, "k"),
            V(v, op, "v"),
            V(output, op, "out"), V(lse, op, "lse"), batch, steps, qHeads, kvHeads, headDim);
    }

    protected override void AttentionBackwardCore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer output,
        DeviceBuffer lse, DeviceBuffer dout,
        DeviceBuffer dq, DeviceBuffer dk, DeviceBuffer dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_backward";
        HeadDim(op, headDim);
        AttentionOps.BackwardGpu[AttentionVersion(AttentionOps.Backward) - 1].Run(Launch, V(q, op, "q"), V(k, op, "k"),
            V(v, op, "v"),
            V(output, op, "output"), V(lse, op, "lse"), V(dout, op, "dout"), V(dq, op, "dq"), V(dk, op, "dk"), V(dv, op, "dv"),
            batch, steps, qHeads, kvHeads, headDim);
    }

    protected override void RopeCore(DeviceBuffer x, DeviceBuffer output, int[] positions, int batch, int steps, int heads, int headDim,
        float theta) =>
        RopeGpu.Run(Launch, V(x, "rope", "x"), V(output, "rope", "out"), positions, heads, headDim, theta, backward: false);

    protected override void RopeBackwardCore(DeviceBuffer dout, DeviceBuffer dx, int[] positions, int batch, int steps,
        int heads, int headDim, float theta) =>
        RopeGpu.Run(Launch, V(dout, "rope_backward", "dout"), V(dx, "rope_backward", "dx"), positions, heads, headDim,
            theta, backward: true);

    protected override void KvCacheWriteCore(DeviceBuffer x, DeviceBuffer cache, int[] positions, int batch, int steps,
        int maxSteps, int cols)
    {
        using var pos = Launch.Upload(positions);
        AttentionGpu.CacheWrite(Launch, V(x, "kv_cache_write", "x"), V(cache, "kv_cache_write", "cache"), pos.View,
            batch, steps, maxSteps, cols);
    }

    protected override void AttentionCachedCore(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache,
        DeviceBuffer output, int[] positions, int batch,
        int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached";
        HeadDim(op, headDim);
        using var pos = Launch.Upload(positions);
        AttentionOps.CachedGpu[Versions.Of(AttentionOps.Cached) - 1].Run(Launch, V(q, op, "q"), V(kCache, op, "kCache"),
            V(vCache, op, "vCache"),
            V(output, op, "out"), pos.View, batch, steps, maxSteps, qHeads, kvHeads, headDim);
    }

    protected override void EmbeddingCore(int[] ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols) =>
        EmbeddingGpu.Forward(Launch, ids, V(table, "embedding", "table"), V(output, "embedding", "out"), cols);

    protected override void EmbeddingBackwardCore(int[] ids, DeviceBuffer dout, DeviceBuffer dtable, int vocab, int cols) =>
        EmbeddingOps.BackwardGpu[Versions.Of(EmbeddingOps.Backward) - 1].Run(Launch, ids, V(dout, "embedding_backward", "dout"),
            V(dtable, "embedding_backward", "dtable"), vocab, cols);

    protected override float CrossEntropyCore(DeviceBuffer logits, int[] targets, DeviceBuffer? dlogits, int rows,
        int vocab, int ignoreIndex, float scale) =>
        CrossEntropyOps.Gpu[Versions.Of(CrossEntropyOps.CrossEntropy) - 1].Run(Launch, V(logits, "cross_entropy", "logits"), targets,
            dlogits is null ? null : V(dlogits, "cross_entropy", "dlogits"), rows, vocab, ignoreIndex, scale);

    protected override void SumCore(DeviceBuffer x, DeviceBuffer output) =>
        ReduceOps.SumGpu[Versions.Of(ReduceOps.Sum) - 1].Run(Launch, V(x, "sum", "x"), V(output, "sum", "out"));

    protected override void SumBackwardCore(DeviceBuffer dout, DeviceBuffer dx, float scale) =>
        ReduceGpu.SumBackward(Launch, V(dout, "sum_backward", "dout"), V(dx, "sum_backward", "dx"), scale);

    protected override void SampleTokensCore(DeviceBuffer logits, DeviceBuffer uniforms, DeviceBuffer tokens, DeviceBuffer logprobs,
        int rows, int vocab, float temperature, int topK, float topP) =>
        Sampling.SamplingGpu.Run(Launch, V(logits, "sample_tokens", "logits"), V(uniforms, "sample_tokens", "uniforms"),
            V(tokens, "sample_tokens", "tokens"), V(logprobs, "sample_tokens", "logprobs"), rows, vocab, temperature, topK, topP);

    protected override void SumOfSquaresIntoCore(DeviceBuffer x, DeviceBuffer sums, int index) =>
        ReduceOps.SumOfSquaresGpu[Versions.Of(ReduceOps.SumOfSquares) - 1].Run(Launch, V(x, "sum_of_squares_into", "x"),
            V(sums, "sum_of_squares_into", "sums").SubView(index, 1));

    protected override void AdamWCore(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, float lr,
        float beta1, float beta2,
        float eps, float weightDecay, int step) =>
        AdamWGpu.Step(Launch, V(param, "adamw", "param"), V(grad, "adamw", "grad"), V(m, "adamw", "m"),
            V(v, "adamw", "v"), lr, beta1, beta2, eps, weightDecay, step);

    protected override void GaeCore(DeviceBuffer rewards, DeviceBuffer values, DeviceBuffer mask,
        DeviceBuffer advantages, DeviceBuffer returns,
        int batch, int steps, float gamma, float lambda)
    {
        const string op = "gae";
        RlOps.GaeGpu[Versions.Of(RlOps.Gae) - 1].Run(Launch, V(rewards, op, "rewards"), V(values, op, "values"), V(mask, op, "mask"),
            V(advantages, op, "advantages"), V(returns, op, "returns"), batch, steps, gamma, lambda);
    }

    protected override void MaskedWhitenCore(DeviceBuffer x, DeviceBuffer mask) =>
        RlGpu.MaskedWhiten(Launch, V(x, "whiten", "x"), V(mask, "whiten", "mask"));

    protected override void GroupAdvantagesCore(DeviceBuffer scores, DeviceBuffer advantages, int groupSize,
        GroupKind kind, float epsilon) =>
        RlGpu.GroupAdvantages(Launch, V(scores, "group_advantages", "scores"),
            V(advantages, "group_advantages", "advantages"), groupSize, kind, epsilon);

    protected override void ClippedSurrogateCore(DeviceBuffer logp, DeviceBuffer oldLogp, DeviceBuffer advantages,
        DeviceBuffer loss, DeviceBuffer grad,
        DeviceBuffer clipped, DeviceBuffer approxKl, float clipLow, float clipHigh, float dualClip)
    {
        const string op = "policy_loss";
        RlGpu.ClippedSurrogate(Launch, V(logp, op, "logp"), V(oldLogp, op, "oldLogp"),
            V(advantages, op, "advantages"), V(loss, op, "loss"), V(grad, op, "grad"),
            V(clipped, op, "clipped"), V(approxKl, op, "approxKl"), clipLow, clipHigh, dualClip);
    }

    protected override void KlCore(DeviceBuffer logp, DeviceBuffer refLogp, DeviceBuffer kl, DeviceBuffer? grad, KlKind kind) =>
        RlGpu.Kl(Launch, V(logp, "kl", "logp"), V(refLogp, "kl", "refLogp"), V(kl, "kl", "kl"),
            grad is null ? null : V(grad, "kl", "grad"), kind);

    protected override void EntropyCore(DeviceBuffer logits, DeviceBuffer entropy, int rows, int vocab, float temperature) =>
        RlGpu.Entropy(Launch, V(logits, "entropy", "logits"), V(entropy, "entropy", "entropy"), rows, vocab, temperature);

    protected override void EntropyBackwardCore(DeviceBuffer logits, DeviceBuffer dEntropy, DeviceBuffer dlogits,
        int rows, int vocab, float temperature)
    {
        const string op = "entropy_backward";
        RlGpu.EntropyBackward(Launch, V(logits, op, "logits"), V(dEntropy, op, "dEntropy"), V(dlogits, op, "dlogits"),
            rows, vocab, temperature);
    }

    protected override void FusedPolicyLossCore(DeviceBuffer logits, int[] ids, DeviceBuffer oldLogp,
        DeviceBuffer advantages, DeviceBuffer weights,
        DeviceBuffer? refLogp, DeviceBuffer dlogits, DeviceBuffer stats, int rows, int vocab, FusedPolicyParams p)
    {
        const string op = "fused_policy_loss";
        RlGpu.FusedPolicyLoss(Launch, V(logits, op, "logits"), ids, V(oldLogp, op, "oldLogp"),
            V(advantages, op, "advantages"), V(weights, op, "weights"),
            refLogp is null ? null : V(refLogp, op, "refLogp"), V(dlogits, op, "dlogits"), V(stats, op, "stats"), rows, vocab, p);
    }

    public override void Dispose()
    {
        if (Disposed) return;
        Disposed = true;
        Accelerator.Synchronize();
        Floats.Dispose();
        ints.Dispose();
        captureStream?.Dispose();
        Accelerator.Dispose();
        context.Dispose();
    }
}
