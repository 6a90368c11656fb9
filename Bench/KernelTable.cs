using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Kernels;
using Engine.Kernels.Workbench;
using ILGPU;
using ILGPU.Runtime;

namespace Bench;

/// <summary>
/// `Bench kernels --device cuda|opencl|ilgpu-cpu [--op NAME|all] [--version N[,N...]|all] [--small] [--json FILE]
/// [--ptx DIR]`:
/// every registered op (Engine.Kernels.Workbench.KernelRegistry) and each chosen GPU version, checked
/// against the CPU reference through the same harness the tests use, then timed (median of repeats,
/// device synchronised), with GFLOP/s or GB/s and the share of the roofline measured in this run
/// (a large device copy; cuBLAS SGEMM on CUDA). It also measures what one launch costs.
/// </summary>
static class KernelTable
{
    public sealed record Row(string Op, int Version, string Shape, double MaxRelErr, double MedianMs, double Rate, string Unit,
        double? RooflineShare, string Precision = "fp32", double? Float64Err = null);

    public static int Run(string device, bool small, string op, string version, int repeats, string? json, string? ptx,
        bool gemmShapes = false, bool attentionShapes = false)
    {
        if (gemmShapes && (small || op != "matmul"))
            throw new ArgumentException("--gemm-shapes: the GPT-2 GEMM shapes need --op matmul on a GPU (not --small)");
        if (attentionShapes && (small || !op.StartsWith("attention")))
            throw new ArgumentException("--attention-shapes: needs --op attention or attention-backward on a GPU " +
                                        "(not --small)");
        var wanted = Wanted(version);
        using var gpu = new GpuBackend(device);
        var cpu = new CpuBackend();
        var ops = op == "all" ? KernelRegistry.Ops : [KernelRegistry.Find(op)];
        var sizes = small ? Sizes.Small : Sizes.Large;
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC  device: {gpu.Name}  shapes: {sizes.Name}");
        var (copyGBs, copyShape) = CopyBandwidth(gpu, small);
        Console.WriteLine($"roofline: device copy {copyGBs:F1} GB/s ({copyShape})");
        int blasN = small ? 256 : 4096;
        double? blasGflops = CuBlasAnchor.Measure(gpu, blasN, repeats);
        Console.WriteLine(blasGflops is double g ? $"roofline: cuBLAS SGEMM {blasN}³ {g:F0} GFLOP/s"
            : "roofline: cuBLAS not available on this device (FLOP/s shares are left out)");
        Console.WriteLine($"launch: a 1-element fill with its synchronisation takes {LaunchMicroseconds(gpu):F1} µs (median of 101)");
        Console.WriteLine();
        Console.WriteLine($"{"op",-20} {"v",2} {"shape",-34} {"max rel err",11} {"median ms",10} {"rate",16} {"roofline",9}");
        var rows = new List<Row>();
        var rng = new Random(1);
        bool failed = false;
        foreach (var declaration in ops)
        {
            // Version numbers across all ops run the ops that have them; a single op must have every one.
            var versions = wanted?.Where(w => declaration.Versions.Any(v => v.Number == w)).ToList()
                           ?? declaration.Versions.Select(v => v.Number).ToList();
            if (wanted is not null && versions.Count < wanted.Count && op != "all")
                throw new ArgumentException($"--version {version}: {declaration.Name} has versions " +
                    $"1..{declaration.Versions.Count}");
            if (versions.Count == 0) continue;
            var gemms = gemmShapes ? Engine.Kernels.Matmul.MatmulOps.Gpt2Shapes().ToList() : null;
            var cases = gemms?.Select(g => Engine.Kernels.Matmul.MatmulOps.Case(rng, g))
                        ?? (attentionShapes
                            ? Engine.Kernels.Attention.AttentionOps.IssueShapes.SelectMany(s => declaration.Cases(s, rng))
                            : declaration.Cases(sizes, rng));
            int index = 0;
            foreach (var c in cases)
            {
                var expected = Harness.Reference(cpu, c);
                foreach (int v in versions)
                {
                    var kv = declaration.Versions.Single(x => x.Number == v);
                    if (kv.Wide && (gpu.Accelerator.MaxNumThreadsPerGroup < 256 || gpu.Launch.WarpSize != 32))
                    {
                        Console.WriteLine($"{c.Op,-20} {v,2} {c.Shape,-34} skipped: needs 256-thread groups and " +
                                          "32-lane warps (a GPU, or --device ilgpu-cpu32)");
                        continue;
                    }
                    var check = Harness.Check(c, v, cpu, gpu, expected);
                    gpu.Versions.Pin(declaration, v);
                    double ms;
                    double? f64 = null;
                    try
                    {
                        ms = Harness.MedianMs(gpu, c, repeats);
                        if (gemms is not null) f64 = GemmError.Float64(gemms[index], c.Inputs, Harness.Execute(gpu, c)[0]);
                    }
                    finally { gpu.Versions.Pin(declaration, 0); }
                    double rate = c.Work / (ms * 1e-3) / 1e9;
                    bool flops = c.Unit == WorkUnit.Flops;
                    double? share = flops ? blasGflops is double bg ? rate / bg : null : rate / copyGBs;
                    var row = new Row(c.Op, v, c.Shape, check.MaxRelErr, ms, rate, flops ? "GFLOP/s" : "GB/s", share,
                        kv.Precision, f64);
                    rows.Add(row);
                    failed |= !(check.MaxRelErr <= kv.Tolerance) || !check.Deterministic;
                    Console.WriteLine($"{row.Op,-20} {row.Version,2} {row.Shape,-34} {row.MaxRelErr,11:E1} {row.MedianMs,10:F3} " +
                                      $"{row.Rate,10:F1} {row.Unit,-7} {(share is double s ? $"{s:P0}" : "-"),7}" +
                                      (f64 is double e ? $"  float64 err {e:E1}" : "") +
                                      (check.Deterministic ? "" : "  NOT DETERMINISTIC"));
                }
                if (gemms is not null) rows.AddRange(CuBlasAnchor.Rows(gpu, gemms[index], c.Inputs, expected, repeats,
                    blasGflops));
                index++;
            }
        }
        if (rows.Count == 0) throw new ArgumentException($"--version {version}: no op has that version");
        if (json is not null)
        {
            var options = new JsonSerializerOptions
            {
                WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            };
            File.WriteAllText(json, JsonSerializer.Serialize(rows, options));
            Console.WriteLine($"wrote {json} ({rows.Count} rows)");
        }
        if (ptx is not null)
        {
            var files = Engine.Kernels.Gpu.PtxDump.Write(gpu.Launch.Loaded, ptx, gpu.Accelerator);
            Console.WriteLine($"wrote the PTX of {files.Count} kernels to {ptx} (e.g. ptxas -v -arch=sm_90 {files.FirstOrDefault()})");
        }
        if (failed)
            Console.Error.WriteLine("Bench: error: a version exceeded its tolerance (1e-4 unless it states one) or " +
                "was not deterministic " +
                "(see the table)");
        return failed ? 1 : 0;
    }

