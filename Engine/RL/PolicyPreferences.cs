using Engine.Generation;
using Engine.Model;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;

namespace Engine.RL;

/// <summary>
/// Preference pairs from a policy's own samples, labelled by the task's verifier: InstructGPT's reward-model
/// data (humans compare the SFT policy's outputs) with the verifier as the labeller. Per prompt, k samples;
/// a verified-correct, strictly formatted one is chosen over a wrong or malformed one. A reward model trained
/// only on hand-made negatives can miss the mistakes the policy actually makes (a wrong column sum, a
/// mis-copied digit) and then cannot tell PPO which of its samples are right; these pairs are those mistakes.
/// </summary>
public static class PolicyPreferences
{
    /// <summary>One pair per prompt that drew both a good and a bad sample; kinds "policy-wrong" / "policy-malformed".</summary>
    public static List<Preference> Sample(Transformer policy, ITokenizer tokenizer, IReasoningTask task, IReadOnlyList<Problem> problems,
        int k, int maxNewTokens, float temperature, Rng rng)
    {
        if (k < 2) throw new ArgumentException("policy preferences: k must be >= 2 (a pair needs two samples)");
        var pairs = new List<Preference>();
        foreach (var chunk in problems.Chunk(Math.Max(1, 64 / k)))
        {
            var prompts = chunk.SelectMany(p => Enumerable.Repeat(tokenizer.Encode(p.Prompt), k)).ToList();
            var completions = Generator.Generate(policy, tokenizer, prompts, new SamplingOptions(maxNewTokens, temperature, Stop: [TaskEval.Stop]), rng);
            for (int i = 0; i < chunk.Length; i++)
                if (Pair(task, chunk[i], completions.Skip(i * k).Take(k).Select(c => (c.Text, new ResponseInfo(c.Ids.Length, c.FinishReason == "length"))), rng) is { } pair)
                    pairs.Add(pair);
        }
        return pairs;
    }

    /// <summary>The verifier's pair from one prompt's samples: a random good one over a random bad one, or null.</summary>
    public static Preference? Pair(IReasoningTask task, Problem problem, IEnumerable<(string Text, ResponseInfo Info)> samples, Rng rng)
    {
        var accuracy = new AccuracyReward(task);
        var format = new FormatReward();
        var good = new List<string>();
        var bad = new List<(string Text, bool Formatted)>();
        foreach (var (text, info) in samples)
        {
            bool formatted = format.Score(problem, text, info) == 1f;
            if (formatted && accuracy.Score(problem, text, info) == 1f) good.Add(text);
            else if (text.Length > 0) bad.Add((text, formatted));
        }
        if (good.Count == 0 || bad.Count == 0) return null;
        var rejected = bad[rng.Next(bad.Count)];
        return new Preference(problem.Prompt, good[rng.Next(good.Count)], rejected.Text, rejected.Formatted ? "policy-wrong" : "policy-malformed");
    }
}
