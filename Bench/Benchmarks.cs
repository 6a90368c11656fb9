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
    Transformer model = null!;
    Tensor x = null!;
    int[] positions = [];

    [GlobalSetup]
    public void Setup()
    {
        var be = new CpuBackend();
        var cfg = new ModelConfig { Type = Architecture.Gpt2, VocabSize = 64, Hidden = Channels, Layers = 1, Heads = Channels / 64, KvHeads = Channels / 64, Intermediate = 4 * Channels, MaxPositions = Steps };
        model = new Transformer(cfg, be, seed: 1);
        var rng = new Random(2);
        x = Tensor.Parameter(be, Enumerable.Range(0, Batch * Steps * Channels).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), Batch, Steps, Channels);
        positions = Ops.SequencePositions(Batch, Steps);
    }

    [Benchmark(Description = "block fwd+bwd [4,128,C]")]
    public float ForwardBackward()
    {
        var y = Ops.Mean(model.Block(0, x, positions));
        y.Backward();
        return y.Item();
    }
}
