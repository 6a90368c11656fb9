using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>
/// A caching allocator, like PyTorch's: device buffers are rounded up to a size class and, when the
/// tensor that held one is collected, return to a free list instead of the driver, so a training
/// step's hundreds of temporaries reuse memory rather than call cudaMalloc/cudaFree each time.
/// When the device runs out, it forces a garbage collection (finalizers hand buffers back) and retries.
/// A CUDA graph freezes the addresses its kernels use, so the buffers rented while one is captured are held for
/// it (<see cref="BeginHold"/>): given back while the graph lives, they wait, instead of going to another tensor that
/// a replay would then overwrite.
/// </summary>
public sealed class MemoryPool<T>(Accelerator accelerator) : IDisposable where T : unmanaged
{
    readonly ConcurrentDictionary<long, ConcurrentBag<MemoryBuffer1D<T, Stride1D.Dense>>> free = new();
    readonly List<MemoryBuffer1D<T, Stride1D.Dense>> all = [];
    public long AllocatedBytes { get; private set; }

    /// <summary>Size classes: powers of two up to 1 MiB elements, then multiples of 1 MiB elements.</summary>
    public static long SizeClass(long length)
    {
        if (length <= 256) return 256;
        if (length <= 1 << 20) return 1L << (int)Math.Ceiling(Math.Log2(length));
        return (length + (1 << 20) - 1) >> 20 << 20;
    }

    public MemoryBuffer1D<T, Stride1D.Dense> Rent(long length)
    {
        var buffer = Take(SizeClass(length));
        lock (holdGate) capturing?.Add(buffer);
        return buffer;
    }

    MemoryBuffer1D<T, Stride1D.Dense> Take(long size)
    {
        if (free.TryGetValue(size, out var bag) && bag.TryTake(out var buffer)) return buffer;
        try { return New(size); }
        catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (free.TryGetValue(size, out bag) && bag.TryTake(out buffer)) return buffer;
            return New(size);
        }
    }

    readonly object holdGate = new();
    HashSet<MemoryBuffer1D<T, Stride1D.Dense>>? capturing;
    readonly HashSet<MemoryBuffer1D<T, Stride1D.Dense>> held = new(ReferenceEqualityComparer.Instance),
        waiting = new(ReferenceEqualityComparer.Instance);

    /// <summary>From now until <see cref="EndHold"/>, every buffer rented is held (see the class summary).</summary>
    public void BeginHold()
    {
        lock (holdGate) capturing = new(ReferenceEqualityComparer.Instance);
    }

    /// <summary>The buffers rented since <see cref="BeginHold"/>, held until <see cref="Release"/>.</summary>
    public IReadOnlyCollection<MemoryBuffer1D<T, Stride1D.Dense>> EndHold()
    {
        lock (holdGate)
        {
            var rented = capturing ?? [];
            capturing = null;
            held.UnionWith(rented);
            return rented;
        }
    }

    /// <summary>The graph that held these is gone: those already given back go to the free lists now.</summary>
    public void Release(IEnumerable<MemoryBuffer1D<T, Stride1D.Dense>> buffers)
    {
        lock (holdGate)
            foreach (var b in buffers)
                if (held.Remove(b) && waiting.Remove(b)) ReturnNow(b);
    }

    MemoryBuffer1D<T, Stride1D.Dense> New(long size)
    {
        var buffer = accelerator.Allocate1D<T>(size);
        lock (all)
        {
            all.Add(buffer);
            AllocatedBytes += size * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        }
        return buffer;
    }

    public void Return(MemoryBuffer1D<T, Stride1D.Dense> buffer)
    {
        lock (holdGate)
            if (held.Contains(buffer) || capturing?.Contains(buffer) == true)
            {
                waiting.Add(buffer);
                return;
            }
        ReturnNow(buffer);
    }

    void ReturnNow(MemoryBuffer1D<T, Stride1D.Dense> buffer) => free.GetOrAdd(buffer.Length, _ => []).Add(buffer);

    public void Dispose()
    {
        lock (all)
        {
            foreach (var b in all) b.Dispose();
            all.Clear();
        }
    }
}
