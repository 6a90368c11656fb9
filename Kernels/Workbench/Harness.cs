using System.Diagnostics;

namespace Engine.Kernels.Workbench;

/// <summary>A version checked against the CPU reference: the worst relative error over its outputs, and whether two
/// runs agree bit for bit.</summary>
public sealed record CheckResult(OpCase Case, int Version, double MaxRelErr, bool Deterministic);

/// <summary>
/// The one harness behind the kernel tests and `Bench kernels`: run a case on the CPU reference and on
/// a GPU backend with a chosen version, compare (max |gpu − cpu| / max(1, |cpu|) over every output),
/// run it again for determinism, and time it (median of repeats, device synchronised).
/// </summary>
public static class Harness
{
    /// <summary>Uploads the inputs, runs the case once and returns its outputs; the buffers stay for timing.</summary>
    public static float[][] Execute(IBackend be, OpCase c, out DeviceBuffer[] buffers)
    {
        buffers = c.Inputs.Select(x =>
        {
            var b = be.Allocate(x.Length);
            b.CopyFrom(x);
            return b;
        }).ToArray();
        c.Run(be, buffers);
        var outputs = buffers;
        return c.Outputs.Select(i => outputs[i].ToArray()).ToArray();
    }

    public static float[][] Execute(IBackend be, OpCase c)
    {
        var result = Execute(be, c, out var buffers);
        foreach (var b in buffers) b.Dispose();
        return result;
    }

    public static double MaxRelErr(float[][] expected, float[][] actual)
    {
        double worst = 0;
        for (int o = 0; o < expected.Length; o++)
        {
            if (actual[o].Length != expected[o].Length) return double.PositiveInfinity;
            for (int i = 0; i < expected[o].Length; i++)
            {
                double e = expected[o][i], a = actual[o][i];
                double rel = Math.Abs(a - e) / Math.Max(1.0, Math.Abs(e));
                if (double.IsNaN(rel)) return double.PositiveInfinity;
                worst = Math.Max(worst, rel);
            }
        }
        return worst;
    }

    /// <summary>The CPU reference's outputs for a case (refused when all zero: a check against them would prove nothing).</summary>
    public static float[][] Reference(CpuBackend cpu, OpCase c)
    {
        float[][] expected = Execute(cpu, c);
        if (expected.All(o => o.All(v => v == 0f)))
            throw new InvalidOperationException($"{c.Op} {c.Shape}: the reference result is all zeros, so the check would prove nothing");
        return expected;
    }

    /// <summary>Runs <paramref name="c"/> with GPU version <paramref name="version"/> of its op against the CPU reference.</summary>
    public static CheckResult Check(OpCase c, int version, CpuBackend cpu, GpuBackend gpu, float[][]? expected = null)
    {
        var op = KernelRegistry.Find(c.Op);
        expected ??= Reference(cpu, c);
        gpu.Versions.Pin(op, version);
        try
        {
            float[][] first = Execute(gpu, c), second = Execute(gpu, c);
            bool same = first.Zip(second).All(p => p.First.AsSpan().SequenceEqual(p.Second));
            return new CheckResult(c, version, MaxRelErr(expected, first), same);
        }
        finally { gpu.Versions.Pin(op, 0); }
    }

    /// <summary>Median milliseconds of <paramref name="repeats"/> runs after two warm-ups, the device synchronised around each.</summary>
    public static double MedianMs(IBackend be, OpCase c, int repeats)
    {
        Execute(be, c, out var buffers);
        try
        {
            var times = new List<double>();
            for (int r = 0; r < repeats + 2; r++)
            {
                be.Synchronize();
                long start = Stopwatch.GetTimestamp();
                c.Run(be, buffers);
                be.Synchronize();
                if (r >= 2) times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            times.Sort();
            return times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        }
        finally { foreach (var b in buffers) b.Dispose(); }
    }
}