    /// <summary>--version: "all" (null), or one or more version numbers separated by commas ("3,8,10").</summary>
    static List<int>? Wanted(string version)
    {
        if (version == "all") return null;
        var numbers = version.Split(',').Select(p => int.TryParse(p, out int n) && n > 0 ? n : -1).ToList();
        if (numbers.Contains(-1))
            throw new ArgumentException($"--version {version}: expected numbers separated by commas, or all");
        return numbers.Distinct().ToList();
    }

    static double LaunchMicroseconds(GpuBackend gpu)
    {
        using var one = gpu.Allocate(1);
        var times = new List<double>();
        for (int r = 0; r < 111; r++)
        {
            gpu.Synchronize();
            long start = Stopwatch.GetTimestamp();
            gpu.Fill(one, r);
            gpu.Synchronize();
            if (r >= 10) times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        return GemmTable.Median(times);
    }

    static (double GBs, string Shape) CopyBandwidth(GpuBackend gpu, bool small)
    {
        int n = small ? 1 << 20 : 1 << 26;
        var a = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(n);
        var b = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(n);
        var times = new List<double>();
        for (int r = 0; r < 7; r++)
        {
            gpu.Synchronize();
            var sw = Stopwatch.StartNew();
            a.View.CopyTo(b.View);
            gpu.Synchronize();
            if (r >= 2) times.Add(sw.Elapsed.TotalSeconds);
        }
        return (2.0 * 4 * n / GemmTable.Median(times) / 1e9, $"{n * 4L >> 20} MiB, read + write");
    }
}
