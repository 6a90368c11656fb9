using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>
/// What a per-op kernel file gets to launch with (not the whole backend): kernel loading and caching,
/// uploads of integer inputs, pooled scratch memory and the device's sizes. Elementwise kernels are
/// grid-stride loops over a capped number of threads (on ILGPU's CPU accelerator few threads with long
/// loops run at about plain-C# speed; on a GPU the cap is enough threads to fill every multiprocessor).
/// </summary>
public sealed class LaunchContext(Accelerator accelerator, MemoryPool<float> floats, MemoryPool<int> ints, Transfers transfers)
{
    /// <summary>Integer batch data (ids, targets, positions) copied to the device; back to the pool on dispose.
    /// Refused while a CUDA graph is captured (<see cref="Stream"/> is not the default stream): the copy runs on
    /// the default stream, outside the graph, so every replay would read the values of the capture.</summary>
    public IntBuffer Upload(int[] values)
    {
        if (Stream != accelerator.DefaultStream)
            throw new InvalidOperationException("a host upload inside a captured step (its values would be frozen " +
                                                "into every replay)");
        var buffer = new IntBuffer(ints, ints.Rent(Math.Max(1, values.Length)), values.Length);
        if (values.Length > 0)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            buffer.View.SubView(0, values.Length).CopyFromCPU(values);
            transfers.Up(4L * values.Length, start);
        }
        return buffer;
    }

    /// <summary>Zeroed temporary integer device memory (counts, offsets, indices); back to the pool on dispose.</summary>
    public IntBuffer IntScratch(int length)
    {
        var buffer = new IntBuffer(ints, ints.Rent(Math.Max(1, length)), length);
        buffer.View.MemSetToZero(Stream);
        return buffer;
    }

    /// <summary>Zeroed temporary device memory for one launch (partials, per-row figures); back to the pool on dispose.</summary>
    public Scratch Scratch(int length)
    {
        var scratch = new Scratch(floats, floats.Rent(Math.Max(1, length)), length, transfers);
        scratch.View.MemSetToZero(Stream);
        return scratch;
    }

    readonly Dictionary<string, MemoryBuffer1D<float, Stride1D.Dense>> constants = [];

    /// <summary>A small table that depends only on its key (RoPE's frequencies for a θ and head size), uploaded the
    /// first time it is asked for and kept on the device: not one copy per call.</summary>
    public ArrayView<float> Constant(string key, Func<float[]> make)
    {
        lock (constants)
        {
            if (!constants.TryGetValue(key, out var buffer))
            {
                float[] values = make();
                buffer = accelerator.Allocate1D<float>(Math.Max(1, values.Length));
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                if (values.Length > 0) buffer.View.SubView(0, values.Length).CopyFromCPU(values);
                transfers.Up(4L * values.Length, start);
                constants[key] = buffer;
            }
            return buffer.View;
        }
    }

    public Accelerator Accelerator => accelerator;
    public bool IsCpu => accelerator.AcceleratorType == AcceleratorType.CPU;
    public int WarpSize => accelerator.WarpSize;
    public int MaxGroup => accelerator.MaxNumThreadsPerGroup;

    /// <summary>Threads for a grid-stride loop over n elements.</summary>
    public int Threads(long n)
    {
        long cap = IsCpu ? 4L * accelerator.WarpSize * Environment.ProcessorCount : (long)accelerator.MaxNumThreads * 2;
        return (int)Math.Max(1, Math.Min(n, cap));
    }

    /// <summary>Kernels compile once per accelerator, on first use, and stay cached by method.</summary>
    readonly Dictionary<Delegate, Delegate> cache = [];

    readonly List<(System.Reflection.MethodInfo Method, bool Grouped)> loadedKernels = [];

    /// <summary>Every kernel loaded so far, and whether it is explicitly grouped (for <see cref="PtxDump"/>).</summary>
    public IReadOnlyList<(System.Reflection.MethodInfo Method, bool Grouped)> Loaded
    {
        get { lock (cache) return loadedKernels.ToList(); }
    }

    TDelegate Cached<TDelegate>(Delegate kernel, Func<TDelegate> load) where TDelegate : Delegate
    {
        lock (cache)
        {
            if (!cache.TryGetValue(kernel, out var loaded))
            {
                cache[kernel] = loaded = load();
                // Auto loaders take an index as the first parameter; explicitly grouped kernels do not.
                loadedKernels.Add((kernel.Method, !typeof(TDelegate).GenericTypeArguments[0].Name.StartsWith("Index")));
            }
            return (TDelegate)loaded;
        }
    }

    /// <summary>Per-kernel optimisation levels (ENGINE_ILGPU_OPT_KERNEL, CUDA only; <see cref="KernelLevels"/>).</summary>
    readonly IReadOnlyDictionary<System.Reflection.MethodInfo, OptimizationLevel> levels = KernelLevels.FromEnvironment();

    /// <summary>An explicitly grouped kernel at its listed level where one is listed, else as ILGPU loads it.</summary>
    TLauncher Load<TLauncher>(Delegate kernel, Func<TLauncher> load) where TLauncher : Delegate =>
        KernelLevels.Load<TLauncher>(accelerator, kernel.Method, levels) ?? load();

    /// <summary>
    /// The stream every kernel, scratch memset and device copy of this context goes to: the accelerator's default
    /// stream, except while a CUDA graph is being captured (capture needs a stream of its own; the default one is
    /// the legacy NULL stream, which refuses it). Loaders take it at each launch, not when they load.
    /// </summary>
    public AcceleratorStream Stream { get; set; } = accelerator.DefaultStream;

    // Typed loaders: Auto = implicitly grouped (index space only), Grouped = explicit grid and group. Each wraps the
    // stream-taking ILGPU launcher so that every launch goes to Stream.
    public Action<Index1D, T1> Auto<T1>(
        Action<Index1D, T1> kernel)
        where T1 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1>)(
                (i, a1) => l(Stream, i, a1));
        });

    public Action<KernelConfig, T1> Grouped<T1>(
        Action<T1> kernel)
        where T1 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1>)(
                (c, a1) => l(Stream, c, a1));
        });

    public Action<Index1D, T1, T2> Auto<T1, T2>(
        Action<Index1D, T1, T2> kernel)
        where T1 : struct where T2 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2>)(
                (i, a1, a2) => l(Stream, i, a1, a2));
        });

    public Action<KernelConfig, T1, T2> Grouped<T1, T2>(
        Action<T1, T2> kernel)
        where T1 : struct where T2 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2>)(
                (c, a1, a2) => l(Stream, c, a1, a2));
        });

    public Action<Index1D, T1, T2, T3> Auto<T1, T2, T3>(
        Action<Index1D, T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3>)(
                (i, a1, a2, a3) => l(Stream, i, a1, a2, a3));
        });

    public Action<KernelConfig, T1, T2, T3> Grouped<T1, T2, T3>(
        Action<T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3>)(
                (c, a1, a2, a3) => l(Stream, c, a1, a2, a3));
        });

    public Action<Index1D, T1, T2, T3, T4> Auto<T1, T2, T3, T4>(
        Action<Index1D, T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4>)(
                (i, a1, a2, a3, a4) => l(Stream, i, a1, a2, a3, a4));
        });

    public Action<KernelConfig, T1, T2, T3, T4> Grouped<T1, T2, T3, T4>(
        Action<T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4>)(
                (c, a1, a2, a3, a4) => l(Stream, c, a1, a2, a3, a4));
        });

    public Action<Index1D, T1, T2, T3, T4, T5> Auto<T1, T2, T3, T4, T5>(
        Action<Index1D, T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5>)(
                (i, a1, a2, a3, a4, a5) => l(Stream, i, a1, a2, a3, a4, a5));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5> Grouped<T1, T2, T3, T4, T5>(
        Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5>)(
                (c, a1, a2, a3, a4, a5) => l(Stream, c, a1, a2, a3, a4, a5));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6> Auto<T1, T2, T3, T4, T5, T6>(
        Action<Index1D, T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6>)(
                (i, a1, a2, a3, a4, a5, a6) => l(Stream, i, a1, a2, a3, a4, a5, a6));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6> Grouped<T1, T2, T3, T4, T5, T6>(
        Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6>)(
                (c, a1, a2, a3, a4, a5, a6) => l(Stream, c, a1, a2, a3, a4, a5, a6));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7> Auto<T1, T2, T3, T4, T5, T6, T7>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6, T7>)(
                (i, a1, a2, a3, a4, a5, a6, a7) => l(Stream, i, a1, a2, a3, a4, a5, a6, a7));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7> Grouped<T1, T2, T3, T4, T5, T6, T7>(
        Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7>)(
                (c, a1, a2, a3, a4, a5, a6, a7) => l(Stream, c, a1, a2, a3, a4, a5, a6, a7));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> Auto<T1, T2, T3, T4, T5, T6, T7, T8>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8>)(
                (i, a1, a2, a3, a4, a5, a6, a7, a8) => l(Stream, i, a1, a2, a3, a4, a5, a6, a7, a8));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> Grouped<T1, T2, T3, T4, T5, T6, T7, T8>(
        Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>)(
                (c, a1, a2, a3, a4, a5, a6, a7, a8) => l(Stream, c, a1, a2, a3, a4, a5, a6, a7, a8));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> Auto<T1, T2, T3, T4, T5, T6, T7, T8, T9>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>)(
                (i, a1, a2, a3, a4, a5, a6, a7, a8, a9) => l(Stream, i, a1, a2, a3, a4, a5, a6, a7, a8, a9));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9> Grouped<T1, T2, T3, T4, T5, T6, T7, T8, T9>(
        Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9>)(
                (c, a1, a2, a3, a4, a5, a6, a7, a8, a9) => l(Stream, c, a1, a2, a3, a4, a5, a6, a7, a8, a9));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Auto<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>)(
                (i, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) => l(Stream, i, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Grouped<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(
        Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>)(
                (c, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) => l(Stream, c, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10));
        });

    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> Auto<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(
        Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        Cached(kernel, () =>
        {
            var l = accelerator.LoadAutoGroupedKernel(kernel);
            return (Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>)(
                (i, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => l(Stream, i, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11));
        });

    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> Grouped<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(
        Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct
        where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        Cached(kernel, () =>
        {
            var l = Load(kernel, () => accelerator.LoadKernel(kernel));
            return (Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>)(
                (c, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => l(Stream, c, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11));
        });
}
