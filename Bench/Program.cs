using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using CommandLine;

namespace Bench;

[Verb("gemm", HelpText = "CPU GEMM vs OpenBLAS at several sizes: GFLOP/s, median of repeats, ratio. Quick (seconds).")]
sealed class GemmOptions
{
    [Option("sizes", Separator = ',', Default = new[] { 256, 512, 1024, 2048 }, HelpText = "Square sizes n (C[n,n] = A[n,n]·B[n,n]).")]
    public IEnumerable<int> Sizes { get; set; } = [];
    [Option("repeats", Default = 9, HelpText = "Timed runs per size (after warm-ups); the median is reported.")]
    public int Repeats { get; set; }
    [Option("trans-b", Default = false, HelpText = "Time A·Bᵀ (the forward of a linear layer) instead of A·B.")]
    public bool TransB { get; set; }
}

[Verb("bdn", HelpText = "BenchmarkDotNet: GemmBenchmarks (ours vs OpenBLAS) and BlockBenchmarks (GPT-2 block fwd+bwd). Minutes.")]
sealed class BdnOptions
{
    [Option("filter", Default = "*", HelpText = "BenchmarkDotNet filter, e.g. *Gemm* or *Block*.")]
    public string Filter { get; set; } = "*";
}

[Verb("kernels", HelpText = "Every registered op and GPU version: checked against the CPU reference, then timed, " +
    "with its share of the device roofline.")]
sealed class KernelsOptions
{
    [Option("device", Default = "cuda", HelpText = "cuda | opencl | ilgpu-cpu | ilgpu-cpu32 (the CPU simulator, " +
        "with warps of 4 or 32; implies --small).")]
    public string Device { get; set; } = "cuda";
    [Option("small", Default = false, HelpText = "Small odd shapes (the tests' shapes: a quick check of the harness).")]
    public bool Small { get; set; }
    [Option("op", Default = "all", HelpText = "One op (matmul, attention, layernorm-backward, ...) or all.")]
    public string Op { get; set; } = "all";
    [Option("version", Default = "all", HelpText = "GPU version numbers of the op(s), e.g. 3 or 3,8,10; or all.")]
    public string Version { get; set; } = "all";
    [Option("json", HelpText = "Also write the rows as a JSON array: op, version, shape, max_rel_err, median_ms, " +
        "rate, unit, roofline_share.")]
    public string? Json { get; set; }
    [Option("ptx", HelpText = "Also write the PTX of every kernel the run loaded into this folder (for ptxas -v: registers, spills).")]
    public string? Ptx { get; set; }
    [Option("repeats", Default = 9, HelpText = "Timed runs per kernel after 2 warm-ups; the median is reported.")]
    public int Repeats { get; set; }
    [Option("gemm-shapes", Default = false, HelpText = "With --op matmul: GPT-2 124M's linear layers at 4096 tokens " +
        "(forward, dX, dW) and 4096³, each beside cuBLAS SGEMM and cuBLAS TF32 (minutes: use --version).")]
    public bool GemmShapes { get; set; }
    [Option("attention-shapes", Default = false, HelpText = "With --op attention or attention-backward: the " +
        "attention " +
        "issue's shapes (B2 H8 T1024 D64, B4 H12 T1024 D64, B1 H32/8 T4096 D128) instead of the default one " +
        "(minutes: the CPU reference checks each; use --version).")]
    public bool AttentionShapes { get; set; }
}

[Verb("rl", HelpText = "GAE at B×T and the fused policy-loss kernel at N×V on the chosen device.")]
sealed class RlOptions
{
    [Option("device", Default = "cpu", HelpText = "cpu | cuda | opencl | ilgpu-cpu.")]
    public string Device { get; set; } = "cpu";
    [Option("batch", Default = 4096, HelpText = "GAE sequences B.")]
    public int Batch { get; set; }
    [Option("steps", Default = 4096, HelpText = "GAE steps T.")]
    public int Steps { get; set; }
    [Option("rows", Default = 16384, HelpText = "Fused kernel rows N (tokens).")]
    public int Rows { get; set; }
    [Option("vocab", Default = 50257, HelpText = "Fused kernel vocabulary V.")]
    public int Vocab { get; set; }
    [Option("repeats", Default = 5, HelpText = "Timed runs; the median is reported.")]
    public int Repeats { get; set; }
}

[Verb("nccl", HelpText = "Under mpirun, on CUDA: the engine's NCCL all-reduce of device buffers laid out as a " +
    "model's gradients, checked, then timed.")]
