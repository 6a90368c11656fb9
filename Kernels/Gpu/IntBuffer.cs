using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>
/// Integer batch data (ids, targets, positions) on the device, returned to the pool on dispose
/// without waiting for the kernel that reads it: kernels run in order on the default stream, and
/// ILGPU's CopyFromCPU, the only way the next upload writes this memory, synchronises that stream
/// before copying. So no second device-wide synchronisation per call (the upload's own remains;
/// removing it needs pinned staging memory and an asynchronous copy).
/// </summary>
public sealed class IntBuffer(MemoryPool<int> pool, MemoryBuffer1D<int, Stride1D.Dense> memory, int length) : IDisposable
{
    public ArrayView<int> View { get; } = memory.View.SubView(0, Math.Max(1, length));
    public void Dispose() => pool.Return(memory);
}

/// <summary>Temporary float memory for one launch, from the backend's pool (the same stream ordering makes reuse safe).</summary>
public sealed class Scratch(MemoryPool<float> pool, MemoryBuffer1D<float, Stride1D.Dense> memory, int length, Transfers transfers)
    : IDisposable
{
    public ArrayView<float> View { get; } = memory.View.SubView(0, Math.Max(1, length));
    public int Length => length;

    /// <summary>The values on the host (waits for the stream).</summary>
    public float[] ToArray()
    {
        var host = new float[length];
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        if (length > 0) View.SubView(0, length).CopyToCPU(host);
        transfers.Down(4L * length, start);
        return host;
    }

    public void CopyFrom(float[] values)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        View.SubView(0, values.Length).CopyFromCPU(values);
        transfers.Up(4L * values.Length, start);
    }
    public void Dispose() => pool.Return(memory);
}
