using BenchmarkDotNet.Attributes;
using Engine.Autograd;
using Engine.Kernels;
using Engine.Kernels.Matmul;
using Engine.Model;

namespace Bench;

/// <summary>Square SGEMM, ours against OpenBLAS (the baseline) in the same process.</summary>
[MemoryDiagnoser(false)]
public class GemmBenchmarks
{
    [Params(256, 512, 1024, 2048)]
    public int N;

    float[] a = [], b = [], c = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(N);
        a = Enumerable.Range(0, N * N).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        b = Enumerable.Range(0, N * N).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        c = new float[N * N];
    }

    [Benchmark(Baseline = true, Description = "OpenBLAS")]
    public void OpenBlasSgemm() => OpenBlas.Sgemm(a, b, c, N, N, N, false, false);

    [Benchmark(Description = "Engine")]
    public void EngineGemm() => MatmulCpu.Gemm(a, b, c, N, N, N, false, false, false);
}

/// <summary>One GPT-2 block, forward + backward, on the CpuBackend: tiny (d=128) and GPT-2 small's width (d=768).</summary>
[MemoryDiagnoser(false)]
public class BlockBenchmarks
{
    [Params(128, 768)]
    public int Channels;

    const int Batch = 4, Steps = 128;
    Gpt2Block block = null!;
    Tensor x = null!;

    [GlobalSetup]
    public void Setup()
    {
        var be = new CpuBackend();
        block = new Gpt2Block(new Init(be, 1), Channels, Channels / 64, 12);
        var rng = new Random(2);
        x = Tensor.Parameter(be, Enumerable.Range(0, Batch * Steps * Channels).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), Batch, Steps, Channels);
    }

    [Benchmark(Description = "block fwd+bwd [4,128,C]")]
    public float ForwardBackward()
    {
        var y = Ops.Mean(block.Forward(x));
        y.Backward();
        return y.Item();
    }
}
