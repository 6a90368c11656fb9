using CommandLine;

namespace Bench;

[Verb("gemm", HelpText = "CPU GEMM vs OpenBLAS at several sizes: GFLOP/s, median of repeats, ratio.")]
sealed class GemmOptions
{
    [Option("sizes", Separator = ',', Default = new[] { 256, 512, 1024, 2048 }, HelpText = "Square sizes n (C[n,n] = A[n,n]·B[n,n]).")]
    public IEnumerable<int> Sizes { get; set; } = [];
    [Option("repeats", Default = 7, HelpText = "Timed runs per size (after one warm-up); the median is reported.")]
    public int Repeats { get; set; }
    [Option("trans-b", Default = false, HelpText = "Time A·Bᵀ (the forward of a linear layer) instead of A·B.")]
    public bool TransB { get; set; }
}

static class Program
{
    static int Main(string[] args)
    {
        var parser = new Parser(s => { s.HelpWriter = Console.Error; s.CaseInsensitiveEnumValues = true; });
        return parser.ParseArguments<GemmOptions>(args).MapResult(
            (GemmOptions o) => GemmTable.Run(o.Sizes.ToArray(), o.Repeats, o.TransB),
            _ => 1);
    }
}
