using System.Diagnostics;
using System.Runtime.InteropServices;
using Engine.Kernels;
using Engine.Kernels.Gpu;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Distributed;

/// <summary>
/// Gradient all-reduce on CUDA device buffers through NCCL (libnccl.so.2, e.g. from PyTorch's nvidia-nccl wheel),
/// as llm.c does: rank 0's ncclUniqueId goes to the others over MPI, then ncclCommInitRank. NCCL's init makes the
/// device's primary context current, and ILGPU's launches fail until ILGPU's own context is current again, so it is
/// restored with cuCtxSetCurrent. A Transformer's gradients lie end to end in one allocation per group (decayed,
/// not decayed), so each group is one ncclAllReduce (inside one ncclGroupStart/End) with no copy. The stream is
/// polled with a deadline, as MPI's collectives are; past it the communicator is aborted and the run fails.
/// Not yet run on a GPU (see README, Data-parallel training).
/// </summary>
public sealed unsafe class NcclReducer
{
    const int NcclFloat32 = 7, NcclSum = 0, CudaSuccess = 0, CudaNotReady = 600;

    [StructLayout(LayoutKind.Sequential, Size = 128)]
    struct UniqueId { public fixed byte Bytes[128]; }

    readonly Communicator mpi;
    readonly GpuBackend backend;
    readonly nint comm, stream;
    readonly delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> allReduce;
    readonly delegate* unmanaged<int> groupStart, groupEnd;
    readonly delegate* unmanaged<nint, int> commAbort;
    readonly delegate* unmanaged<int, nint> errorString;
    readonly delegate* unmanaged<nint, int> streamQuery;

    /// <summary>A reducer for a CUDA backend when libnccl.so.2 loads; null otherwise (the host path is used).</summary>
    public static NcclReducer? For(Communicator comm, IBackend backend)
    {
        if (backend is not GpuBackend { Accelerator: CudaAccelerator } gpu) return null;
        if (!NativeLibrary.TryLoad("libnccl.so.2", out var nccl))
        {
            if (comm.Rank == 0)
                Console.Error.WriteLine("engine: note: libnccl.so.2 not found: gradients go through host memory " +
                    "and MPI");
            return null;
        }
        return new NcclReducer(comm, gpu, nccl, NativeLibrary.Load("libcuda.so.1"));
    }

    NcclReducer(Communicator mpi, GpuBackend backend, nint nccl, nint cuda)
    {
        this.mpi = mpi;
        this.backend = backend;
        nint F(nint lib, string name) => NativeLibrary.GetExport(lib, name);
        var getUniqueId = (delegate* unmanaged<UniqueId*, int>)F(nccl, "ncclGetUniqueId");
        var initRank = (delegate* unmanaged<nint*, int, UniqueId, int, int>)F(nccl, "ncclCommInitRank");
        allReduce = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)F(nccl, "ncclAllReduce");
        groupStart = (delegate* unmanaged<int>)F(nccl, "ncclGroupStart");
        groupEnd = (delegate* unmanaged<int>)F(nccl, "ncclGroupEnd");
        commAbort = (delegate* unmanaged<nint, int>)F(nccl, "ncclCommAbort");
        errorString = (delegate* unmanaged<int, nint>)F(nccl, "ncclGetErrorString");
        var setCurrent = (delegate* unmanaged<nint, int>)F(cuda, "cuCtxSetCurrent");
        streamQuery = (delegate* unmanaged<nint, int>)F(cuda, "cuStreamQuery");

        UniqueId id;
        if (mpi.Rank == 0) Check(getUniqueId(&id), "ncclGetUniqueId");
        mpi.Broadcast(new Span<byte>(&id, sizeof(UniqueId)), "the NCCL unique id broadcast");
        nint c;
        Check(initRank(&c, mpi.Size, id, mpi.Rank), "ncclCommInitRank");
        comm = c;
        int restored = setCurrent(backend.Accelerator.NativePtr);
        if (restored != CudaSuccess)
            throw new IOException($"cuCtxSetCurrent after ncclCommInitRank failed ({restored})");
        stream = ((CudaStream)backend.Accelerator.DefaultStream).StreamPtr;
        Console.WriteLine($"distributed: NCCL communicator over {mpi.Size} ranks");
    }

    /// <summary>Sums the buffers over the ranks in place: one ncclAllReduce per run of buffers that lie end to
    /// end.</summary>
    public void AllReduceSum(IReadOnlyList<DeviceBuffer> buffers, string what)
    {
        var runs = Runs(buffers);
        Check(groupStart(), "ncclGroupStart");
        foreach (var run in runs)
        {
            nint p = ((GpuBuffer)run).View.LoadEffectiveAddressAsPtr();      // host side: the device address
            Check(allReduce(p, p, (nuint)run.Length, NcclFloat32, NcclSum, comm, stream), "ncclAllReduce");
        }
        Check(groupEnd(), "ncclGroupEnd");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            int state = streamQuery(stream);
            if (state == CudaSuccess) return;
            if (state != CudaNotReady)
                throw new IOException($"rank {mpi.Rank}: {what}: the CUDA stream failed ({state})");
            if (clock.Elapsed > mpi.Timeout)
            {
                commAbort(comm);
                throw new TimeoutException($"rank {mpi.Rank} of {mpi.Size}: {what} (NCCL) did not complete within " +
                    $"{mpi.Timeout.TotalSeconds:0} s: another rank has died or hangs " +
                    "(ENGINE_DIST_TIMEOUT sets the limit)");
            }
            Thread.Sleep(0);
        }
    }

    /// <summary>The buffers grouped into maximal runs that the backend can view as one (no copy).</summary>
    List<DeviceBuffer> Runs(IReadOnlyList<DeviceBuffer> buffers)
    {
        var runs = new List<DeviceBuffer>();
        int start = 0;
        while (start < buffers.Count)
        {
            int end = start + 1;
            DeviceBuffer joined = buffers[start];
            while (end < buffers.Count && backend.Join(buffers.Skip(start).Take(end - start + 1).ToList()) is { } j)
            {
                joined = j;
                end++;
            }
            runs.Add(joined);
            start = end;
        }
        return runs;
    }

    void Check(int result, string call)
    {
        if (result != 0)
            throw new IOException($"rank {mpi.Rank}: {call} failed: {Marshal.PtrToStringAnsi(errorString(result))}");
    }
}
