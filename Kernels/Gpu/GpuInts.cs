using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>Int32 memory of a GPU backend: a pooled allocation it owns, or a slice of another's (no copy).</summary>
public sealed class GpuInts : DeviceInts
{
    readonly GpuBackend backend;
    readonly MemoryPool<int>? pool;
    MemoryBuffer1D<int, Stride1D.Dense>? memory;

    internal GpuInts(GpuBackend backend, MemoryPool<int> pool, int length) : base(length)
    {
        (this.backend, this.pool) = (backend, pool);
        memory = pool.Rent(Math.Max(1, length));
        View = memory.View.SubView(0, Math.Max(1, length));
        View.MemSetToZero(backend.Launch.Stream);
    }

    GpuInts(GpuBackend backend, ArrayView<int> view, int length) : base(length)
    {
        this.backend = backend;
        View = view;
    }

    /// <summary>At least one element long, so that an empty batch still has a view to pass.</summary>
    public ArrayView<int> View { get; }

    public override DeviceInts Slice(int offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"slice {offset}+{length} of {Length} ints");
        return new GpuInts(backend, View.SubView(offset, Math.Max(1, length)), length);
    }

    public override void CopyFrom(ReadOnlySpan<int> source)
    {
        if (source.Length != Length) throw new ShapeException("copy_from", "source", $"{Length} ints", $"{source.Length} ints");
        if (Length == 0) return;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        View.SubView(0, Length).CopyFromCPU(source.ToArray());
        backend.Transfers.Up(4L * Length, start);
    }

    public override void CopyTo(Span<int> destination)
    {
        if (destination.Length != Length)
            throw new ShapeException("copy_to", "destination", $"{Length} ints", $"{destination.Length} ints");
        if (Length == 0) return;
        var host = new int[Length];
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        backend.Accelerator.Synchronize();
        View.SubView(0, Length).CopyToCPU(host);
        backend.Transfers.Down(4L * Length, start);
        host.CopyTo(destination);
    }

    public override void Dispose()
    {
        var m = Interlocked.Exchange(ref memory, null);
        if (m is not null && !backend.Disposed) pool!.Return(m);
        GC.SuppressFinalize(this);
    }

    ~GpuInts()
    {
        var m = Interlocked.Exchange(ref memory, null);
        if (m is not null && !backend.Disposed) pool!.Return(m);
    }
}