sealed class NcclOptions
{
    [Option("size", Default = 25_000_000,
        HelpText = "Floats all-reduced (split into buffers of two contiguous groups).")]
    public int Size { get; set; }
    [Option("repeats", Default = 9, HelpText = "Timed all-reduces after 2 warm-ups; the median is reported.")]
    public int Repeats { get; set; }
}

[Verb("ptx", HelpText = "Write the PTX of the tensor-core and main SIMT kernels (no GPU needed) for the offline " +
    "ptxas check " +
    "(tools/gpu/ptxas-offline.sh); ENGINE_ILGPU_OPT picks O1 or O2.")]
sealed class PtxOptions
{
    [Option("out", HelpText = "Folder for <name>.ptx.")]
    public string? Out { get; set; }
    [Option("kernels", Separator = ',', HelpText = "Kernel names (default: all; --list prints them).")]
    public IEnumerable<string> Kernels { get; set; } = [];
    [Option("list", Default = false, HelpText = "Print the kernel names and exit.")]
    public bool List { get; set; }
    [Option("generate-text", HelpText = "Rewrite the generated inline-PTX constant files (*.g.cs, PtxText) under " +
        "this repository root, and exit.")]
    public string? GenerateText { get; set; }
}

static class Program
{
    static int Main(string[] args)
    {
        var parser = new Parser(s => { s.HelpWriter = Console.Error; s.CaseInsensitiveEnumValues = true; s.AutoVersion = false; });
        return parser.ParseArguments<GemmOptions, BdnOptions, KernelsOptions, RlOptions, NcclOptions, PtxOptions>(args).MapResult(
            (GemmOptions o) => GemmTable.Run(o.Sizes.ToArray(), o.Repeats, o.TransB),
            (BdnOptions o) => RunBdn(o),
            (KernelsOptions o) => RunKernels(o),
            (RlOptions o) => RlBench.Run(o.Device, o.Batch, o.Steps, o.Rows, o.Vocab, o.Repeats),
            (NcclOptions o) => NcclBench.Run(o.Size, o.Repeats),
            (PtxOptions o) => WritePtx(o),
            errors => errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError) ? 0 : 2);
    }

    static int RunKernels(KernelsOptions o)
    {
        try
        {
            return KernelTable.Run(o.Device, o.Small || o.Device.StartsWith("ilgpu-cpu"), o.Op, o.Version, o.Repeats,
                o.Json, o.Ptx, o.GemmShapes, o.AttentionShapes);
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            Console.Error.WriteLine($"Bench: error: {e.Message}");
            return 1;
        }
    }

    static int WritePtx(PtxOptions o)
    {
        if (o.List)
        {
            foreach (var k in Engine.Kernels.Gpu.TensorCoreKernels.Offline) Console.WriteLine(k.Name);
            return 0;
        }
        if (o.GenerateText is not null)
        {
            foreach (var f in Engine.Kernels.Gpu.PtxText.Files)
            {
                File.WriteAllText(Path.Combine(o.GenerateText, f.Path), Engine.Kernels.Gpu.PtxText.Source(f));
                Console.WriteLine($"wrote {f.Path}");
            }
            return 0;
        }
        if (o.Out is null)
        {
            Console.Error.WriteLine("Bench: error: ptx needs --out, --list or --generate-text");
            return 2;
        }
        try
        {
            foreach (var (name, file) in Engine.Kernels.Gpu.TensorCoreKernels.Write(o.Out, o.Kernels.ToList()))
                Console.WriteLine($"{name} {file}");
            return 0;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"Bench: error: {e.Message}");
            return 1;
        }
    }

    static int RunBdn(BdnOptions o)
    {
        string filter = o.Filter;
        if (!OpenBlas.Available)
        {
            Console.WriteLine(OpenBlas.InstallHint);
            Console.WriteLine("Running without the OpenBLAS baseline.");
        }
        // In-process: no per-benchmark project build; a short job keeps the 2048³ GEMM in minutes.
        var job = Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(9).WithLaunchCount(1);
        var config = ManualConfig.Create(DefaultConfig.Instance).AddJob(job).WithOptions(ConfigOptions.DisableOptimizationsValidator);
        if (!OpenBlas.Available)
            config = config.AddFilter(new BenchmarkDotNet.Filters.NameFilter(name => name != nameof(GemmBenchmarks.OpenBlasSgemm)));
        BenchmarkSwitcher.FromTypes([typeof(GemmBenchmarks), typeof(BlockBenchmarks)]).Run(["--filter", filter], config);
        return 0;
    }
}
