using System.Diagnostics;
using Engine.Kernels;
using Engine.Kernels.RL;

namespace Bench;

/// <summary>
/// `Bench rl`: the two RL kernels that matter at scale, on the chosen device — masked GAE over
/// B×T (one pass over r, V, mask; writes A and returns: reported in GB/s) and the fused
/// policy-loss kernel over logits [N, V] (dlogits written in place, as the trainers call it).
/// Median of repeats after a warm-up, device synchronised. tools/torch_bench.py times PyTorch's side.
/// </summary>
static class RlBench
{
    public static int Run(string device, int batch, int steps, int rows, int vocab, int repeats)
    {
        using var be = Engine.Backend.Create(device);
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC  device: {be.Name}");
        var rng = new Random(1);

        int n = batch * steps;
        DeviceBuffer Buf(int count, Func<float> value)
        {
            var host = new float[count];
            for (int i = 0; i < count; i++) host[i] = value();
            var b = be.Allocate(count);
            b.CopyFrom(host);
            return b;
        }
        var r = Buf(n, () => (float)rng.NextDouble()); var v = Buf(n, () => (float)rng.NextDouble());
        var m = Buf(n, () => rng.NextDouble() < 0.9 ? 1f : 0f);
        var adv = be.Allocate(n); var ret = be.Allocate(n);
        double gae = Time(be, repeats, () => be.Gae(r, v, m, adv, ret, batch, steps, 0.99f, 0.95f));
        Console.WriteLine($"gae             B×T = {batch}×{steps}: {gae * 1e3,9:F2} ms  {5.0 * 4 * n / gae / 1e9,7:F1} GB/s (r, V, mask in; A, returns out)");
        foreach (var x in new[] { r, v, m, adv, ret }) x.Dispose();

        long nv = (long)rows * vocab;
        if (nv > int.MaxValue) throw new ArgumentException($"rl bench: {rows}×{vocab} logits exceed one buffer; lower --rows");
        var logits = Buf((int)nv, () => (float)(rng.NextDouble() * 6 - 3));
        var hostLogits = logits.ToArray();
        int[] ids = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        var old = Buf(rows, () => -(float)rng.NextDouble() * 10); var a = Buf(rows, () => (float)rng.NextDouble() - 0.5f);
        var w = Buf(rows, () => 1f / rows); var refLogp = Buf(rows, () => -(float)rng.NextDouble() * 10);
        var stats = be.Allocate(rows * FusedStats.Count);
        var p = new FusedPolicyParams(1f, 0.2f, 0.28f, 3f, 0.001f, 0.001f, 1);
        // In place: each run overwrites the logits with dlogits, so restore them before every timed run.
        var times = new List<double>();
        for (int i = 0; i < repeats + 1; i++)
        {
            logits.CopyFrom(hostLogits);
            be.Synchronize();
            var sw = Stopwatch.StartNew();
            be.FusedPolicyLoss(logits, ids, old, a, w, refLogp, logits, stats, rows, vocab, p);
            be.Synchronize();
            if (i > 0) times.Add(sw.Elapsed.TotalSeconds);
        }
        double fused = GemmTable.Median(times);
        Console.WriteLine($"fused policy    N×V = {rows}×{vocab}: {fused * 1e3,9:F2} ms  {2.0 * 2 * 4 * nv / fused / 1e9,7:F1} GB/s (logits read twice, dlogits written)");
        return 0;
    }

    static double Time(IBackend be, int repeats, Action run)
    {
        run();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            be.Synchronize();
            var sw = Stopwatch.StartNew();
            run();
            be.Synchronize();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return GemmTable.Median(times);
    }
}
