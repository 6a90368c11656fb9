using Engine.Autograd;
using Engine.Generation;
using Engine.Model;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class TransformerTests
{
    public static ModelConfig Small(Architecture type, bool valueHead = false) => new()
    {
        Type = type, VocabSize = 13, Hidden = 8, Layers = 2, Heads = 2, KvHeads = type == Architecture.Gpt2 ? 2 : 1,
        Intermediate = 12, MaxPositions = 16, NormEps = 1e-5f, QkvBias = type != Architecture.Llama,
        TieEmbeddings = type != Architecture.Llama, ValueHead = valueHead,
    };

    static int[] Ids(Random rng, int n, int vocab) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();

    [TestCase(Architecture.Gpt2)]
    [TestCase(Architecture.Llama)]
    [TestCase(Architecture.Qwen2)]
    public void WholeModelGradientsMatchCentralDifferences(Architecture type)
    {
        var model = new Transformer(Small(type, valueHead: true), Cpu, seed: 5);
        // Larger weights than the 0.02 init, so every path carries a gradient well above float32 noise.
        var rng = new Random(1);
        foreach (var p in model.Parameters)
            if (p.Shape.Length == 2) p.Data.CopyFrom(Rand(rng, p.Size, 0.5f));
        int[] ids = Ids(rng, 2 * 5, 13);
        // Without RoPE the key bias shifts every score of a query by the same q·b_k, which softmax
        // ignores: its true gradient is zero, so there it is checked to be ~0, not by relative error.
        bool kBiasInert = type == Architecture.Gpt2;
        var inputs = model.Parameters.Where(p => !(kBiasInert && p.Name!.Contains("k_proj.bias"))).ToArray();
        Check($"{type} logits", () => model.Forward(ids, 2, 5), inputs.Where(p => !p.Name!.StartsWith("v_head")).ToArray(), eps: 1e-2, tol: 3e-2);
        foreach (var bk in model.Parameters.Where(p => kBiasInert && p.Name!.Contains("k_proj.bias")))
            Assert.That(bk.Grad!.ToArray().Max(Math.Abs), Is.LessThan(1e-5f), "key-bias gradient must vanish");
        Check($"{type} values", () => model.Values(model.Hidden(ids, 2, 5)), inputs.Where(p => p.Name!.StartsWith("v_head") || p.Name!.Contains("layers.1.mlp")).ToArray(), eps: 1e-2, tol: 3e-2);
    }

    [TestCase(Architecture.Gpt2)]
    [TestCase(Architecture.Llama)]
    [TestCase(Architecture.Qwen2)]
    public void KvCacheGivesTheFullForwardLogitsAtEveryStep(Architecture type)
    {
        var model = new Transformer(Small(type), Cpu, seed: 2);
        var rng = new Random(3);
        int T = 9, V = 13;
        int[] ids = Ids(rng, T, V);
        using var _ = GradMode.Disable();
        float[] full = model.Forward(ids, 1, T).ToArray();                         // [1, T, V]
        var cache = new KvCache(model, 1, T);
        // A 3-token prefill, then one token at a time.
        float[] prefill = model.Logits(model.Hidden(ids[..3], 1, 3, cache)).ToArray();
        Assert.That(prefill, Is.EqualTo(full[..(3 * V)]).Within(1e-5f), "prefill");
        for (int t = 3; t < T; t++)
        {
            float[] step = model.Logits(model.Hidden([ids[t]], 1, 1, cache, [t])).ToArray();
            Assert.That(step, Is.EqualTo(full[(t * V)..((t + 1) * V)]).Within(1e-5f), $"step {t}");
        }
    }

    [Test]
    public void BatchedGenerationOfUnequalPromptsMatchesOneByOne()
    {
        var model = new Transformer(Small(Architecture.Llama) with { VocabSize = new CharTokenizer().VocabSize, MaxPositions = 32 }, Cpu, seed: 4);
        var tok = new CharTokenizer();
        int[][] prompts = [tok.Encode("12+3="), tok.Encode("7-1="), tok.Encode("100+20=")];
        var greedy = new SamplingOptions(MaxNewTokens: 6, Temperature: 0f);
        var batched = Generator.Generate(model, tok, prompts, greedy, new Rng(1));
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = Generator.Generate(model, tok, [prompts[i]], greedy, new Rng(1))[0];
            Assert.That(batched[i].Ids, Is.EqualTo(single.Ids), $"prompt {i}");
            Assert.That(batched[i].Logprobs, Is.EqualTo(single.Logprobs).Within(1e-5f), $"prompt {i}");
        }
    }

    [Test]
    public void SampledLogprobsAreThoseOfTheFullForwardAtTheTemperature()
    {
        var tok = new CharTokenizer();
        var model = new Transformer(Small(Architecture.Gpt2) with { VocabSize = tok.VocabSize, MaxPositions = 32 }, Cpu, seed: 6);
        var prompt = tok.Encode("5+5=");
        var opts = new SamplingOptions(MaxNewTokens: 5, Temperature: 0.7f, TopK: 20, TopP: 0.9f);
        var c = Generator.Generate(model, tok, [prompt], opts, new Rng(9))[0];
        var again = Generator.Generate(model, tok, [prompt], opts, new Rng(9))[0];
        Assert.That(again.Ids, Is.EqualTo(c.Ids), "same seed, same sample");
        int[] seq = [.. prompt, .. c.Ids];
        float[] logits;
        using (GradMode.Disable()) logits = model.Forward(seq, 1, seq.Length).ToArray();
        int V = tok.VocabSize;
        for (int i = 0; i < c.Ids.Length; i++)
        {
            int row = prompt.Length - 1 + i;
            double max = Enumerable.Range(0, V).Max(v => logits[row * V + v] / 0.7);
            double lse = max + Math.Log(Enumerable.Range(0, V).Sum(v => Math.Exp(logits[row * V + v] / 0.7 - max)));
            Assert.That(c.Logprobs[i], Is.EqualTo(logits[row * V + c.Ids[i]] / 0.7 - lse).Within(1e-4), $"token {i}");
        }
    }

    /// <summary>Long completions from a batch of unequal prompts (the KV cache past 64 positions, rows at different
    /// positions): every sampled log-prob is the full forward's, so RL's ratio starts at exactly the sampler's policy.</summary>
    [TestCase(Architecture.Gpt2)]
    [TestCase(Architecture.Llama)]
    public void LongSampledLogprobsOfUnequalPromptsAreThoseOfTheFullForward(Architecture type)
    {
        var tok = new CharTokenizer();
        var model = new Transformer(Small(type) with { VocabSize = tok.VocabSize, MaxPositions = 128 }, Cpu, seed: 8);
        int[][] prompts = [tok.Encode("1+2="), tok.Encode("3+4+5+6+7+8="), tok.Encode("9="), tok.Encode("12+34="),
            tok.Encode("5+5+5="), tok.Encode("7=")];
        var opts = new SamplingOptions(MaxNewTokens: 90, Temperature: 1f);
        var completions = Generator.Generate(model, tok, prompts, opts, new Rng(4));
        int V = tok.VocabSize;
        Assert.That(completions.Select((c, b) => prompts[b].Length + c.Ids.Length).Max(), Is.GreaterThan(70),
            "some row runs past 64 positions");
        for (int b = 0; b < prompts.Length; b++)
        {
            var c = completions[b];
            int[] seq = [.. prompts[b], .. c.Ids];
            float[] logits;
            using (GradMode.Disable()) logits = model.Forward(seq, 1, seq.Length).ToArray();
            for (int i = 0; i < c.Ids.Length; i++)
            {
                int row = prompts[b].Length - 1 + i;
                double max = Enumerable.Range(0, V).Max(v => (double)logits[row * V + v]);
                double lse = max + Math.Log(Enumerable.Range(0, V).Sum(v => Math.Exp(logits[row * V + v] - max)));
                Assert.That(c.Logprobs[i], Is.EqualTo(logits[row * V + c.Ids[i]] - lse).Within(1e-4), $"row {b} token {i}");
            }
        }
    }

    [Test]
    public void TopKOneIsGreedy()
    {
        float[] logits = [0.1f, 2f, -1f, 1.9f];
        for (int s = 0; s < 20; s++)
            Assert.That(Sampler.Sample(logits, new SamplingOptions(Temperature: 1.5f, TopK: 1), new Rng(s)).Token, Is.EqualTo(1));
        var counts = new int[4];
        var rng = new Rng(3);
        for (int s = 0; s < 2000; s++) counts[Sampler.Sample(logits, new SamplingOptions(Temperature: 1f, TopP: 0.5f), rng).Token]++;
        Assert.That(counts[0] + counts[2], Is.EqualTo(0), "top-p 0.5 keeps only the two largest here");
        Assert.That(counts[1], Is.GreaterThan(counts[3]));
    }

    [Test]
    public void CloneCopiesEveryWeightAndNothingIsShared()
    {
        var model = new Transformer(Small(Architecture.Llama), Cpu, seed: 4);
        var copy = model.Clone();
        int[] ids = [1, 5, 2, 7];
        using (GradMode.Disable())
            Assert.That(copy.Forward(ids, 1, 4).ToArray(), Is.EqualTo(model.Forward(ids, 1, 4).ToArray()));
        copy.Named[0].Param.Data.CopyFrom(new float[copy.Named[0].Param.Size]);
        Assert.That(model.Named[0].Param.ToArray().Any(x => x != 0f), "the original keeps its weights");
        var critic = model.Clone(withValueHead: true, seed: 9);
        Assert.That(critic.ValueW, Is.Not.Null);
        Assert.That(critic.Named.Count, Is.EqualTo(model.Named.Count + 2), "value head weight and bias added");
    }
}
