using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>
/// A float buffer on the accelerator: a view of Length elements into a pooled device allocation it owns, or into a
/// shared <see cref="GpuArena"/> (several tensors end to end, see IBackend.AllocateContiguous) that it keeps alive.
/// </summary>
public sealed class GpuBuffer : DeviceBuffer
{
    readonly GpuBackend backend;
    MemoryBuffer1D<float, Stride1D.Dense>? memory;

    /// <summary>The arena this buffer is a slice of, and where in it; null for a buffer with its own memory.</summary>
    internal GpuArena? Arena { get; }
    internal long Offset { get; }

    internal GpuBuffer(GpuBackend backend, GpuArena arena, long offset, int length) : base(length)
    {
        this.backend = backend;
        Arena = arena;
        Offset = offset;
        View = arena.View.SubView(offset, length);
    }

    internal GpuBuffer(GpuBackend backend, int length) : base(length)
    {
        this.backend = backend;
        memory = backend.Floats.Rent(Math.Max(1, length));
        View = memory.View.SubView(0, length);
        View.MemSetToZero(backend.Launch.Stream);
    }

    public ArrayView<float> View { get; }
    public override IBackend Backend => backend;

    public override void CopyFrom(ReadOnlySpan<float> source)
    {
        if (source.Length != Length) throw new ShapeException("copy_from", "source", $"{Length} elements", $"{source.Length} elements");
        if (Length == 0) return;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        View.CopyFromCPU(source.ToArray());
        backend.Transfers.Up(4L * Length, start);
    }

    public override void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ShapeException("copy_to", "destination", $"{Length} elements", $"{destination.Length} elements");
        if (Length == 0) return;
        var host = new float[Length];
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        backend.Accelerator.Synchronize();
        View.CopyToCPU(host);
        backend.Transfers.Down(4L * Length, start);
        host.CopyTo(destination);
    }

    /// <summary>Back to the pool: explicitly, or when the tensor holding it is collected.</summary>
    public override void Dispose()
    {
        var m = Interlocked.Exchange(ref memory, null);
        if (m is not null && !backend.Disposed) backend.Floats.Return(m);
        GC.SuppressFinalize(this);
    }

    ~GpuBuffer()
    {
        var m = Interlocked.Exchange(ref memory, null);
        if (m is not null && !backend.Disposed) backend.Floats.Return(m);
    }
}

/// <summary>One device allocation that several buffers slice (zeroed once); back to the pool when the last of them
/// (and the arena) is collected.</summary>
public sealed class GpuArena
{
    readonly GpuBackend backend;
    MemoryBuffer1D<float, Stride1D.Dense>? memory;

    internal GpuArena(GpuBackend backend, long length)
    {
        this.backend = backend;
        memory = backend.Floats.Rent(Math.Max(1, length));
        View = memory.View.SubView(0, Math.Max(1, length));
        View.MemSetToZero(backend.Launch.Stream);
    }

    public ArrayView<float> View { get; }

    ~GpuArena()
    {
        var m = Interlocked.Exchange(ref memory, null);
        if (m is not null && !backend.Disposed) backend.Floats.Return(m);
    }
}
