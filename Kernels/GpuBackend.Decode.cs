using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Attention;
using Engine.Kernels.Embedding;
using Engine.Kernels.Gpu;
using Engine.Kernels.Rope;
using Engine.Kernels.Sampling;

namespace Engine.Kernels;

/// <summary>The device-resident decode loop's ops (<see cref="IDeviceDecode"/>): the decode step's index-taking ops
/// reading their indices from device memory, the loop's bookkeeping, and CUDA graph capture.</summary>
public sealed partial class GpuBackend : IDeviceDecode
{
    public int DecodeChunk { get; set; } = 16;
    public bool CudaGraphs { get; set; } = true;
    CudaStream? captureStream;

    public DeviceInts AllocateInts(int length) => new GpuInts(this, ints, length);

    ArrayView<int> I(DeviceInts x, string op, string name, int length)
    {
        if (x is not GpuInts g) throw new OpArgumentException(op, name, "ints of this gpu backend", x.GetType().Name);
        if (g.Length != length) throw new ShapeException(op, name, $"{length} ints", $"{g.Length} ints");
        return g.View;
    }

    static void Size(string op, string name, DeviceBuffer x, long expected)
    {
        if (x.Length != expected) throw new ShapeException(op, name, $"{expected} elements", $"{x.Length} elements");
    }

    public void Embedding(DeviceInts ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols)
    {
        const string op = "embedding_at";
        Size(op, "table", table, (long)vocab * cols);
        Size(op, "out", output, (long)ids.Length * cols);
        EmbeddingGpu.Forward(Launch, I(ids, op, "ids", ids.Length), ids.Length, V(table, op, "table"),
            V(output, op, "out"), cols);
    }

    public void Rope(DeviceBuffer x, DeviceBuffer output, DeviceInts positions, int heads, int headDim, float theta)
    {
        const string op = "rope_at";
        Size(op, "x", x, (long)positions.Length * heads * headDim);
        Size(op, "out", output, x.Length);
        RopeGpu.Run(Launch, V(x, op, "x"), V(output, op, "out"), I(positions, op, "positions", positions.Length),
            positions.Length, heads, headDim, theta, backward: false);
    }

    public void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, DeviceInts positions, int maxSteps, int cols)
    {
        const string op = "kv_cache_write_at";
        int rows = positions.Length;
        Size(op, "x", x, (long)rows * cols);
        Size(op, "cache", cache, (long)rows * maxSteps * cols);
        AttentionGpu.CacheWrite(Launch, V(x, op, "x"), V(cache, op, "cache"), I(positions, op, "positions", rows),
            rows, 1, maxSteps, cols);
    }

    public void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output,
        DeviceInts positions, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        const string op = "attention_cached_at";
        int rows = positions.Length;
        HeadDim(op, headDim);
        if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0)
            throw new ShapeException(op, "heads", "positive query heads, a multiple of the kv heads", $"{qHeads}/{kvHeads}");
        Size(op, "q", q, (long)rows * qHeads * headDim);
        Size(op, "out", output, q.Length);
        Size(op, "kCache", kCache, (long)rows * maxSteps * kvHeads * headDim);
        Size(op, "vCache", vCache, kCache.Length);
        AttentionOps.CachedGpu[Versions.Of(AttentionOps.Cached) - 1].Run(Launch, V(q, op, "q"), V(kCache, op, "kCache"),
            V(vCache, op, "vCache"), V(output, op, "out"), I(positions, op, "positions", rows), rows, 1, maxSteps,
            qHeads, kvHeads, headDim);
    }

    public void DecodeAssign(DeviceInts state, DeviceBuffer uniforms, DecodeShape shape)
    {
        const string op = "decode_assign";
        Size(op, "uniforms", uniforms, shape.Rows);
        DecodeLoopGpu.Assign(Launch, I(state, op, "state", shape.Length), V(uniforms, op, "uniforms"), shape);
    }

    public void DecodeRecord(DeviceBuffer tokens, DeviceBuffer logprobs, DeviceInts state, DeviceInts output,
        DecodeShape shape)
    {
        const string op = "decode_record";
        Size(op, "tokens", tokens, shape.Rows);
        Size(op, "logprobs", logprobs, shape.Rows);
        if (output.Length % Math.Max(1, 2 * shape.Rows) != 0)
            throw new ShapeException(op, "output", $"a multiple of {2 * shape.Rows} ints", $"{output.Length} ints");
        DecodeLoopGpu.Record(Launch, V(tokens, op, "tokens"), V(logprobs, op, "logprobs"),
            I(state, op, "state", shape.Length), I(output, op, "output", output.Length), shape);
    }

    public IStepGraph? Capture(Action step, out string? why)
    {
        why = null;
        if (!CudaGraphs || Accelerator is not CudaAccelerator) return null;
        captureStream ??= (CudaStream)Accelerator.CreateStream();
        return CudaGraph.Capture(this, captureStream, step, out why);
    }
}
