using Engine.Generation;
using Engine.Model;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

/// <summary>Budget forcing (s1): thinking never runs past --think-max, never ends before --think-min.</summary>
public class ThinkBudgetTests
{
    static readonly CharTokenizer Tok = new();

    /// <summary>Greedy decoding of a fake model whose favourite token is always `favourite`, through the budget.</summary>
    static List<int> Decode(ThinkBudget budget, int favourite, int steps)
    {
        var row = budget.Start(Tok.Encode("1+1=<think>"));
        var output = new List<int>();
        var logits = new float[Tok.VocabSize];
        for (int s = 0; s < steps; s++)
        {
            Array.Clear(logits);
            logits[favourite] = 5f;
            logits['7' - 32 + 6] = 1f;                                       // a runner-up: some digit
            int token = budget.Forced(row) ?? budget.Replace(row, ArgMax(logits, budget.Suppressed(row)));
            budget.Emitted(row, token);
            output.Add(token);
        }
        return output;
    }

    static int ArgMax(float[] logits, int[] suppressed)
    {
        int best = -1;
        for (int i = 0; i < logits.Length; i++)
            if (!suppressed.Contains(i) && (best < 0 || logits[i] > logits[best])) best = i;
        return best;
    }

    [Test]
    public void TheMinimumHoldsBackTheEndOfThinking()
    {
        var budget = new ThinkBudget(Tok.ThinkId, Tok.EndThinkId, Tok.EosId, min: 5, max: -1);
        var output = Decode(budget, favourite: Tok.EndThinkId, steps: 8);
        Assert.That(output.IndexOf(Tok.EndThinkId), Is.EqualTo(5), "the model wants to stop at once; it may only after 5 tokens");
        Assert.That(output.Take(5), Has.None.EqualTo(Tok.EosId));
    }

    [Test]
    public void TheMaximumForcesTheEndOfThinking()
    {
        var budget = new ThinkBudget(Tok.ThinkId, Tok.EndThinkId, Tok.EosId, min: 0, max: 3);
        var output = Decode(budget, favourite: 'x' - 32 + 6, steps: 6);
        Assert.That(output.IndexOf(Tok.EndThinkId), Is.EqualTo(3), "three thinking tokens, then </think>");
        Assert.That(output.Skip(4), Has.None.EqualTo(Tok.EndThinkId), "after thinking nothing is forced");
    }

    [Test]
    public void AWaitTextReplacesAnEarlyEndOfThinking()
    {
        int[] wait = Tok.Encode(" Wait");
        var budget = new ThinkBudget(Tok.ThinkId, Tok.EndThinkId, Tok.EosId, min: 7, max: -1, wait);
        var output = Decode(budget, favourite: Tok.EndThinkId, steps: 13);
        // The model wants </think> at once: " Wait" (5 tokens) twice takes the thinking to 10 >= 7, then it may end.
        Assert.That(Tok.Decode(output), Is.EqualTo(" Wait Wait</think></think></think>"));
        Assert.That(output.IndexOf(Tok.EndThinkId), Is.EqualTo(10));
    }

    [Test]
    public void TheMaximumCutsAWaitShort()
    {
        var budget = new ThinkBudget(Tok.ThinkId, Tok.EndThinkId, Tok.EosId, min: 3, max: 3, Tok.Encode(" Wait"));
        var output = Decode(budget, favourite: Tok.EndThinkId, steps: 5);
        Assert.That(Tok.Decode(output.Take(4)), Is.EqualTo(" Wa</think>"), "the maximum wins over the rest of the text");
        Assert.That(budget.Start(Tok.Encode("1=")).Pending, Is.Empty);
    }

    [Test]
    public void GenerationWithAWaitNeverEndsThinkingBeforeTheMinimum()
    {
        var model = new Transformer(ModelConfig.Preset("micro", Tok.VocabSize, 64), Cpu, seed: 3);
        var prompts = Enumerable.Range(0, 32).Select(i => Tok.Encode($"{i}+{i}=<think>")).ToList();
        // A hot temperature, so that some rows draw </think> early and have it replaced.
        var o = new SamplingOptions(MaxNewTokens: 40, Temperature: 3f, ThinkMin: 6, ThinkWait: "W");
        var completions = Generator.Generate(model, Tok, prompts, o, new Rng(5));
        Assert.That(completions.Select(c => c.Ids), Is.EqualTo(Generator.Generate(model, Tok, prompts, o, new Rng(5))
            .Select(c => c.Ids)), "seeded");
        foreach (var c in completions)
        {
            int end = Array.IndexOf(c.Ids, Tok.EndThinkId);
            Assert.That(end < 0 || end >= 6, $"thinking tokens before </think>: {string.Join(",", c.Ids)}");
            Assert.That(c.Ids.Take(Math.Max(end, 0)), Has.None.EqualTo(Tok.EosId));
        }
        Assert.That(() => (o with { ThinkMin = 0 }).Validate(),
            Throws.ArgumentException.With.Message.Contains("--think-wait needs"));
    }

    [TestCase(0)]
    [TestCase(4)]
    public void GenerationNeverThinksPastTheBudget(int max)
    {
        var model = new Transformer(ModelConfig.Preset("micro", Tok.VocabSize, 48), Cpu, seed: 2);
        var prompts = Enumerable.Range(0, 6).Select(i => Tok.Encode($"{i}+{i}=<think>")).ToList();
        var o = new SamplingOptions(MaxNewTokens: 12, Temperature: 1f, ThinkMin: Math.Min(2, max), ThinkMax: max);
        foreach (var c in Generator.Generate(model, Tok, prompts, o, new Rng(4)))
        {
            int end = Array.IndexOf(c.Ids, Tok.EndThinkId);
            Assert.That(end, Is.InRange(Math.Min(2, max), max), $"thinking tokens before </think>: {string.Join(",", c.Ids)}");
            Assert.That(c.Ids.Take(end), Has.None.EqualTo(Tok.EosId));
        }
    }

    [Test]
    public void BudgetsNeedSingleTokenMarkers() =>
        Assert.That(() => Generator.Generate(new Transformer(ModelConfig.Preset("micro", 50257, 16), Cpu, seed: 1), new Gpt2Tokenizer(),
            [[15496]], new SamplingOptions(MaxNewTokens: 2, ThinkMax: 3), new Rng(1)),
                Throws.ArgumentException.With.Message.Contains("single tokens"));
}
