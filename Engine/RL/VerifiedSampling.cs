using Engine.Generation;
using Engine.Model;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;

namespace Engine.RL;

/// <summary>One sample and the verifier's two verdicts on it.</summary>
public sealed record VerifiedSample(string Text, ResponseInfo Info, bool Formatted, bool Correct)
{
    /// <summary>What rejection sampling keeps and preference pairs choose: right and strictly formatted.</summary>
    public bool Good => Formatted && Correct;
}

/// <summary>k samples per problem, judged by the task's verifier: what rejection sampling and verifier-labelled
/// preferences share.</summary>
public static class VerifiedSampling
{
    public static VerifiedSample Judge(IReasoningTask task, Problem problem, string text, ResponseInfo info) =>
        new(text, info, new FormatReward().Score(problem, text, info) == 1f, new AccuracyReward(task).Score(problem, text, info) == 1f);

    /// <summary>Per problem, its k samples at the temperature (about 64 sequences per generation batch).</summary>
    public static IEnumerable<(Problem Problem, VerifiedSample[] Samples)> Sample(Transformer model,
        ITokenizer tokenizer, IReasoningTask task,
        IReadOnlyList<Problem> problems, int k, float temperature, int maxNewTokens, Rng rng)
    {
        foreach (var chunk in problems.Chunk(Math.Max(1, 64 / k)))
        {
            var prompts = chunk.SelectMany(p => Enumerable.Repeat(tokenizer.Encode(p.Prompt), k)).ToList();
            var completions = Generator.Generate(model, tokenizer, prompts,
                new SamplingOptions(maxNewTokens, temperature, Stop: [TaskEval.Stop]), rng);
            for (int i = 0; i < chunk.Length; i++)
                yield return (chunk[i], completions.Skip(i * k).Take(k)
                    .Select(c => Judge(task, chunk[i], c.Text, new ResponseInfo(c.Ids.Length, c.FinishReason == "length"))).ToArray());
        }
    }
}
