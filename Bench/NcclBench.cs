using System.Diagnostics;
using Engine.Distributed;
using Engine.Kernels;

namespace Bench;

/// <summary>
/// The GPU check data-parallel training owes: `mpirun -np N dotnet Bench.dll nccl` all-reduces device buffers laid
/// out as a Transformer's gradients (two contiguous groups) through the engine's NcclReducer, checks the sums, then
/// launches an ILGPU kernel on the same buffers (ILGPU's context must be current again after ncclCommInitRank), and
/// times the all-reduce (median of repeats, bus bandwidth as nccl-tests reports it). One rank per GPU.
/// </summary>
static class NcclBench
{
    public static int Run(int size, int repeats)
    {
        try { return Check(size, repeats); }
        catch (Exception e) when (e is NotSupportedException or IOException or TimeoutException)
        {
            Console.Error.WriteLine($"nccl: {e.Message}");
            Dist.Finish(1, agreed: false);
            return 1;
        }
    }

    static int Check(int size, int repeats)
    {
        Dist.Start();
        if (Dist.World is not { } world)
        {
            Console.Error.WriteLine("nccl: start it with mpirun (mpirun -np 1 dotnet Bench.dll nccl)");
            return 2;
        }
        using var backend = new GpuBackend("cuda");
        var nccl = NcclReducer.For(world, backend);
        if (nccl is null)
        {
            Console.Error.WriteLine("nccl: libnccl.so.2 did not load (put NCCL's lib/ on LD_LIBRARY_PATH)");
            Dist.Finish(1, agreed: false);
            return 1;
        }
        // Two groups, as a Transformer's decayed and not-decayed gradients: three buffers end to end, then one.
        int half = size / 2;
        var groups = new[]
        {
            backend.AllocateContiguous([half - 7, 7, half / 2]), backend.AllocateContiguous([size - half - half / 2]),
        };
        var buffers = groups.SelectMany(g => g).ToList();
        float Value(int rank, int buffer, int i) => (rank + 1) * 0.5f + buffer + (i % 97) * 0.25f;
        for (int b = 0; b < buffers.Count; b++)
            buffers[b].CopyFrom(Enumerable.Range(0, buffers[b].Length).Select(i => Value(world.Rank, b, i)).ToArray());
        nccl.AllReduceSum(buffers, "the NCCL check");
        backend.Scale(buffers[0], 2f, buffers[0]);                 // an ILGPU launch after NCCL: the context is ours
        double worst = 0;
        for (int b = 0; b < buffers.Count; b++)
        {
            var got = buffers[b].ToArray();
            for (int i = 0; i < got.Length; i++)
            {
                double want = Enumerable.Range(0, world.Size).Sum(r => (double)Value(r, b, i)) * (b == 0 ? 2 : 1);
                worst = Math.Max(worst, Math.Abs(got[i] - want) / Math.Max(1, Math.Abs(want)));
            }
        }
        var times = new List<double>();
        for (int k = 0; k < repeats + 2; k++)
        {
            backend.Synchronize();
            var clock = Stopwatch.StartNew();
            nccl.AllReduceSum(buffers, "the NCCL timing");
            if (k >= 2) times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double ms = times[times.Count / 2];
        double busGBs = 4.0 * size * 2 * (world.Size - 1) / Math.Max(1, world.Size) / (ms * 1e6);
        if (world.Rank == 0)
            Console.WriteLine($"nccl: {world.Size} ranks, {size:N0} floats in {buffers.Count} buffers " +
                $"({groups.Length} contiguous groups): max relative error {worst:E1}; all-reduce median {ms:F3} ms " +
                $"of {repeats}, bus bandwidth {busGBs:F1} GB/s");
        bool ok = worst <= 1e-6;
        Dist.Finish(ok ? 0 : 1, agreed: true);
        return ok ? 0 : 1;
    }
}
