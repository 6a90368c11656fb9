namespace Engine.Kernels;

/// <summary>
/// What the device-resident decode loop (Engine/Generation/DeviceDecodeLoop.cs) needs beyond IBackend: the decode
/// step's index-taking ops with their indices already on the device (one row per sequence, T = 1), the loop's two
/// bookkeeping kernels, and an optional capture of one step as a replayable graph. A GPU backend implements it; the
/// CPU backend does not (it samples on the host, unchanged).
/// </summary>
public interface IDeviceDecode
{
    DeviceInts AllocateInts(int length);                  // zero-filled

    /// <summary>out[R, C] = table[ids[r]].</summary>
    void Embedding(DeviceInts ids, DeviceBuffer table, DeviceBuffer output, int vocab, int cols);
    /// <summary>Rope of x [R, H·D] at positions [R].</summary>
    void Rope(DeviceBuffer x, DeviceBuffer output, DeviceInts positions, int heads, int headDim, float theta);
    /// <summary>cache[r, positions[r], :] = x[r, :]; cache [R, Tmax, C].</summary>
    void KvCacheWrite(DeviceBuffer x, DeviceBuffer cache, DeviceInts positions, int maxSteps, int cols);
    /// <summary>q, out [R, Hq·D] against cache entries 0..positions[r].</summary>
    void AttentionCached(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output,
        DeviceInts positions, int maxSteps, int qHeads, int kvHeads, int headDim);

    /// <summary>The step's uniforms from the state's pool, one per drawing row in row order (DecodeState).</summary>
    void DecodeAssign(DeviceInts state, DeviceBuffer uniforms, DecodeShape shape);
    /// <summary>The sampled tokens into the chunk's output and the next step's ids, positions and finish flags.</summary>
    void DecodeRecord(DeviceBuffer tokens, DeviceBuffer logprobs, DeviceInts state, DeviceInts output, DecodeShape shape);

    /// <summary>Steps per host round trip of the decode loop (--decode-chunk); 0 = the step-by-step path.</summary>
    int DecodeChunk { get; set; }
    /// <summary>Replay the decode step from a CUDA graph where the device is CUDA (--cuda-graphs).</summary>
    bool CudaGraphs { get; set; }

    /// <summary>
    /// Records <paramref name="step"/>'s launches as a graph to replay, or null where there is no graph to make: not
    /// CUDA or graphs off (<paramref name="why"/> null), or the capture failed (the reason in <paramref name="why"/>);
    /// the caller then runs the step directly. Buffers the step allocates stay held until the graph is disposed.
    /// </summary>
    IStepGraph? Capture(Action step, out string? why);
}

/// <summary>A captured step: Replay runs it again on the default stream with the same buffers.</summary>
public interface IStepGraph : IDisposable
{
    void Replay();
}

/// <summary>
/// The decode loop's sizes and constants. The int state buffer is laid out as
/// [cursor, slot, ids[R], positions[R], done[R], count[R], pool[Pool]]: cursor is the next unused uniform of the pool
/// (float bits), slot the step within the chunk; positions are where ids are fed next.
/// </summary>
public readonly record struct DecodeShape(int Rows, int Pool, int Eos, int Pad, int MaxNew, int Total, bool Draw)
{
    public const int Cursor = 0, Slot = 1;
    public int Ids => 2;
    public int Positions => 2 + Rows;
    public int Done => 2 + 2 * Rows;
    public int Count => 2 + 3 * Rows;
    public int PoolAt => 2 + 4 * Rows;
    public int Length => 2 + 4 * Rows + Pool;
}
