using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>
/// One decode step captured as a CUDA graph and replayed: a graph launch costs about a third of the host time of
/// launching its kernels one by one (a 12-layer step is a few hundred small kernels). ILGPU 1.5 has no graph API,
/// so this calls the driver (libcuda.so.1) directly. Capture runs on a stream of its own (the default stream is the
/// legacy NULL stream, which cannot be captured) in relaxed mode; <see cref="LaunchContext.Stream"/> sends every
/// launch, memset and device copy there meanwhile. Nothing is executed while capturing: the caller replays.
/// Addresses and scalars are frozen into the graph, so the step must read and write the same buffers each time
/// (its inputs and outputs live in buffers the decode loop owns; its temporaries are held by the pools for the
/// graph's lifetime). Replays go to the default stream, in order with everything else.
/// Not run in this repository's tests (they have no CUDA device): any failure here returns no graph and the caller
/// launches the step directly.
/// </summary>
public sealed class CudaGraph : IStepGraph
{
    const string Driver = "libcuda.so.1";
    const int CaptureModeRelaxed = 2;             // CU_STREAM_CAPTURE_MODE_RELAXED

    [DllImport(Driver)] static extern int cuStreamBeginCapture_v2(IntPtr stream, int mode);
    [DllImport(Driver)] static extern int cuStreamEndCapture(IntPtr stream, out IntPtr graph);
    [DllImport(Driver)] static extern int cuGraphInstantiateWithFlags(out IntPtr exec, IntPtr graph, ulong flags);
    [DllImport(Driver)] static extern int cuGraphLaunch(IntPtr exec, IntPtr stream);
    [DllImport(Driver)] static extern int cuGraphExecDestroy(IntPtr exec);
    [DllImport(Driver)] static extern int cuGraphDestroy(IntPtr graph);

    readonly GpuBackend backend;
    readonly IntPtr replayStream;
    IntPtr graph, exec;
    readonly IReadOnlyCollection<MemoryBuffer1D<float, Stride1D.Dense>> floats;
    readonly IReadOnlyCollection<MemoryBuffer1D<int, Stride1D.Dense>> ints;

    CudaGraph(GpuBackend backend, IntPtr graph, IntPtr exec, IReadOnlyCollection<MemoryBuffer1D<float, Stride1D.Dense>> floats,
        IReadOnlyCollection<MemoryBuffer1D<int, Stride1D.Dense>> ints)
    {
        (this.backend, this.graph, this.exec, this.floats, this.ints) = (backend, graph, exec, floats, ints);
        replayStream = ((CudaStream)backend.Accelerator.DefaultStream).StreamPtr;
    }

    /// <summary>The step as a graph, or null with the reason (the step then runs directly, as without graphs).</summary>
    internal static CudaGraph? Capture(GpuBackend backend, CudaStream stream, Action step, out string? why)
    {
        var launch = backend.Launch;
        // The capture stream is not ordered after the default stream: let earlier work finish first.
        backend.Accelerator.Synchronize();
        backend.Floats.BeginHold();
        backend.Ints.BeginHold();
        IntPtr graph = IntPtr.Zero, exec = IntPtr.Zero;
        why = null;
        bool capturing = false;
        try
        {
            int rc = cuStreamBeginCapture_v2(stream.StreamPtr, CaptureModeRelaxed);
            if (rc != 0) why = $"cuStreamBeginCapture_v2 returned CUresult {rc}";
            else
            {
                capturing = true;
                launch.Stream = stream;
                step();
                launch.Stream = backend.Accelerator.DefaultStream;
                capturing = false;
                rc = cuStreamEndCapture(stream.StreamPtr, out graph);
                if (rc != 0) why = $"cuStreamEndCapture returned CUresult {rc} (a launch in the step could not be captured)";
                else if ((rc = cuGraphInstantiateWithFlags(out exec, graph, 0)) != 0)
                    why = $"cuGraphInstantiateWithFlags returned CUresult {rc}";
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever a launch did that capture refuses (ILGPU raises its own exception types for driver errors):
            // no graph, and the caller runs the step directly.
            why = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            launch.Stream = backend.Accelerator.DefaultStream;
            if (capturing) cuStreamEndCapture(stream.StreamPtr, out _);          // leave the stream usable
        }
        var heldFloats = backend.Floats.EndHold();
        var heldInts = backend.Ints.EndHold();
        if (why is null) return new CudaGraph(backend, graph, exec, heldFloats, heldInts);
        if (exec != IntPtr.Zero) cuGraphExecDestroy(exec);
        if (graph != IntPtr.Zero) cuGraphDestroy(graph);
        backend.Floats.Release(heldFloats);
        backend.Ints.Release(heldInts);
        return null;
    }

    public void Replay()
    {
        if (exec == IntPtr.Zero) throw new ObjectDisposedException(nameof(CudaGraph));
        int rc = cuGraphLaunch(exec, replayStream);
        if (rc != 0) throw new InvalidOperationException($"cuda graph: cuGraphLaunch returned CUresult {rc}");
    }

    public void Dispose()
    {
        if (exec == IntPtr.Zero) return;
        // The held buffers may be rented again as soon as they are released: the last replay must be done.
        if (!backend.Disposed) backend.Accelerator.Synchronize();
        cuGraphExecDestroy(exec);
        cuGraphDestroy(graph);
        exec = graph = IntPtr.Zero;
        if (backend.Disposed) return;
        backend.Floats.Release(floats);
        backend.Ints.Release(ints);
    }
}
