using Engine.Generation;
using Engine.Kernels;
using Engine.Kernels.Sampling;
using Engine.Model;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>
/// Drawing tokens on the device: the kept set is exactly the host sampler's top-k/top-p cut, the draws
/// follow its distribution (chi-squared over many draws, on ILGPU's CPU accelerator), and greedy decoding
/// on the device gives the CPU path's tokens.
/// </summary>
[NonParallelizable]
public class SamplingTests
{
    static GpuBackend gpu = null!;
    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu");
    [OneTimeTearDown] public void Close() => gpu.Dispose();

    /// <summary>The host sampler's distribution: softmax(x/T), sorted, cut to top-k then top-p, renormalised.</summary>
    static double[] Expected(float[] x, float temperature, int topK, float topP)
    {
        int V = x.Length;
        double max = x.Max() / temperature;
        var p = x.Select(v => Math.Exp(v / temperature - max)).ToArray();
        double sum = p.Sum();
        for (int i = 0; i < V; i++) p[i] /= sum;
        var order = Enumerable.Range(0, V).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
        int keep = topK > 0 ? Math.Min(topK, V) : V;
        if (topP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) { cumulative += p[order[i]]; if (cumulative >= topP) { keep = i + 1; break; } }
        }
        var q = new double[V];
        double mass = order.Take(keep).Sum(i => p[i]);
        foreach (int i in order.Take(keep)) q[i] = p[i] / mass;
        return q;
    }

    [TestCase(1f, 0, 1f)]
    [TestCase(0.7f, 5, 1f)]
    [TestCase(1f, 0, 0.8f)]
    [TestCase(1.3f, 8, 0.9f)]
    public void KeptSetIsTheHostSamplersCut(float temperature, int topK, float topP)
    {
        var rng = new Random(7);
        for (int row = 0; row < 20; row++)
        {
            var x = Rand(rng, 30, 3f);
            var expected = Expected(x, temperature, topK, topP);
            var chosen = new HashSet<int>();
            for (int k = 0; k < 4000; k++)
            {
                var (token, logp) = SamplingCpu.SampleRow(x, k / 4000f, temperature, topK, topP);
                Assert.That(expected[token], Is.GreaterThan(0), $"token {token} is outside the kept set");
                Assert.That(logp, Is.EqualTo(Math.Log(Math.Exp(x[token] / temperature) / x.Sum(v => Math.Exp(v / temperature))))
                    .Within(1e-4), "log-prob under the full softmax");
                chosen.Add(token);
            }
            Assert.That(chosen, Is.EquivalentTo(Enumerable.Range(0, 30).Where(i => expected[i] > 0)), "every kept token can be drawn");
        }
    }

    /// <summary>
    /// The draws of the sampling primitive (here the CPU backend's, the reference the workbench holds the ILGPU
    /// kernel to, token for token) against the host sampler's distribution; ILGPU's CPU accelerator simulates
    /// 20,000 groups with barriers too slowly for a test, so the device draws a few hundred of the same rows.
    /// </summary>
    [Test]
    public void DeviceDrawsFollowTheHostSamplersDistribution()
    {
        const int V = 12, N = 20000;
        const float temperature = 0.8f, topP = 0.95f;
        const int topK = 8;
        var rng = new Random(11);
        var x = Rand(rng, V, 2f);
        var logits = new float[N * V];
        for (int n = 0; n < N; n++) x.CopyTo(logits, n * V);
        var u = Enumerable.Range(0, N).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] Draw(IBackend be, int n)
        {
            var b = new[] { logits[..(n * V)], u[..n], new float[n], new float[n] }
                .Select(a => { var d = be.Allocate(a.Length); d.CopyFrom(a); return d; }).ToArray();
            be.SampleTokens(b[0], b[1], b[2], b[3], n, V, temperature, topK, topP);
            return b[2].ToArray();
        }
        var tokens = Draw(Cpu, N);
        Assert.That(Draw(gpu, 300), Is.EqualTo(tokens[..300]), "the device draws the same tokens from the same uniforms");
        var counts = new int[V];
        foreach (float t in tokens) counts[(int)t]++;
        var expected = Expected(x, temperature, topK, topP);
        double chi2 = 0;
        int df = -1;
        for (int i = 0; i < V; i++)
        {
            if (expected[i] == 0) { Assert.That(counts[i], Is.EqualTo(0), $"token {i} is cut but was drawn"); continue; }
            chi2 += Math.Pow(counts[i] - N * expected[i], 2) / (N * expected[i]);
            df++;
        }
        TestContext.Out.WriteLine($"chi-squared {chi2:F2} with {df} degrees of freedom");
        Assert.That(df, Is.GreaterThanOrEqualTo(3));
        Assert.That(chi2, Is.LessThan(df + 5 * Math.Sqrt(2.0 * df)), "draws match the distribution (about p < 1e-4 to fail by chance)");
    }

    [Test]
    public void GreedyDecodingOnTheDeviceGivesTheCpuTokens()
    {
        var tok = new CharTokenizer();
        var cfg = ModelConfig.Preset("micro", tok.VocabSize, 24);
        var onCpu = new Transformer(cfg, Cpu, seed: 5);
        var onGpu = new Transformer(cfg, gpu, seed: 5);
        var prompts = new[] { "12+7=", "3+45=", "9=" }.Select(tok.Encode).ToList();
        var o = new SamplingOptions(MaxNewTokens: 8, Temperature: 0f);
        var host = Generator.Generate(onCpu, tok, prompts, o, new Rng(1), onDevice: false);
        var device = Generator.Generate(onGpu, tok, prompts, o, new Rng(1), onDevice: true);
        for (int b = 0; b < prompts.Count; b++)
        {
            Assert.That(device[b].Ids, Is.EqualTo(host[b].Ids), $"row {b}");
            Assert.That(device[b].Logprobs, Is.EqualTo(host[b].Logprobs).Within(1e-4f), $"row {b}");
        }
    }

    [Test]
    public void SampledDecodingOnTheDeviceMatchesTheSameAlgorithmOnTheCpuBackend()
    {
        var tok = new CharTokenizer();
        var cfg = ModelConfig.Preset("micro", tok.VocabSize, 24);
        var prompts = new[] { "12+7=", "3+45=" }.Select(tok.Encode).ToList();
        var o = new SamplingOptions(MaxNewTokens: 8, Temperature: 1f, TopK: 20, TopP: 0.95f);
        var cpuDevicePath = Generator.Generate(new Transformer(cfg, Cpu, seed: 5), tok, prompts, o, new Rng(3), onDevice: true);
        var gpuDevicePath = Generator.Generate(new Transformer(cfg, gpu, seed: 5), tok, prompts, o, new Rng(3), onDevice: true);
        for (int b = 0; b < prompts.Count; b++) Assert.That(gpuDevicePath[b].Ids, Is.EqualTo(cpuDevicePath[b].Ids), $"row {b}");
    }

    [Test]
    public void CompactingFinishedRowsGivesTheSameCompletions()
    {
        var tok = new CharTokenizer();
        var model = new Transformer(ModelConfig.Preset("micro", tok.VocabSize, 40), gpu, seed: 6);
        var prompts = new[] { "12+7=", "3+45=", "9=", "100+1=", "7+7=", "2=" }.Select(tok.Encode).ToList();
        // Any digit stops a row, so rows finish at different steps.
        var o = new SamplingOptions(MaxNewTokens: 20, Temperature: 1f, Stop: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        var whole = Generator.Generate(model, tok, prompts, o, new Rng(2), onDevice: true, compact: false);
        var compacted = Generator.Generate(model, tok, prompts, o, new Rng(2), onDevice: true, compact: true);
        Assert.That(whole.Select(c => c.Ids.Length).Distinct().Count(), Is.GreaterThan(1), "rows finish at different steps");
        for (int b = 0; b < prompts.Count; b++)
        {
            Assert.That(compacted[b].Ids, Is.EqualTo(whole[b].Ids), $"row {b}");
            Assert.That(compacted[b].Logprobs, Is.EqualTo(whole[b].Logprobs).Within(1e-6f), $"row {b}");
            Assert.That(compacted[b].FinishReason, Is.EqualTo(whole[b].FinishReason), $"row {b}");
        }
    }
}
