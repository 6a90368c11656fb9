using Engine.Model;
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
        foreach (var (problem, samples) in VerifiedSampling.Sample(policy, tokenizer, task, problems, k, temperature, maxNewTokens, rng))
            if (Pair(problem, samples, rng) is { } pair) pairs.Add(pair);
        return pairs;
    }

    /// <summary>The verifier's pair from one prompt's judged samples: a random good one over a random bad one, or null.</summary>
    public static Preference? Pair(Problem problem, IReadOnlyList<VerifiedSample> samples, Rng rng)
    {
        var good = samples.Where(s => s.Good).ToList();
        var bad = samples.Where(s => !s.Good && s.Text.Length > 0).ToList();
        if (good.Count == 0 || bad.Count == 0) return null;
        var rejected = bad[rng.Next(bad.Count)];
        return new Preference(problem.Prompt, good[rng.Next(good.Count)].Text, rejected.Text,
            rejected.Formatted ? "policy-wrong" : "policy-malformed");
    }
}
