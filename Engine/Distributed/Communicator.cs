using System.Diagnostics;

namespace Engine.Distributed;

/// <summary>
/// The collectives a data-parallel run needs, over MPI_COMM_WORLD on host memory. Each one is MPI's
/// non-blocking form polled with MPI_Test against a deadline: a blocking MPI call would wait forever for a rank
/// that hangs or whose host dropped off the network, and MPI offers no timeout of its own. Past the deadline the
/// call throws, and the caller's error line ends the job (<see cref="Dist.Finish"/> aborts the others).
/// </summary>
public sealed unsafe class Communicator
{
    readonly MpiNative mpi;

    public int Rank { get; }
    public int Size { get; }
    /// <summary>How long one collective may wait for the other ranks before the run gives up.</summary>
    public TimeSpan Timeout { get; }

    internal Communicator(MpiNative mpi, int rank, int size, TimeSpan timeout)
    {
        this.mpi = mpi;
        Rank = rank;
        Size = size;
        Timeout = timeout;
    }

    /// <summary>Element-wise sum over the ranks, in place; every rank gets the same result.</summary>
    public void AllReduceSum(Span<float> data, string what) => AllReduce(data, MpiNative.Float, MpiNative.Sum, what);

    /// <summary>Element-wise sum of doubles over the ranks, in place.</summary>
    public void AllReduceSum(Span<double> data, string what) => AllReduce(data, MpiNative.Double, MpiNative.Sum, what);

    /// <summary>Element-wise maximum of ints over the ranks, in place (e.g. "did any rank ask to stop").</summary>
    public void AllReduceMax(Span<int> data, string what) => AllReduce(data, MpiNative.Int, MpiNative.Max, what);

    /// <summary>Rank 0's floats into every rank's buffer.</summary>
    public void Broadcast(Span<float> data, string what) => Broadcast(data, MpiNative.Float, what);

    /// <summary>Rank 0's bytes into every rank's buffer (NCCL's unique id).</summary>
    public void Broadcast(Span<byte> data, string what) => Broadcast(data, MpiNative.Byte, what);

    /// <summary>An in-place all-reduce of MPI type <paramref name="type"/> with operation <paramref name="op"/>.</summary>
    void AllReduce<T>(Span<T> data, int type, int op, string what) where T : unmanaged
    {
        if (data.Length == 0) return;
        int n = data.Length;
        fixed (T* p = data)
        {
            nint buffer = (nint)p;
            Wait(what, req => mpi.Iallreduce(MpiNative.InPlace, buffer, n, type, op, MpiNative.CommWorld, req));
        }
    }

    void Broadcast<T>(Span<T> data, int type, string what) where T : unmanaged
    {
        if (data.Length == 0) return;
        int n = data.Length;
        fixed (T* p = data)
        {
            nint buffer = (nint)p;
            Wait(what, req => mpi.Ibcast(buffer, n, type, 0, MpiNative.CommWorld, req));
        }
    }

    /// <summary>Every rank's ints of the same count, concatenated in rank order.</summary>
    public int[] AllGather(ReadOnlySpan<int> mine, string what)
    {
        var all = new int[mine.Length * Size];
        if (all.Length == 0) return all;
        fixed (int* s = mine)
        fixed (int* r = all)
        {
            int n = mine.Length;
            nint send = (nint)s, recv = (nint)r;
            Wait(what, req => mpi.Iallgather(send, n, MpiNative.Int, recv, n, MpiNative.Int, MpiNative.CommWorld, req));
        }
        return all;
    }

    /// <summary>Every rank's bytes (any length), in rank order.</summary>
    public byte[][] AllGather(byte[] mine, string what)
    {
        int[] lengths = AllGather([mine.Length], what);
        var displacements = new int[Size];
        for (int r = 1; r < Size; r++) displacements[r] = checked(displacements[r - 1] + lengths[r - 1]);
        var all = new byte[checked(displacements[^1] + lengths[^1])];
        fixed (byte* s = mine)
        fixed (byte* r = all)
        fixed (int* counts = lengths)
        fixed (int* displs = displacements)
        {
            int n = mine.Length;
            // MPI reads no byte of a rank that sends none, but a pinned empty array is a null pointer: pass a dummy.
            byte dummy = 0;
            nint send = n == 0 ? (nint)(&dummy) : (nint)s, recv = all.Length == 0 ? (nint)(&dummy) : (nint)r;
            nint countsAt = (nint)counts, displsAt = (nint)displs;
            Wait(what, req => mpi.Iallgatherv(send, n, MpiNative.Byte, recv, (int*)countsAt, (int*)displsAt,
                MpiNative.Byte, MpiNative.CommWorld, req));
        }
        return Enumerable.Range(0, Size).Select(k => all.AsSpan(displacements[k], lengths[k]).ToArray()).ToArray();
    }

    delegate int Start(int* request);

    /// <summary>Starts a non-blocking collective and polls it to completion or to the deadline.</summary>
    void Wait(string what, Start start)
    {
        int request;
        Check(start(&request), what);
        var clock = Stopwatch.StartNew();
        for (long polls = 0; ; polls++)
        {
            int done = 0;
            Check(mpi.Test(&request, &done, MpiNative.StatusIgnore), what);
            if (done != 0) return;
            if (clock.Elapsed > Timeout)
                throw new TimeoutException($"rank {Rank} of {Size}: {what} did not complete within " +
                    $"{Timeout.TotalSeconds:0} s: another rank has died or hangs (ENGINE_DIST_TIMEOUT sets the limit)");
            // Spin briefly (a collective among live ranks completes in microseconds), then stop burning a core
            // that the other ranks on this machine need.
            if (polls > 2000) Thread.Sleep(1);
            else Thread.SpinWait(50);
        }
    }

    void Check(int code, string what)
    {
        if (code != MpiNative.Success)
            throw new IOException($"rank {Rank} of {Size}: {what} failed in MPI: {mpi.Describe(code).Trim()}");
    }

    internal void Abort(int code) => mpi.Abort(MpiNative.CommWorld, code);
    internal void Close() => mpi.Finalize();
}
